//! The operations settings: how `/metrics` is served and the SQLite backup schedule, read
//! from the command line and validated with the rest of the configuration.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{Config, Settings};
use crate::db::DatabaseUrl;

/// How `/metrics` is served.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    pub token: Option<MetricsToken>,
    /// A dedicated listener; `None`: the main one.
    pub listen: Option<SocketAddr>,
}

/// The bearer token of `/metrics`, never shown in `Debug` output.
#[derive(Clone)]
pub struct MetricsToken(pub String);

impl fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsToken(<redacted>)")
    }
}

/// Scheduled SQLite backups inside `serve`.
#[derive(Debug, Clone)]
pub struct BackupSchedule {
    pub every: Duration,
    pub keep: usize,
    pub dir: PathBuf,
}

pub(super) fn metrics_settings(s: &Settings, errors: &mut Vec<String>) -> Option<MetricsConfig> {
    let token = match (&s.metrics_token, &s.metrics_token_file) {
        (Some(t), _) => Some(t.trim().to_string()),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(t) => Some(t.trim().to_string()),
            Err(e) => {
                errors.push(format!(
                    "--metrics-token-file / GATEHOUSE_METRICS_TOKEN_FILE: cannot read {}: {e}",
                    path.display()
                ));
                return None;
            }
        },
        (None, None) => None,
    };
    if token.as_deref().is_some_and(|t| t.len() < 16) {
        errors.push("--metrics-token: the token must be at least 16 characters".into());
    }
    let listen = s.metrics_listen.as_ref().and_then(|raw| {
        raw.parse::<SocketAddr>()
            .map_err(|_| {
                errors.push(format!(
                    "--metrics-listen / GATEHOUSE_METRICS_LISTEN: '{raw}' is not an address such as 127.0.0.1:9090"
                ))
            })
            .ok()
    });
    if !s.metrics && token.is_none() {
        if s.metrics_listen.is_some() {
            errors
                .push("--metrics-listen needs metrics on: add --metrics or --metrics-token".into());
        }
        return None;
    }
    Some(MetricsConfig {
        token: token.map(MetricsToken),
        listen,
    })
}

pub(super) fn backup_settings(
    s: &Settings,
    database: Option<&DatabaseUrl>,
    errors: &mut Vec<String>,
) -> Option<BackupSchedule> {
    let every = s.backup_every?;
    if every < Duration::from_secs(1) {
        errors.push("--backup-every must be at least 1s".into());
    }
    if s.backup_keep == 0 {
        errors.push("--backup-keep must be at least 1".into());
    }
    if matches!(database, Some(d) if d.backend() != crate::db::Backend::Sqlite) {
        errors.push(
            "--backup-every applies to an SQLite database only; back up Postgres with pg_dump or base backups (see `gatehouse backup`)"
                .into(),
        );
    }
    Some(BackupSchedule {
        every,
        keep: s.backup_keep,
        dir: s
            .backup_dir
            .clone()
            .unwrap_or_else(|| s.data_dir.join("backups")),
    })
}

impl Config {
    pub(super) fn describe_metrics(&self) -> String {
        let Some(m) = &self.metrics else {
            return "off".to_string();
        };
        let at = m
            .listen
            .map_or_else(|| "the main listener".to_string(), |a| a.to_string());
        let token = if m.token.is_some() {
            ", bearer token ********"
        } else {
            ", no token"
        };
        format!("/metrics on {at}{token}")
    }
}
