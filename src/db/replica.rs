//! A read replica (`--read-database-url`, Postgres): heavy reads — lists, counts, exports —
//! go to it; everything else stays on the primary. A request of a client that wrote a
//! moment ago reads the primary (read-your-writes: the replica may lag); a replica that
//! cannot be reached is skipped for a while, its reads served by the primary, with a
//! warning (once) and a metric.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::r2d2::{self, PooledConnection};

use crate::db::reach::{self, Reach};
use crate::db::{DatabaseUrl, LogPoolErrors, Manager, Pool, PoolEvents};
use crate::error::{AppError, DbFault};
use crate::metrics;

/// The replica pool's label in the metrics.
pub const REPLICA_POOL: &str = "replica";

/// The `application_name` of the replica pool's connections (the primary's is `gatehouse`).
pub const APPLICATION_NAME: &str = "gatehouse-reads";

/// How long a client's reads go to the primary after it changed something.
pub const READ_YOUR_WRITES: Duration = Duration::from_secs(10);

/// How long a replica that failed is left alone before it is tried again.
const SKIP_FOR: Duration = Duration::from_secs(5);

/// How long a read waits for a replica connection before it reads the primary instead.
const WAIT: Duration = Duration::from_secs(1);

tokio::task_local! {
    /// Set for a request whose reads must see the primary (its client wrote lately).
    static PINNED: bool;
}

/// Run a request's future with its reads pinned to the primary, or not.
pub async fn scoped<F: std::future::Future>(pinned: bool, fut: F) -> F::Output {
    PINNED.scope(pinned, fut).await
}

/// Whether the current request's reads must go to the primary.
pub fn pinned() -> bool {
    PINNED.try_with(|p| *p).unwrap_or(false)
}

pub(super) struct Replica {
    pool: Pool,
    reach: Arc<Reach>,
    skip_until: Mutex<Option<Instant>>,
}

impl Replica {
    /// The replica's pool; nothing is opened yet, so a replica that is down at start-up
    /// does not stop Gatehouse (its reads go to the primary until it answers).
    pub(super) fn open(url: &DatabaseUrl, max_size: u32) -> Result<Replica, String> {
        if !matches!(url, DatabaseUrl::Postgres(_)) {
            return Err("--read-database-url must be a postgres:// URL".into());
        }
        let reach = Arc::new(Reach::new("read replica"));
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .min_idle(Some(0))
            .thread_pool(super::connector_thread())
            .connection_timeout(Duration::from_secs(5))
            .error_handler(Box::new(LogPoolErrors))
            .event_handler(Box::new(PoolEvents(REPLICA_POOL)))
            .build_unchecked(Manager {
                url: url.with_application_name(APPLICATION_NAME),
                sqlite_max_pages: None,
                reach: reach.clone(),
            });
        Ok(Replica {
            pool,
            reach,
            skip_until: Mutex::new(None),
        })
    }

    pub(super) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A replica connection, or `None` when the replica is being skipped or cannot give
    /// one now (the read then goes to the primary).
    pub(super) fn checkout(&self) -> Option<PooledConnection<Manager>> {
        {
            let mut skip = self.skip_until.lock().unwrap_or_else(|e| e.into_inner());
            match *skip {
                Some(until) if Instant::now() < until => return None,
                Some(_) => *skip = None,
                None => {}
            }
        }
        match reach::checkout(&self.pool, &self.reach, WAIT, REPLICA_POOL) {
            Ok(conn) => Some(conn),
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    /// The replica failed a read (or could not give a connection): skip it for a while.
    pub(super) fn failed(&self, error: &AppError) {
        let mut skip = self.skip_until.lock().unwrap_or_else(|e| e.into_inner());
        if skip.is_none() {
            tracing::warn!(%error, "read replica unavailable: reads go to the primary for now");
        }
        *skip = Some(Instant::now() + SKIP_FOR);
    }
}

/// Whether a read's error on the replica says the replica, not the request, is at fault.
pub(super) fn replica_fault(e: &AppError) -> bool {
    matches!(
        e,
        AppError::Unavailable(_)
            | AppError::Refused {
                fault: DbFault::ConnectionLost,
                ..
            }
    )
}

/// A read the primary served because the replica was unavailable.
pub(super) fn fell_back() {
    metrics::global().replica_fallback();
}
