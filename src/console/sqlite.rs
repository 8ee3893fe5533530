//! SQLite statements of the console, through rusqlite rather than diesel: it gives the
//! progress handler that stops a runaway statement (timeout or cancel) and the authorizer,
//! without `unsafe`. Read-only runs open the file read-only with `PRAGMA query_only=ON`, so
//! a write fails with SQLite's own message. Write mode's audit entry is written in the
//! statement's transaction.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::runner::{Cell, Failure, Handle, Job, Sink};

/// SQLite calls the progress handler every this many virtual machine instructions (well
/// under a millisecond apart).
const PROGRESS_EVERY: i32 = 1000;

pub(super) fn run(
    path: &str,
    job: &Job,
    timeout: Duration,
    handle: &Arc<Handle>,
    sink: &mut dyn Sink,
) -> Result<Option<u64>, Failure> {
    let failed = |e: rusqlite::Error| failure(e, timeout, handle);
    let mut conn = open(path, job.write, timeout).map_err(failed)?;
    let deadline = Instant::now() + timeout;
    let watched = handle.clone();
    conn.progress_handler(
        PROGRESS_EVERY,
        Some(move || watched.cancelled.load(Ordering::SeqCst) || Instant::now() >= deadline),
    );
    if job.write {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        let changed = statement(&tx, &job.sql, sink).map_err(failed)?;
        if let Some(actor) = &job.audit {
            let e = super::store::write_entry(actor, &job.sql, changed);
            let at = e.created_at.format("%Y-%m-%d %H:%M:%S%.f").to_string();
            tx.execute(
                crate::audit::INSERT_ENTRY,
                rusqlite::params![
                    e.id,
                    at,
                    e.user_id,
                    e.user_email,
                    e.action,
                    e.table_name,
                    e.row_key,
                    e.changes,
                    e.via
                ],
            )
            .map_err(failed)?;
        }
        tx.commit().map_err(failed)?;
        Ok(changed)
    } else {
        statement(&conn, &job.sql, sink).map_err(failed)
    }
}

fn open(path: &str, write: bool, timeout: Duration) -> rusqlite::Result<Connection> {
    let mode = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    };
    let conn = Connection::open_with_flags(
        path,
        mode | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(timeout.min(Duration::from_secs(5)))?;
    conn.execute_batch(if write {
        "PRAGMA foreign_keys = ON;"
    } else {
        "PRAGMA query_only = ON;"
    })?;
    // ATTACH would open other files on the server (and read-write ones in write mode).
    conn.authorizer(Some(|ctx: AuthContext<'_>| match ctx.action {
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => Authorization::Deny,
        _ => Authorization::Allow,
    }));
    Ok(conn)
}

/// Run one statement: rows go to `sink`; a statement without columns reports rows changed.
fn statement(conn: &Connection, sql: &str, sink: &mut dyn Sink) -> rusqlite::Result<Option<u64>> {
    let mut stmt = conn.prepare(sql)?;
    let names: Vec<String> = stmt
        .column_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        let changed = stmt.raw_execute()?;
        return Ok(Some(changed as u64));
    }
    let (count, full) = (names.len(), sink.full_bytes());
    sink.columns(names);
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let cells = (0..count)
            .map(|i| row.get_ref(i).map(|v| cell(v, full)))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if !sink.row(cells) {
            break;
        }
    }
    Ok(None)
}

fn cell(value: ValueRef<'_>, full: bool) -> Cell {
    match value {
        ValueRef::Null => Cell::null(),
        ValueRef::Integer(i) => Cell::number(i.to_string()),
        ValueRef::Real(f) => Cell::number(f.to_string()),
        ValueRef::Text(t) => Cell::text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Cell::bytes(b, full),
    }
}

fn failure(e: rusqlite::Error, timeout: Duration, handle: &Handle) -> Failure {
    let interrupted = e.sqlite_error_code() == Some(ErrorCode::OperationInterrupted);
    match () {
        _ if interrupted && handle.cancelled.load(Ordering::SeqCst) => Failure::Cancelled,
        _ if interrupted => Failure::Timeout(timeout),
        _ => Failure::Database(match e {
            rusqlite::Error::SqliteFailure(_, Some(message)) => message,
            other => other.to_string(),
        }),
    }
}
