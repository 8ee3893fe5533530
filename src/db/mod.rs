//! The database core: the backend chosen from the URL scheme, the runtime-chosen `DbConn`,
//! the r2d2 pool (with SQLite pragmas on every connection) and the `Db::run` helper that
//! keeps blocking diesel calls off the async workers.

pub mod changes;
mod gate;
mod health;
mod location;
pub mod migrate;
pub mod notify;
pub mod reach;
pub mod replica;
pub mod schema;
pub mod secrets;
mod values;

pub use values::{like_escape, new_id, now};

pub use health::{DEGRADED_FOR, Health, bookkeeping_allowed};
pub use location::DatabaseUrl;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};

use crate::error::{AppError, DbFault};
use crate::metrics;

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// The r2d2 manager: connects by the concrete backend and sets the SQLite pragmas.
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
    sqlite_max_pages: Option<u64>,
    /// Told of every attempt to connect (see `reach`).
    reach: Arc<reach::Reach>,
}

/// Why the pool could not use a connection: opening one failed, or an idle one was found
/// dead at check-out (the server ended it) and is replaced.
#[derive(Debug)]
pub enum ConnectError {
    Open(String),
    Stale(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Open(e) | ConnectError::Stale(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ConnectError {}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConn, ConnectError> {
        match self.url.connect_with(self.sqlite_max_pages) {
            Ok(conn) => {
                self.reach.connected();
                Ok(conn)
            }
            Err(e) => {
                self.reach.failed(&e);
                Err(ConnectError::Open(e))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectError> {
        match conn {
            // A handle on a local file: no server can have closed it, and `SELECT 1` (parsed
            // again at every check-out) reads nothing that could tell a fault.
            DbConn::Sqlite(_) => Ok(()),
            // What the server sent while the connection sat idle, read without a round trip
            // (libpq's socket never blocks here): a server that ended the connection (a
            // restart, `pg_terminate_backend`, an idle timeout) has sent its FATAL message
            // and closed the socket; the first read takes the message, the next meets the
            // close and fails. A healthy connection has nothing to read.
            DbConn::Postgres(c) => {
                for _ in 0..2 {
                    if let Some(Err(e)) = c.notifications_iter().next() {
                        return Err(ConnectError::Stale(e.to_string()));
                    }
                }
                Ok(())
            }
        }
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        match conn {
            DbConn::Postgres(c) => c.is_broken(),
            DbConn::Sqlite(c) => c.is_broken(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct LogPoolErrors;

impl r2d2::HandleError<ConnectError> for LogPoolErrors {
    fn handle_error(&self, error: ConnectError) {
        match error {
            // `Reach` logs when the database becomes unreachable and when it returns; r2d2
            // retries every few seconds meanwhile.
            ConnectError::Open(error) => tracing::debug!(%error, "database connection failed"),
            // The request that checked it out gets another: nothing failed yet.
            ConnectError::Stale(error) => {
                tracing::info!(%error, "an idle database connection was closed by the server; replaced")
            }
        }
    }
}

pub type Pool = r2d2::Pool<Manager>;

/// The pool's label in the metrics.
pub const PRIMARY_POOL: &str = "primary";

/// Feeds the pool's waits and timeouts to the metrics.
#[derive(Debug)]
pub(crate) struct PoolEvents(pub(crate) &'static str);

impl r2d2::HandleEvent for PoolEvents {
    fn handle_checkout(&self, event: r2d2::event::CheckoutEvent) {
        metrics::global().pool_checkout(self.0, event.duration());
    }

    // Timeouts are counted by `reach::checkout`, which waits in slices.
}

/// The metrics label of database work that failed, or `None` when the failure is the
/// request's (not found, invalid, forbidden…).
fn fault_label(e: &AppError) -> Option<&'static str> {
    Some(match e {
        AppError::Refused { fault, .. } => match fault {
            DbFault::DiskFull => "disk_full",
            DbFault::ReadOnly => "read_only",
            DbFault::Busy => "busy",
            DbFault::ConnectionLost => "connection_lost",
        },
        AppError::Unavailable(_) => "unavailable",
        AppError::Internal(_) => "other",
        _ => return None,
    })
}

/// The shared handle to the database that handlers and workers hold.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
    health: Arc<Health>,
    reach: Arc<reach::Reach>,
    /// The read replica, when `--read-database-url` is set.
    replica: Option<Arc<replica::Replica>>,
    /// SQLite: where this pool's writers queue for the write lock (see `gate`).
    gate: Option<Arc<gate::WriterGate>>,
    /// SQLite: the database file, for its change notices (`changes::serving`).
    file: Option<Arc<std::path::PathBuf>>,
}

/// How long a request waits for a pooled connection while the database is reachable (all
/// connections busy); an unreachable database is refused far sooner (see `reach`).
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// The thread a pool opens its connections on (and reaps idle ones): one, not r2d2's
/// default three. Connections are opened rarely (at first use, after a fault) and each
/// idle thread keeps a stack and, once it has opened a connection, a C allocator arena.
pub(crate) fn connector_thread() -> Arc<scheduled_thread_pool::ScheduledThreadPool> {
    Arc::new(
        scheduled_thread_pool::ScheduledThreadPool::builder()
            .num_threads(1)
            .thread_name_pattern("r2d2-worker-{}")
            .build(),
    )
}

/// The `application_name` of the primary pool's connections.
pub const APPLICATION_NAME: &str = "gatehouse";

impl Db {
    /// Connect once directly (to report the real error), prepare SQLite, then build the pool
    /// (whose SQLite connections are limited to `sqlite_max_pages` when given).
    pub fn open(
        url: &DatabaseUrl,
        max_size: u32,
        sqlite_max_pages: Option<u64>,
    ) -> Result<Db, String> {
        let mut first = url.connect()?;
        if let DbConn::Sqlite(c) = &mut first {
            // WAL is a property of the file: set once, every later connection inherits it.
            c.batch_execute("PRAGMA journal_mode = WAL;")
                .map_err(|e| format!("cannot switch the SQLite database to WAL: {e}"))?;
        }
        drop(first);
        let reach = Arc::new(reach::Reach::new("database"));
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            // No idle connections opened in the background: see `health::drain`.
            .min_idle(Some(0))
            .thread_pool(connector_thread())
            .connection_timeout(CHECKOUT_TIMEOUT)
            .error_handler(Box::new(LogPoolErrors))
            .event_handler(Box::new(PoolEvents(PRIMARY_POOL)))
            .build(Manager {
                url: url.with_application_name(APPLICATION_NAME),
                sqlite_max_pages,
                reach: reach.clone(),
            })
            .map_err(|e| format!("cannot open the database pool: {e}"))?;
        Ok(Db {
            pool,
            backend: url.backend(),
            health: Arc::new(Health::new(DEGRADED_FOR)),
            reach,
            replica: None,
            gate: (url.backend() == Backend::Sqlite).then(Arc::default),
            file: changes::file_of(url),
        })
    }

    /// Send heavy reads (`read`, `read_conn`) to a replica at `url` (Postgres).
    pub fn with_replica(mut self, url: &DatabaseUrl, max_size: u32) -> Result<Db, String> {
        if self.backend != Backend::Postgres {
            return Err("--read-database-url needs a Postgres primary".into());
        }
        self.replica = Some(Arc::new(replica::Replica::open(url, max_size)?));
        Ok(self)
    }

    pub fn has_replica(&self) -> bool {
        self.replica.is_some()
    }

    /// The replica pool now, as `pool_state` gives the primary's.
    pub fn replica_pool_state(&self) -> Option<(u32, u32, u32)> {
        self.replica.as_ref().map(|r| {
            let state = r.pool().state();
            (
                state.connections,
                state.idle_connections,
                r.pool().max_size(),
            )
        })
    }

    /// Why the database cannot be reached, while it cannot.
    pub fn unreachable(&self) -> Option<String> {
        self.reach.down()
    }

    /// This handle as the current request may read: without the replica when the request
    /// must read the primary — for work handed to a thread of its own (an export), where
    /// the request is no longer known.
    pub fn for_request(&self) -> Db {
        let mut db = self.clone();
        if replica::pinned() {
            db.replica = None;
        }
        db
    }

    /// The replica that this request's heavy reads may use, if any.
    fn reader(&self) -> Option<Arc<replica::Replica>> {
        self.replica.clone().filter(|_| !replica::pinned())
    }

    /// Heavy read-only work (lists, counts): on the read replica when one is configured,
    /// up, and this request's client did not write lately; else on the primary, as `run`.
    /// `f` must not write.
    pub async fn read<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let Some(replica) = self.reader() else {
            return self.run(f).await;
        };
        let on_replica = replica.clone();
        let tried = actix_web::web::block(move || match on_replica.checkout() {
            Some(mut conn) => Ok(f(&mut conn)),
            None => Err(f),
        })
        .await
        .map_err(|e| AppError::internal(format!("blocking task failed: {e}")))?;
        match tried {
            Ok(result) => {
                if let Err(e) = &result
                    && replica::replica_fault(e)
                {
                    replica.failed(e);
                }
                result
            }
            Err(f) => {
                replica::fell_back();
                self.run(f).await
            }
        }
    }

    /// A connection for a long read outside the async workers (an export's streaming
    /// thread): the replica's when `read` would use it, else the primary's.
    pub fn read_conn(&self) -> Result<r2d2::PooledConnection<Manager>, AppError> {
        if let Some(replica) = self.reader() {
            if let Some(conn) = replica.checkout() {
                return Ok(conn);
            }
            replica::fell_back();
        }
        self.conn()
    }

    /// Record a request the database refused (see `Health`).
    pub fn refused(&self, fault: DbFault) {
        self.health.refused(fault);
    }

    /// The lasting fault readiness reports, if one refused a request lately.
    pub fn degraded(&self) -> Option<DbFault> {
        self.health.current()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool now: connections open, of which idle, and the most it may open.
    pub fn pool_state(&self) -> (u32, u32, u32) {
        let state = self.pool.state();
        (
            state.connections,
            state.idle_connections,
            self.pool.max_size(),
        )
    }

    /// A connection for blocking code outside the HTTP path (CLI, start-up).
    pub fn conn(&self) -> Result<r2d2::PooledConnection<Manager>, AppError> {
        reach::checkout(&self.pool, &self.reach, CHECKOUT_TIMEOUT, PRIMARY_POOL)
    }

    /// Run blocking database work on the blocking thread pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let (pool, health, reach) = (self.pool.clone(), self.health.clone(), self.reach.clone());
        let fault = self.health.current();
        let (gate, file) = (self.gate.clone(), self.file.clone());
        let (result, committed) = actix_web::web::block(move || {
            let _entered = gate::enter(gate);
            let _serving = changes::serving(file);
            let mut conn = match reach::checkout(&pool, &reach, CHECKOUT_TIMEOUT, PRIMARY_POOL) {
                Ok(conn) => conn,
                Err(e) => return (Err(e), false),
            };
            let watching = health::watching(fault.is_some());
            let result = f(&mut conn);
            let committed = watching.committed();
            let refused = match &result {
                Err(AppError::Refused { fault, .. }) => Some(*fault),
                _ => None,
            };
            // See `health::drain`: no connection opened during a read-only fault outlives it.
            if refused.is_some_and(health::renew_after) {
                health::discard(&mut conn);
                drop(conn);
                health::drain(&pool);
            } else if !committed && health.current().is_some_and(health::renew_after) {
                health::discard(&mut conn);
            }
            (result, committed)
        })
        .await
        .map_err(|e| AppError::internal(format!("blocking task failed: {e}")))?;
        if let Err(e) = &result
            && let Some(label) = fault_label(e)
        {
            metrics::global().db_error(label);
        }
        match &result {
            Err(AppError::Refused { fault, .. }) => self.refused(*fault),
            Ok(_) if committed => self.health.wrote(),
            _ => {}
        }
        result
    }

    /// Readiness: a connection within two seconds that answers `SELECT 1`.
    pub async fn ping(&self) -> Result<(), String> {
        let (pool, health, reach) = (self.pool.clone(), self.health.clone(), self.reach.clone());
        actix_web::web::block(move || {
            let mut conn = reach::checkout(&pool, &reach, Duration::from_secs(2), PRIMARY_POOL)
                .map_err(|e| e.to_string())?;
            let answer = conn.batch_execute("SELECT 1").map_err(|e| e.to_string());
            if health.current().is_some_and(health::renew_after) {
                health::discard(&mut conn);
            }
            answer
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// A write transaction. On SQLite it begins `IMMEDIATE`, taking the write lock up front: a
/// deferred transaction that reads and then writes fails at once with "database is locked"
/// when another writer got there first, whatever the busy timeout.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let nested = <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .map_err(E::from)?
        .is_some();
    // SQLite: wait for this process's earlier writers first, in turn (see `gate`).
    let gate = match conn {
        DbConn::Sqlite(_) if !nested => gate::current(),
        _ => None,
    };
    let _turn = gate.as_deref().map(gate::WriterGate::turn);
    match conn {
        // Inside a transaction already, diesel's nested transaction (a savepoint) is right.
        DbConn::Sqlite(c) if !nested => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        _ => <DbConn as Connection>::TransactionManager::begin_transaction(conn)?,
    }
    let watch = (!nested).then(|| health::Watch::start(conn));
    let mark = changes::mark();
    match f(conn) {
        Ok(value) => {
            let wrote = watch.is_some_and(|w| w.wrote(conn));
            if let Err(e) = <DbConn as Connection>::TransactionManager::commit_transaction(conn) {
                changes::rewind(mark);
                return Err(e.into());
            }
            if wrote {
                health::committed();
            }
            if !nested {
                changes::committed(conn);
            }
            Ok(value)
        }
        Err(e) => {
            changes::rewind(mark);
            if let Err(rollback) =
                <DbConn as Connection>::TransactionManager::rollback_transaction(conn)
            {
                // SQLite ends the transaction itself after a full disk, an I/O error or
                // out-of-memory: nothing is left to roll back, and nothing was saved.
                if rollback.to_string().contains("no transaction is active") {
                    tracing::debug!(error = %rollback, "rolled back by the database already");
                } else {
                    tracing::error!(error = %rollback, "rollback failed");
                }
            }
            Err(e)
        }
    }
}
