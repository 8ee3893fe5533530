//! Database faults. On the real binary (`sqlite`, `postgres`, started by `server`): a full
//! disk, a read-only database, a lock held beyond the busy timeout and killed connections
//! each answer 503 with a plain reason in the page, the toast and the API, keep reads
//! working, show in readiness and once in the log, leave nothing partial, and recover
//! without a restart. Here: bookkeeping writes never fail a read, and how the databases'
//! words for the faults map to them.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::common::{Backend, TestApp};

mod postgres;
pub use crate::common::server;
mod sqlite;

#[actix_web::test]
async fn sqlite_bookkeeping_writes_never_fail_a_read() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.setup_admin().await;
    // A session last seen an hour ago is due its last-seen write; the database refuses it.
    app.sql("UPDATE gh_sessions SET last_seen_at = datetime('now', '-1 hour');");
    let id = app.scalar("SELECT id FROM gh_sessions").unwrap();
    let mut conn = app.db_conn();
    conn.batch_execute("PRAGMA query_only = 1;").unwrap();
    let refused = diesel::sql_query("UPDATE gh_sessions SET stage = stage").execute(&mut *conn);
    let error = refused.expect_err("query_only refuses writes");
    assert_eq!(
        gatehouse::error::DbFault::of(&error),
        Some(gatehouse::error::DbFault::ReadOnly),
        "{error}"
    );
    let policy = gatehouse::identity::session::SessionPolicy {
        idle: std::time::Duration::from_secs(12 * 3600),
        lifetime: std::time::Duration::from_secs(7 * 86400),
    };
    let now = gatehouse::db::now();
    let user = gatehouse::identity::sessions::load_session(&mut conn, &id, policy, now)
        .expect("the read succeeds although its last-seen write failed");
    assert!(user.is_some());
    let token_id = gatehouse::db::new_id();
    gatehouse::identity::api_tokens::touch_or_ignore(&mut conn, &token_id, now);
    conn.batch_execute("PRAGMA query_only = 0;").unwrap();
}

/// A database error as diesel reports one: only its message matters for the mapping.
struct Reported(&'static str);

impl diesel::result::DatabaseErrorInformation for Reported {
    fn message(&self) -> &str {
        self.0
    }
    fn details(&self) -> Option<&str> {
        None
    }
    fn hint(&self) -> Option<&str> {
        None
    }
    fn table_name(&self) -> Option<&str> {
        None
    }
    fn column_name(&self) -> Option<&str> {
        None
    }
    fn constraint_name(&self) -> Option<&str> {
        None
    }
    fn statement_position(&self) -> Option<i32> {
        None
    }
}

#[test]
fn the_databases_words_for_faults_map_to_them() {
    use diesel::result::{DatabaseErrorKind as Kind, Error};
    use gatehouse::error::DbFault;
    let of = |kind, message| DbFault::of(&Error::DatabaseError(kind, Box::new(Reported(message))));
    // Postgres 53100 (disk_full) has no kind of its own in diesel: its message says it.
    assert_eq!(
        of(
            Kind::Unknown,
            "could not extend file \"base/16384/16385\": No space left on device"
        ),
        Some(DbFault::DiskFull)
    );
    assert_eq!(
        of(Kind::Unknown, "database or disk is full"),
        Some(DbFault::DiskFull)
    );
    // Postgres 25006 (read_only_sql_transaction).
    assert_eq!(
        of(
            Kind::ReadOnlyTransaction,
            "cannot execute INSERT in a read-only transaction"
        ),
        Some(DbFault::ReadOnly)
    );
    assert_eq!(
        of(Kind::Unknown, "attempt to write a readonly database"),
        Some(DbFault::ReadOnly)
    );
    assert_eq!(of(Kind::Unknown, "database is locked"), Some(DbFault::Busy));
    assert_eq!(
        of(
            Kind::ClosedConnection,
            "terminating connection due to administrator command"
        ),
        Some(DbFault::ConnectionLost)
    );
    // A fault of the request or of Gatehouse is not the database's.
    assert_eq!(of(Kind::UniqueViolation, "duplicate key value"), None);
    assert_eq!(of(Kind::Unknown, "syntax error at or near \"x\""), None);
}
