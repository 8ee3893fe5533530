//! Whether a database can be reached at all, and checking a connection out of its pool
//! without waiting out the pool's whole timeout while it cannot.
//!
//! The pool's manager reports every attempt to open a connection: a failure marks the
//! database unreachable (logged once), a success marks it reachable again (logged once).
//! While it is unreachable a request gets no connection within a slice of the wait, it
//! answers 503 at once (well within a second) instead of after the pool's five seconds;
//! r2d2 keeps retrying in the background, so the first connection that opens ends the
//! outage without a restart.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::r2d2::PooledConnection;

use crate::db::{Manager, Pool};
use crate::error::AppError;
use crate::metrics;

/// How long one look at the pool waits before checking whether the database is gone.
const SLICE: Duration = Duration::from_millis(100);

/// A database's reachability, as the pool's attempts to connect found it.
#[derive(Debug)]
pub struct Reach {
    /// Which database, for the log ("database", "read replica").
    what: &'static str,
    down: Mutex<Option<String>>,
}

impl Reach {
    pub fn new(what: &'static str) -> Reach {
        Reach {
            what,
            down: Mutex::new(None),
        }
    }

    /// An attempt to open a connection failed with `error`.
    pub fn failed(&self, error: &str) {
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        if down.is_none() {
            tracing::warn!(%error, "{} unreachable: requests that need it answer 503 until it returns", self.what);
        }
        *down = Some(error.to_string());
    }

    /// A connection opened.
    pub fn connected(&self) {
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        if down.take().is_some() {
            tracing::warn!("{} reachable again", self.what);
        }
    }

    /// The last connection error while the database cannot be reached.
    pub fn down(&self) -> Option<String> {
        self.down.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Why the database cannot be reached, in a few words an anonymous probe may read (the
/// full error, with host and port, goes to the log).
pub fn short_cause(error: &str) -> &'static str {
    let e = error.to_ascii_lowercase();
    if e.contains("refused") {
        "connection refused"
    } else if e.contains("timeout") || e.contains("timed out") {
        "connection timed out"
    } else if e.contains("shutting down") || e.contains("starting up") {
        "server starting or stopping"
    } else if e.contains("authentication") || e.contains("password") {
        "authentication failed"
    } else if e.contains("resolve") || e.contains("translate host") {
        "host not found"
    } else {
        "cannot connect"
    }
}

/// A connection from `pool` within `timeout`, or sooner an error when the database is
/// unreachable. `pool_label` names the pool in the timeout metric.
pub fn checkout(
    pool: &Pool,
    reach: &Reach,
    timeout: Duration,
    pool_label: &'static str,
) -> Result<PooledConnection<Manager>, AppError> {
    let started = Instant::now();
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        match pool.get_timeout(left.min(SLICE).max(Duration::from_millis(1))) {
            Ok(conn) => return Ok(conn),
            Err(e) => {
                if let Some(cause) = reach.down() {
                    return Err(AppError::Unavailable(Box::new(Unreachable(cause))));
                }
                if started.elapsed() >= timeout {
                    metrics::global().pool_timeout(pool_label);
                    return Err(AppError::from(e));
                }
            }
        }
    }
}

/// The error of a request refused while the database is unreachable.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the database is unreachable: {}", self.0)
    }
}

impl std::error::Error for Unreachable {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachability_follows_the_last_attempt() {
        let reach = Reach::new("database");
        assert_eq!(reach.down(), None);
        reach.failed("connection to server at \"127.0.0.1\", port 1 failed: Connection refused");
        assert_eq!(short_cause(&reach.down().unwrap()), "connection refused");
        reach.connected();
        assert_eq!(reach.down(), None);
    }
}
