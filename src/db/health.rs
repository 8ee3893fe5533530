//! The database's health as requests see it: which lasting fault (disk full, read-only,
//! busy) refuses writes, logged once when it begins and once when it ends; and how the end
//! is noticed — a write that changed something commits, or no write is refused for a while.

use std::cell::Cell;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;

use crate::db::{DbConn, Pool};
use crate::error::DbFault;

/// How long readiness reports a lasting database fault after the last request it refused.
pub const DEGRADED_FOR: Duration = Duration::from_secs(30);

/// The database's health as the requests see it: the lasting fault (disk full, read-only,
/// busy) that last refused a write, until `window` passes without another. Logs once when a
/// fault begins and once when it is over, not per request.
#[derive(Debug)]
pub struct Health {
    window: Duration,
    state: Mutex<Option<(DbFault, Instant)>>,
}

impl Health {
    pub fn new(window: Duration) -> Health {
        Health {
            window,
            state: Mutex::new(None),
        }
    }

    /// A request was refused for `fault`.
    pub fn refused(&self, fault: DbFault) {
        if !fault.lasts() {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match *state {
            Some((was, _)) if was == fault => {}
            _ => tracing::warn!(
                state = fault.state(),
                "database degraded: writes are refused until it recovers"
            ),
        }
        *state = Some((fault, Instant::now()));
    }

    /// The fault still in force, if any; a fault not seen for `window` is over.
    pub fn current(&self) -> Option<DbFault> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (fault, last) = (*state)?;
        if last.elapsed() < self.window {
            return Some(fault);
        }
        *state = None;
        tracing::warn!(
            was = fault.state(),
            "database recovered: no write refused for {}",
            humantime::format_duration(self.window)
        );
        None
    }

    /// A write was committed: whatever refused writes is over, now rather than after the
    /// window (space was freed, the file made writable, the lock released).
    pub fn wrote(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((fault, _)) = state.take() {
            tracing::warn!(was = fault.state(), "database recovered: a write succeeded");
        }
    }
}

/// Close the pool's idle connections (the pool keeps none it was not asked for: its
/// `min_idle` is zero, so nothing opens new ones behind our back).
///
/// While the database is read-only, connections are not reused: SQLite opens a read-only
/// file for reading only and a Postgres session keeps the read-only default it started
/// with, so a connection opened during the fault refuses writes after it. Closing them all
/// when the fault is found, and each one after its use while it lasts, leaves the first
/// write after the operator's fix a new connection that sees the database writable.
pub(super) fn drain(pool: &Pool) {
    for _ in 0..pool.state().idle_connections {
        match pool.try_get() {
            Some(mut conn) => discard(&mut conn),
            None => break,
        }
    }
}

thread_local! {
    /// Whether `Db::run` on this blocking thread wants to know that a write went through
    /// (only while a fault is in force, so a healthy server pays nothing).
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    /// Set by `write_tx` when a transaction that changed rows committed.
    static COMMITTED: Cell<bool> = const { Cell::new(false) };
}

/// Whether bookkeeping on the read path (a session's last-seen time, a token's last use)
/// should be written now: not while a fault refuses writes — it would fail anyway, or wait
/// out the busy timeout and make the read slow.
pub fn bookkeeping_allowed() -> bool {
    !WATCHING.get()
}

/// One `Db::run` on this thread, watching for a committed write when `degraded`.
pub(super) struct Watching(bool);

pub(super) fn watching(degraded: bool) -> Watching {
    WATCHING.set(degraded);
    COMMITTED.set(false);
    Watching(degraded)
}

impl Watching {
    /// Whether a write that changed rows committed during the run.
    pub(super) fn committed(self) -> bool {
        WATCHING.set(false);
        self.0 && COMMITTED.replace(false)
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        WATCHING.set(false);
    }
}

/// What a write transaction looks at to tell, before it commits, whether it changed
/// anything: an empty commit (a worker's poll that claimed nothing) proves nothing.
pub(super) enum Watch {
    Off,
    /// SQLite: the connection's `total_changes()` when the transaction began.
    Sqlite(i64),
    /// Postgres: a transaction that wrote has a transaction id assigned.
    Postgres,
}

impl Watch {
    pub(super) fn start(conn: &mut DbConn) -> Watch {
        if !WATCHING.get() {
            return Watch::Off;
        }
        match conn {
            DbConn::Sqlite(c) => Watch::Sqlite(total_changes(c).unwrap_or(i64::MAX)),
            DbConn::Postgres(_) => Watch::Postgres,
        }
    }

    pub(super) fn wrote(&self, conn: &mut DbConn) -> bool {
        match (self, conn) {
            (Watch::Sqlite(before), DbConn::Sqlite(c)) => {
                total_changes(c).is_ok_and(|now| now > *before)
            }
            (Watch::Postgres, DbConn::Postgres(c)) => {
                diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "pg_current_xact_id_if_assigned() IS NOT NULL",
                ))
                .get_result(c)
                .unwrap_or(false)
            }
            _ => false,
        }
    }
}

fn total_changes(c: &mut SqliteConnection) -> QueryResult<i64> {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "total_changes()",
    ))
    .get_result(c)
}

/// `write_tx` committed a transaction that changed rows.
pub(super) fn committed() {
    if WATCHING.get() {
        COMMITTED.set(true);
    }
}

/// Whether connections are not reused while `fault` lasts (see `drain`).
pub(super) fn renew_after(fault: DbFault) -> bool {
    matches!(fault, DbFault::ReadOnly)
}

/// Mark the connection broken, so that r2d2 closes it instead of returning it to the pool.
pub(super) fn discard(conn: &mut DbConn) {
    match conn {
        DbConn::Sqlite(c) => {
            AnsiTransactionManager::transaction_manager_status_mut(c).set_in_error()
        }
        DbConn::Postgres(c) => {
            AnsiTransactionManager::transaction_manager_status_mut(c).set_in_error()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lasting_fault_is_reported_until_the_window_passes() {
        let health = Health::new(Duration::from_millis(50));
        assert_eq!(health.current(), None);
        health.refused(DbFault::ConnectionLost);
        assert_eq!(health.current(), None, "one lost connection is not a state");
        health.refused(DbFault::DiskFull);
        health.refused(DbFault::DiskFull);
        assert_eq!(health.current(), Some(DbFault::DiskFull));
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(health.current(), None, "recovered after the window");
    }

    #[test]
    fn a_write_that_goes_through_ends_the_fault_at_once() {
        let health = Health::new(Duration::from_secs(3600));
        health.refused(DbFault::ReadOnly);
        assert_eq!(health.current(), Some(DbFault::ReadOnly));
        health.wrote();
        assert_eq!(health.current(), None);
    }

    #[test]
    fn only_a_transaction_that_changed_rows_counts_as_a_write() {
        let mut conn = DbConn::Sqlite(SqliteConnection::establish(":memory:").unwrap());
        diesel::sql_query("CREATE TABLE t (x INTEGER)")
            .execute(&mut conn)
            .unwrap();
        let run = watching(true);
        let watch = Watch::start(&mut conn);
        diesel::sql_query("UPDATE t SET x = 1")
            .execute(&mut conn)
            .unwrap();
        assert!(
            !watch.wrote(&mut conn),
            "an update of no rows changed nothing"
        );
        diesel::sql_query("INSERT INTO t VALUES (1)")
            .execute(&mut conn)
            .unwrap();
        assert!(watch.wrote(&mut conn));
        committed();
        assert!(run.committed());
        let idle = Watch::start(&mut conn);
        assert!(
            matches!(idle, Watch::Off),
            "nothing watched outside a degraded run"
        );
    }
}
