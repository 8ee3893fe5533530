//! Running one statement: on a thread and a connection of its own (never the page pool's),
//! under a budget of at most `MAX_RUNNING` statements at once, with the statement timeout and
//! a cancel handle registered under the run's id until it ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, oneshot};

use crate::db::DatabaseUrl;
use crate::db::replica::{self, APPLICATION_NAME as REPLICA_APPLICATION_NAME};
use crate::error::AppError;

/// Statements running at once on one instance; each holds one connection of its own.
pub const MAX_RUNNING: usize = 2;
/// Rows shown on the page (one more is read to know that more exist).
pub const SHOWN_ROWS: usize = 1000;

/// One value of a result, as text (`None` is NULL).
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: Option<String>,
    pub numeric: bool,
}

impl Cell {
    pub fn null() -> Cell {
        Cell {
            text: None,
            numeric: false,
        }
    }

    pub fn text(text: String) -> Cell {
        Cell {
            text: Some(text),
            numeric: false,
        }
    }

    pub fn number(text: String) -> Cell {
        Cell {
            text: Some(text),
            numeric: true,
        }
    }

    /// Bytes: in hex when short, else their size (the CSV export always gets hex).
    pub fn bytes(bytes: &[u8], full: bool) -> Cell {
        if full || bytes.len() <= 32 {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            Cell::text(format!("\\x{hex}"))
        } else {
            Cell::text(format!("<{} bytes>", bytes.len()))
        }
    }
}

/// Where the rows of a result go: the page's collector or the CSV stream.
pub trait Sink: Send + 'static {
    fn columns(&mut self, names: Vec<String>);
    /// Take one row; `false` stops reading.
    fn row(&mut self, cells: Vec<Cell>) -> bool;
    /// Bytes are shown in full (export) or abbreviated (page).
    fn full_bytes(&self) -> bool {
        false
    }
}

/// The first `SHOWN_ROWS` rows of a result, and whether more exist.
#[derive(Debug, Default)]
pub struct Collected {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    pub more: bool,
}

impl Sink for Collected {
    fn columns(&mut self, names: Vec<String>) {
        self.columns = names;
    }

    fn row(&mut self, cells: Vec<Cell>) -> bool {
        if self.rows.len() >= SHOWN_ROWS {
            self.more = true;
            return false;
        }
        self.rows.push(cells);
        true
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Job {
    pub sql: String,
    /// A normal transaction, committed; else a read-only one.
    pub write: bool,
    /// Write mode's audit entry is written by this operator inside the statement's own
    /// transaction, once the statement has run.
    pub audit: Option<crate::audit::Actor>,
}

impl Job {
    /// A statement run read-only, with nothing to audit.
    pub fn read_only(sql: &str) -> Job {
        Job {
            sql: sql.to_string(),
            write: false,
            audit: None,
        }
    }
}

/// Why a statement gave no result.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The console's budget is spent, or this run id is already running.
    Busy(String),
    Timeout(Duration),
    Cancelled,
    /// The database's own message.
    Database(String),
}

impl Failure {
    pub fn message(&self) -> String {
        match self {
            Failure::Busy(m) | Failure::Database(m) => m.clone(),
            Failure::Timeout(t) => format!(
                "The statement ran longer than {} (--sql-timeout) and was stopped.",
                crate::config::short(*t)
            ),
            Failure::Cancelled => "The statement was cancelled.".into(),
        }
    }
}

/// A finished run: rows changed (when the statement reports it), time taken.
pub type Finished = Result<(Option<u64>, Duration), Failure>;

/// What a running statement can be stopped through.
#[derive(Default)]
pub struct Handle {
    pub cancelled: AtomicBool,
    /// The Postgres backend running it (0 until known).
    pub pg_pid: AtomicI32,
    /// Whether that backend is the read replica's (else the primary's).
    pub on_replica: AtomicBool,
}

/// A run to stop on Postgres: its backend, on the primary or on the read replica.
pub enum Stop {
    Primary(i32),
    Replica(i32),
}

struct Entry {
    owner: String,
    handle: Arc<Handle>,
}

/// The console's runner, shared by every worker as `web::Data`.
pub struct Console {
    url: DatabaseUrl,
    /// The read replica (`--read-database-url`), for read-only runs.
    replica: Option<DatabaseUrl>,
    timeout: Duration,
    budget: Arc<Semaphore>,
    running: Arc<Mutex<HashMap<String, Entry>>>,
}

impl Console {
    pub fn new(url: DatabaseUrl, replica: Option<DatabaseUrl>, timeout: Duration) -> Console {
        Console {
            url,
            replica: replica.map(|r| r.with_application_name(REPLICA_APPLICATION_NAME)),
            timeout,
            budget: Arc::new(Semaphore::new(MAX_RUNNING)),
            running: Arc::default(),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Start `job` on a thread of its own; the receiver gets the sink back with the outcome.
    pub fn start<S: Sink>(
        &self,
        owner: &str,
        run_id: &str,
        job: Job,
        mut sink: S,
    ) -> Result<oneshot::Receiver<(S, Finished)>, Failure> {
        let permit = self.budget.clone().try_acquire_owned().map_err(|_| {
            Failure::Busy(format!(
                "The console is already running {MAX_RUNNING} statements; wait for one to finish or cancel it."
            ))
        })?;
        let handle = Arc::new(Handle::default());
        {
            let mut running = self.running.lock().map_err(|_| busy_registry())?;
            if running.contains_key(run_id) {
                return Err(Failure::Busy("This statement is still running.".into()));
            }
            let entry = Entry {
                owner: owner.to_string(),
                handle: handle.clone(),
            };
            running.insert(run_id.to_string(), entry);
        }
        let (tx, rx) = oneshot::channel();
        let (url, timeout, running) = (self.url.clone(), self.timeout, self.running.clone());
        // A read-only run reads the replica, unless this client wrote lately (read-your-writes).
        let replica = match &self.replica {
            Some(DatabaseUrl::Postgres(r)) if !job.write && !replica::pinned() => Some(r.clone()),
            _ => None,
        };
        let (run_id, owner) = (run_id.to_string(), owner.to_string());
        let spawned = std::thread::Builder::new()
            .name("sql-console".into())
            .spawn(move || {
                let started = Instant::now();
                let outcome = match &url {
                    DatabaseUrl::Sqlite(path) => {
                        super::sqlite::run(path, &job, timeout, &handle, &mut sink)
                    }
                    DatabaseUrl::Postgres(url) => {
                        let target = super::postgres::Target {
                            primary: url,
                            replica: replica.as_deref(),
                        };
                        let run = super::postgres::Run {
                            owner: &owner,
                            id: &run_id,
                        };
                        super::postgres::run(&target, &job, run, timeout, &handle, &mut sink)
                    }
                };
                if let Ok(mut r) = running.lock() {
                    r.remove(&run_id);
                }
                drop(permit);
                let _ = tx.send((sink, outcome.map(|changed| (changed, started.elapsed()))));
            });
        spawned
            .map(|_| rx)
            .map_err(|e| Failure::Database(format!("cannot start the statement: {e}")))
    }

    /// Mark `run_id` (started by `owner`) cancelled; its Postgres backend, if known, is
    /// returned for `pg_cancel_backend`. `None` when no such run of this owner is running.
    pub fn cancel(&self, owner: &str, run_id: &str) -> Option<Stop> {
        let running = self.running.lock().ok()?;
        let entry = running.get(run_id).filter(|e| e.owner == owner)?;
        entry.handle.cancelled.store(true, Ordering::SeqCst);
        let pid = entry.handle.pg_pid.load(Ordering::SeqCst);
        Some(if entry.handle.on_replica.load(Ordering::SeqCst) {
            Stop::Replica(pid)
        } else {
            Stop::Primary(pid)
        })
    }

    /// Cancel backend `pid` of the read replica (a read-only run there).
    pub async fn cancel_on_replica(&self, pid: i32) -> Result<(), AppError> {
        let Some(DatabaseUrl::Postgres(url)) = self.replica.clone().filter(|_| pid != 0) else {
            return Ok(());
        };
        actix_web::web::block(move || super::postgres::cancel_backend_at(&url, pid))
            .await
            .map_err(|e| AppError::internal(format!("blocking task failed: {e}")))?
            .map_err(|e| AppError::internal(format!("cannot cancel on the read replica: {e}")))
    }
}

fn busy_registry() -> Failure {
    Failure::Busy("The console's list of running statements is unavailable.".into())
}

/// The first keyword of a statement, upper-cased, past blanks and comments.
pub fn first_keyword(sql: &str) -> String {
    let mut rest = sql.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r
                .split_once('\n')
                .map_or("", |(_, after)| after)
                .trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r
                .split_once("*/")
                .map_or("", |(_, after)| after)
                .trim_start();
        } else {
            break;
        }
    }
    rest.chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_keyword_skips_comments() {
        assert_eq!(first_keyword("  -- hi\n/* x */ insert into t"), "INSERT");
        assert_eq!(first_keyword("select 1"), "SELECT");
        assert_eq!(first_keyword("-- only a comment"), "");
    }

    #[test]
    fn the_collector_keeps_the_shown_rows_and_notes_more() {
        let mut c = Collected::default();
        for i in 0..SHOWN_ROWS + 5 {
            if !c.row(vec![Cell::number(i.to_string())]) {
                break;
            }
        }
        assert_eq!(c.rows.len(), SHOWN_ROWS);
        assert!(c.more);
    }
}
