//! Backups of an SQLite installation: an online, consistent copy (`VACUUM INTO`, one read
//! transaction, so writers keep going) written beside the target, checked with
//! `PRAGMA integrity_check` and only then renamed into place, so a failed backup leaves
//! nothing behind. `serve --backup-every` runs it on a schedule, one instance at a time
//! (an advisory lock on a file in the backup directory), keeping the newest N. Postgres is
//! backed up with its own tools; `postgres_advice` says how.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::config::BackupSchedule;
use crate::db::{DatabaseUrl, DbConn};
use crate::state::AppState;

/// Scheduled backups are named `gatehouse-<UTC time>.db`, so names sort by age.
const PREFIX: &str = "gatehouse-";
const SUFFIX: &str = ".db";
const LOCK_FILE: &str = ".gatehouse-backup.lock";

/// What a finished backup wrote.
#[derive(Debug)]
pub struct Report {
    pub path: PathBuf,
    pub bytes: u64,
    pub tables: i64,
    pub took: Duration,
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Copy the SQLite database at `source` to `to`, verified. Refuses an existing `to` unless
/// `force`. `step` hears each stage, for a terminal.
pub fn sqlite(
    source: &DatabaseUrl,
    to: &Path,
    force: bool,
    step: &mut dyn FnMut(&str),
) -> Result<Report, String> {
    let DatabaseUrl::Sqlite(path) = source else {
        return Err(postgres_advice(source, Some(to)));
    };
    if !path.starts_with("file:") && !Path::new(path).exists() {
        return Err(format!("there is no SQLite database at {path}"));
    }
    if to.exists() && !force {
        return Err(format!(
            "{} exists already; choose another file or add --force to replace it",
            to.display()
        ));
    }
    let started = Instant::now();
    let partial = partial_name(to);
    let _ = std::fs::remove_file(&partial);
    let result = copy_and_verify(source, &partial, step).and_then(|tables| {
        std::fs::rename(&partial, to)
            .map_err(|e| format!("cannot move the backup into {}: {e}", to.display()))?;
        Ok(tables)
    });
    let tables = match result {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    Ok(Report {
        path: to.to_path_buf(),
        bytes,
        tables,
        took: started.elapsed(),
    })
}

fn partial_name(to: &Path) -> PathBuf {
    let mut name = to.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    to.with_file_name(name)
}

/// `VACUUM INTO` the partial file, then open it and check it; returns its table count.
fn copy_and_verify(
    source: &DatabaseUrl,
    partial: &Path,
    step: &mut dyn FnMut(&str),
) -> Result<i64, String> {
    let target = partial
        .to_str()
        .ok_or_else(|| format!("{} is not a UTF-8 path", partial.display()))?
        .to_string();
    let mut conn = source.connect()?;
    let DbConn::Sqlite(c) = &mut conn else {
        return Err("not an SQLite database".into());
    };
    step("copying (one consistent snapshot; the server keeps serving)");
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(&target)
        .execute(c)
        .map_err(|e| format!("the copy failed: {e}"))?;
    drop(conn);
    step("verifying the copy (PRAGMA integrity_check)");
    let mut copy = SqliteConnection::establish(&target)
        .map_err(|e| format!("cannot open the copy {target}: {e}"))?;
    let lines: Vec<Line> =
        diesel::sql_query("SELECT integrity_check AS line FROM pragma_integrity_check")
            .load(&mut copy)
            .map_err(|e| format!("cannot check the copy: {e}"))?;
    if lines.len() != 1 || lines[0].line != "ok" {
        let found: Vec<String> = lines.into_iter().take(5).map(|l| l.line).collect();
        return Err(format!(
            "the copy failed its integrity check: {}",
            found.join("; ")
        ));
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let tables = diesel::sql_query("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table'")
        .get_result::<Count>(&mut copy)
        .map_err(|e| format!("cannot read the copy: {e}"))?
        .n;
    Ok(tables)
}

/// Postgres: the database's own tools are the right ones. The exact `pg_dump` command for
/// the configured URL, its password left out (pg_dump reads ~/.pgpass or PGPASSWORD).
pub fn postgres_advice(url: &DatabaseUrl, to: Option<&Path>) -> String {
    let raw = match url {
        DatabaseUrl::Postgres(raw) => raw.clone(),
        DatabaseUrl::Sqlite(_) => return "not a Postgres database".into(),
    };
    let without_password = match url::Url::parse(&raw) {
        Ok(mut u) => {
            let had = u.password().is_some();
            let _ = u.set_password(None);
            (u.to_string(), had)
        }
        Err(_) => (url.masked(), false),
    };
    let file = to.map_or_else(
        || "gatehouse-$(date -u +%Y%m%dT%H%M%SZ).dump".to_string(),
        |p| p.display().to_string(),
    );
    let password_note = if without_password.1 {
        "\nThe URL's password is not shown: put it in ~/.pgpass or PGPASSWORD for pg_dump."
    } else {
        ""
    };
    format!(
        "gatehouse backup copies SQLite databases only. Back up Postgres with its own tools:\n\
         pg_dump for a logical copy (restore with pg_restore), or base backups with WAL\n\
         archiving (pg_basebackup) for point-in-time recovery. For this database:\n\n  \
         pg_dump --format=custom --file='{file}' '{}'\n{password_note}",
        without_password.0
    )
}

/// The name of a scheduled backup made at `at`.
fn scheduled_name(at: chrono::DateTime<chrono::Utc>) -> String {
    format!("{PREFIX}{}{SUFFIX}", at.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// The scheduled backups in `dir`, oldest first.
pub fn scheduled_backups(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    found.sort();
    found
}

/// One scheduled run: lock, back up, delete all but the newest `keep`. `Ok(None)` when
/// another instance holds the lock.
pub fn scheduled_run(
    source: &DatabaseUrl,
    plan: &BackupSchedule,
) -> Result<Option<Report>, String> {
    std::fs::create_dir_all(&plan.dir)
        .map_err(|e| format!("cannot create {}: {e}", plan.dir.display()))?;
    let lock_path = plan.dir.join(LOCK_FILE);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(format!("cannot lock {}: {e}", lock_path.display()));
        }
    }
    let to = plan.dir.join(scheduled_name(chrono::Utc::now()));
    let report = sqlite(source, &to, false, &mut |_| {})?;
    let all = scheduled_backups(&plan.dir);
    for old in all.iter().take(all.len().saturating_sub(plan.keep)) {
        if let Err(e) = std::fs::remove_file(old) {
            tracing::warn!(file = %old.display(), error = %e, "backup: cannot delete an old backup");
        }
    }
    Ok(Some(report))
}

/// How long until the next scheduled backup: one period after the newest one, so a
/// restart neither skips nor repeats a backup.
fn first_wait(plan: &BackupSchedule) -> Duration {
    let newest = scheduled_backups(&plan.dir)
        .last()
        .and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok());
    match newest.and_then(|t| SystemTime::now().duration_since(t).ok()) {
        Some(age) => plan.every.saturating_sub(age),
        None => Duration::ZERO,
    }
}

/// Start the schedule of `--backup-every` on the current runtime (SQLite only; the
/// configuration refuses it on Postgres).
pub fn spawn_schedule(state: AppState) {
    let Some(plan) = state.config.backup.clone() else {
        return;
    };
    let source = state.config.database.clone();
    actix_web::rt::spawn(async move {
        actix_web::rt::time::sleep(first_wait(&plan)).await;
        loop {
            let (s, p) = (source.clone(), plan.clone());
            match actix_web::web::block(move || scheduled_run(&s, &p)).await {
                Ok(Ok(Some(r))) => tracing::info!(
                    file = %r.path.display(),
                    bytes = r.bytes,
                    took_ms = r.took.as_millis() as u64,
                    "backup written and verified"
                ),
                Ok(Ok(None)) => tracing::info!("backup skipped: another instance is writing one"),
                Ok(Err(e)) => tracing::error!(error = %e, "scheduled backup failed"),
                Err(e) => tracing::error!(error = %e, "scheduled backup task failed"),
            }
            actix_web::rt::time::sleep(plan.every).await;
        }
    });
}
