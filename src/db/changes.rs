//! Change notices: "row `key` of `table` was `action`ed by `actor` at `at`", sent to every
//! instance once the change is committed, never after a rollback, and never with row values.
//! The audit log writes one for every row change it records (UI, API, import, restore all
//! record there), so this is the one place changes are announced.
//!
//! On Postgres a notice is a `pg_notify` on [`CHANNEL`] inside the writing transaction:
//! Postgres delivers it at commit, in commit order, to every instance's listener
//! (`db::notify`), this one's too. On SQLite (one instance) it waits in a per-thread list
//! until [`super::write_tx`] commits, then goes to the `Notifier` of this process that
//! serves the same database file; a rolled-back transaction or savepoint drops its notices.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use diesel::connection::{Connection, TransactionManager};
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};

use super::notify::Notifier;
use super::{DatabaseUrl, DbConn};

/// The notification channel of change notices.
pub const CHANNEL: &str = "gh_changes";

/// Postgres refuses a notification payload of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7900;

/// One change, as every instance receives it. `id` is the audit entry's id (UUIDv7), so
/// it names the same change on every instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub id: String,
    pub table: String,
    /// The row's key as in its URL; empty when the change concerns many rows (an import).
    pub key: String,
    /// `created`, `updated`, `deleted`, `restored` or `imported`.
    pub action: String,
    /// The operator's email.
    pub actor: String,
    /// RFC 3339, UTC.
    pub at: String,
}

impl Notice {
    /// The payload sent between instances: JSON, short enough for `pg_notify` (an
    /// overlong key is left out, which tells clients to reread the table).
    pub fn payload(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        if json.len() < MAX_PAYLOAD {
            return json;
        }
        let short = Notice {
            key: String::new(),
            ..self.clone()
        };
        serde_json::to_string(&short).unwrap_or_default()
    }
}

/// The notice's action for an audit action, if that action changes rows of a table.
pub fn action_of(audit_action: &str) -> Option<&'static str> {
    Some(match audit_action {
        "record.created" => "created",
        "record.updated" => "updated",
        "record.deleted" => "deleted",
        "row.restored" => "restored",
        "table.imported" => "imported",
        _ => return None,
    })
}

thread_local! {
    /// SQLite notices of the transaction running on this thread, sent at its commit.
    static PENDING: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// The SQLite file the `Db::run` on this thread works on (see `serving`).
    static SERVING: RefCell<Option<Arc<PathBuf>>> = const { RefCell::new(None) };
}

/// The file of a SQLite database URL as `attach` and `deliver_local` compare it.
pub(super) fn file_of(url: &DatabaseUrl) -> Option<Arc<PathBuf>> {
    let DatabaseUrl::Sqlite(path) = url else {
        return None;
    };
    Some(Arc::new(
        std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path)),
    ))
}

/// While the guard lives, this thread's database work is on `file`: a commit then finds
/// its notifier without asking the connection which file it has open (a statement and a
/// path resolution at every write).
pub(super) fn serving(file: Option<Arc<PathBuf>>) -> Serving {
    Serving(SERVING.with(|s| s.replace(file)))
}

/// Puts back what this thread served before (`serving`).
pub(super) struct Serving(Option<Arc<PathBuf>>);

impl Drop for Serving {
    fn drop(&mut self) {
        let before = self.0.take();
        SERVING.with(|s| *s.borrow_mut() = before);
    }
}

/// The notifiers of this process by SQLite database file (tests run several apps).
static LOCAL: Mutex<Vec<(PathBuf, Weak<Notifier>)>> = Mutex::new(Vec::new());

/// Deliver the SQLite notices of `url`'s database to `notifier` (nothing on Postgres,
/// where `LISTEN` does it).
pub fn attach(url: &DatabaseUrl, notifier: &Arc<Notifier>) {
    let Some(path) = file_of(url) else {
        return;
    };
    if let Ok(mut local) = LOCAL.lock() {
        local.retain(|(_, n)| n.strong_count() > 0);
        local.push(((*path).clone(), Arc::downgrade(notifier)));
    }
}

/// Announce `notice` as part of the transaction running on `conn`.
pub fn announce(conn: &mut DbConn, notice: &Notice) -> QueryResult<()> {
    let payload = notice.payload();
    match conn {
        DbConn::Postgres(c) => {
            diesel::sql_query("SELECT pg_notify($1, $2)::text")
                .bind::<Text, _>(CHANNEL)
                .bind::<Text, _>(&payload)
                .execute(c)?;
        }
        DbConn::Sqlite(_) => {
            if in_transaction(conn) {
                PENDING.with(|p| p.borrow_mut().push(payload));
            } else {
                deliver_local(conn, vec![payload]);
            }
        }
    }
    Ok(())
}

fn in_transaction(conn: &mut DbConn) -> bool {
    <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .is_ok_and(|d| d.is_some())
}

/// How many notices wait on this thread: a transaction or savepoint starting now.
pub(super) fn mark() -> usize {
    PENDING.with(|p| p.borrow().len())
}

/// The transaction or savepoint that started at `mark` rolled back: forget its notices.
pub(super) fn rewind(mark: usize) {
    PENDING.with(|p| p.borrow_mut().truncate(mark));
}

/// The outermost transaction committed: send what waited (SQLite only).
pub(super) fn committed(conn: &mut DbConn) {
    let pending = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    if !pending.is_empty() {
        deliver_local(conn, pending);
    }
}

#[derive(QueryableByName)]
struct MainFile {
    #[diesel(sql_type = Text)]
    file: String,
}

fn deliver_local(conn: &mut DbConn, payloads: Vec<String>) {
    let DbConn::Sqlite(c) = conn else {
        return;
    };
    let file = match SERVING.with(|s| s.borrow().clone()) {
        Some(file) => file,
        // Outside `Db::run` (the command line, a worker's own connection): ask SQLite.
        None => {
            let Ok(main) =
                diesel::sql_query("SELECT file FROM pragma_database_list WHERE name = 'main'")
                    .get_result::<MainFile>(c)
            else {
                return;
            };
            let path =
                std::fs::canonicalize(&main.file).unwrap_or_else(|_| PathBuf::from(main.file));
            Arc::new(path)
        }
    };
    let notifiers: Vec<Arc<Notifier>> = LOCAL
        .lock()
        .map(|l| {
            l.iter()
                .filter(|(p, _)| *p == *file)
                .filter_map(|(_, n)| n.upgrade())
                .collect()
        })
        .unwrap_or_default();
    for notifier in notifiers {
        for payload in &payloads {
            notifier.publish(CHANNEL, payload);
        }
    }
}
