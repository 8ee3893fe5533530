//! A database location from `sqlite://PATH` or `postgres://…`: parsing, the backend it
//! names, its masked form for logs, and connecting to it.

use std::fmt;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use url::Url;

use super::{Backend, DbConn};

/// A database location, parsed from `sqlite://PATH` or `postgres://…`.
#[derive(Clone)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<DatabaseUrl, String> {
        if let Some(rest) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if rest.is_empty() {
                return Err("an sqlite:// URL needs a file path, e.g. sqlite://./data.db".into());
            }
            return Ok(DatabaseUrl::Sqlite(rest.to_string()));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Url::parse(raw).map_err(|e| format!("not a valid postgres URL: {e}"))?;
            return Ok(DatabaseUrl::Postgres(raw.to_string()));
        }
        if !raw.contains("://") {
            return Err(format!(
                "'{raw}' has no supported scheme; for an SQLite file write sqlite://{raw}, for Postgres postgres://USER@HOST:PORT/DB"
            ));
        }
        Err(format!(
            "'{}' has no supported scheme; use sqlite://PATH or postgres://USER@HOST:PORT/DB",
            mask_url(raw)
        ))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }

    /// The URL with any password replaced by `********`, for logs and `check-config`.
    pub fn masked(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{path}"),
            DatabaseUrl::Postgres(url) => mask_url(url),
        }
    }

    /// The URL with `application_name` set (Postgres, unless the URL sets one), so that
    /// the database's activity views tell Gatehouse's connections apart.
    pub fn with_application_name(&self, name: &str) -> DatabaseUrl {
        match self {
            DatabaseUrl::Postgres(raw) => match Url::parse(raw) {
                Ok(mut u) if !u.query_pairs().any(|(k, _)| k == "application_name") => {
                    u.query_pairs_mut().append_pair("application_name", name);
                    DatabaseUrl::Postgres(u.to_string())
                }
                _ => self.clone(),
            },
            DatabaseUrl::Sqlite(_) => self.clone(),
        }
    }

    /// Open one connection of the concrete type, so a failure names its real cause
    /// (diesel's MultiConnection `establish` hides it behind "invalid connection url").
    pub fn connect(&self) -> Result<DbConn, String> {
        self.connect_with(None)
    }

    /// Open one connection; on SQLite with `max_pages`, the file may not grow past that
    /// many pages (`PRAGMA max_page_count`, a per-connection setting): a write that needs
    /// more fails as a full disk would.
    pub fn connect_with(&self, max_pages: Option<u64>) -> Result<DbConn, String> {
        match self {
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = std::path::Path::new(path).parent()
                    && !dir.as_os_str().is_empty()
                    && !path.starts_with("file:")
                {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        format!(
                            "cannot create directory {} for the database: {e}",
                            dir.display()
                        )
                    })?;
                }
                let mut conn = SqliteConnection::establish(path)
                    .map_err(|e| format!("cannot open SQLite database {path}: {e}"))?;
                // cache_size: each pooled connection keeps its own page cache (2 MiB by
                // default, 16 MiB over 8 connections, all of it resident after a few deep
                // pages); the OS page cache holds the file once for all of them, so a small
                // one per connection costs a cheap pread on a miss (bench/RESULTS.md).
                conn.batch_execute(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; \
                     PRAGMA cache_size = -512;",
                )
                .map_err(|e| format!("cannot configure SQLite database {path}: {e}"))?;
                if let Some(pages) = max_pages {
                    conn.batch_execute(&format!("PRAGMA max_page_count = {pages};"))
                        .map_err(|e| format!("cannot limit SQLite database {path}: {e}"))?;
                }
                Ok(DbConn::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => PgConnection::establish(url)
                .map(DbConn::Postgres)
                .map_err(|e| {
                    format!(
                        "cannot connect to the database {}: {}",
                        mask_url(url),
                        first_line(&e.to_string())
                    )
                }),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message).trim();
    // libpq says `connection to server at "127.0.0.1", port 5432 failed: Connection refused`;
    // keep the cause and where, which is what an operator needs.
    line.to_string()
}

fn mask_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("********"));
            }
            u.to_string()
        }
        Err(_) => "<unparseable URL>".to_string(),
    }
}
