//! Postgres faults on the real binary: the database made read-only (SQLSTATE 25006), its
//! tablespace's disk full (53100, on a tiny tmpfs when the tests may mount one), and the
//! server killing every connection of the application (the pool replaces them).

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};

use super::server::{Server, prepare, running_as_root};
use super::sqlite::{
    DEGRADED, RECOVERED, assert_reads_work, assert_writes_refused, readiness, warnings,
};
use crate::common::{Backend, TestDb, admin_connection};

fn name(db: &TestDb) -> String {
    match db {
        TestDb::Postgres { name, .. } => name.clone(),
        TestDb::Sqlite { .. } => unreachable!("a Postgres test"),
    }
}

/// How many notes the database holds, read on a connection of the test's own (opened for
/// the occasion: the test kills the database's connections).
fn notes(db: &TestDb) -> i64 {
    let mut conn = PgConnection::establish(db.url()).unwrap();
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT COUNT(*) FROM notes)",
    ))
    .get_result(&mut conn)
    .unwrap()
}

/// End every connection the application holds, as a restart of Postgres or a DBA would,
/// and wait until each has ended (and told its client so): a pooled connection finds out
/// at check-out by reading what the server sent, without a round trip.
fn kill_connections(db: &str) {
    admin_connection()
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
             WHERE datname = '{db}' AND pid <> pg_backend_pid();"
        ))
        .unwrap();
}

/// A database with the administrator, a `notes` table holding 'kept', the binary serving it
/// and signed in; returns the server, an API token and a connection of the test's own.
async fn serve(
    db: &TestDb,
    data: &std::path::Path,
    table_options: &str,
) -> (Server, String, PgConnection) {
    prepare(db.url(), data);
    let mut side = PgConnection::establish(db.url()).unwrap();
    side.batch_execute(&format!(
        "CREATE TABLE notes (id SERIAL PRIMARY KEY, body TEXT) {table_options};
         INSERT INTO notes (body) VALUES ('kept');"
    ))
    .unwrap();
    let server = Server::start(db.url(), data, &[], false).await;
    server.sign_in().await;
    let token = server.token().await;
    (server, token, side)
}

#[actix_web::test]
async fn postgres_killed_connections_are_replaced_without_a_restart_on_the_binary() {
    let db = TestDb::create(Backend::Postgres);
    let data = tempfile::tempdir().unwrap();
    let (server, token, _) = serve(&db, data.path(), "").await;
    for round in 0..2 {
        kill_connections(&name(&db));
        assert_reads_work(&server, &token).await;
        let res = server
            .post_form("/data/notes/new", "/data/notes", &[("f.body", "after")])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "round {round}");
        assert_eq!(readiness(&server).await.0, StatusCode::OK);
    }
    assert_eq!(notes(&db), 3);
    // No request failed; a worker caught mid-query may say it lost its connection.
    let failed: Vec<String> = warnings(&server)
        .into_iter()
        .filter(|l| !l.contains("database connection lost"))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[actix_web::test]
async fn postgres_read_only_database_refuses_writes_keeps_reads_and_recovers_on_the_binary() {
    let db = TestDb::create(Backend::Postgres);
    let data = tempfile::tempdir().unwrap();
    let (server, token, _) = serve(&db, data.path(), "").await;
    let name = name(&db);
    // New sessions of this database start read-only (SQLSTATE 25006 on a write), as on a
    // hot standby; the running ones are ended so that the pool opens new ones.
    admin_connection()
        .batch_execute(&format!(
            "ALTER DATABASE {name} SET default_transaction_read_only = on;"
        ))
        .unwrap();
    kill_connections(&name);

    let read_only = "The database is read-only: nothing was saved.";
    assert_writes_refused(&server, &token, "not saved", read_only).await;
    assert_reads_work(&server, &token).await;
    assert_writes_refused(&server, &token, "not saved", read_only).await;
    assert_eq!(
        readiness(&server).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "degraded: database read-only\n".into()
        )
    );
    assert_eq!(server.wait_logged(DEGRADED).await, 1, "{:#?}", server.log());
    assert_eq!(notes(&db), 1);

    // Writable again, nothing restarted or killed: the next write is saved.
    admin_connection()
        .batch_execute(&format!(
            "ALTER DATABASE {name} SET default_transaction_read_only = off;"
        ))
        .unwrap();
    let res = server
        .post_form("/data/notes/new", "/data/notes", &[("f.body", "saved")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:#?}", server.log());
    assert_eq!(server.wait_logged(RECOVERED).await, 1);
    assert_eq!(readiness(&server).await, (StatusCode::OK, "ready\n".into()));
    assert_eq!(notes(&db), 2);
    assert_eq!(warnings(&server).len(), 2, "{:#?}", warnings(&server));
}

/// A tablespace on a one-megabyte tmpfs, removed (with its mount) when dropped.
struct TinyTablespace {
    name: String,
    dir: std::path::PathBuf,
}

impl TinyTablespace {
    /// `None` when the tests may not mount a filesystem for the Postgres server (not root,
    /// or the server is not on this machine).
    fn create() -> Option<TinyTablespace> {
        let mut admin = admin_connection();
        let data_dir: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
            "current_setting('data_directory')",
        ))
        .get_result(&mut admin)
        .ok()?;
        if !running_as_root() || !std::path::Path::new(&data_dir).is_dir() {
            return None;
        }
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&data_dir).ok()?);
        let name = format!("gh_tiny_{}", uuid::Uuid::now_v7().simple());
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir(&dir).ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size=1m,mode=0700,uid={owner},gid={owner}"))
            .args(["tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        let space = TinyTablespace { name, dir };
        admin
            .batch_execute(&format!(
                "CREATE TABLESPACE {} LOCATION '{}';",
                space.name,
                space.dir.display()
            ))
            .unwrap();
        Some(space)
    }
}

impl Drop for TinyTablespace {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&crate::common::postgres_admin_url()) {
            let _ = admin.batch_execute(&format!("DROP TABLESPACE IF EXISTS {};", self.name));
        }
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Text that does not compress, so that it takes its size on disk.
fn incompressible(len: usize) -> String {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 90) as u8)
        })
        .collect()
}

#[actix_web::test]
async fn postgres_disk_full_refuses_writes_keeps_reads_and_recovers_on_the_binary() {
    // Declared first, dropped last: after the database that uses it.
    let Some(space) = TinyTablespace::create() else {
        eprintln!(
            "SKIPPED: a full Postgres disk needs a tmpfs tablespace: root, and the server on this machine"
        );
        return;
    };
    let db = TestDb::create(Backend::Postgres);
    let data = tempfile::tempdir().unwrap();
    let (server, token, mut side) =
        serve(&db, data.path(), &format!("TABLESPACE {}", space.name)).await;
    // Fill the tablespace with ballast until Postgres says the disk is full.
    side.batch_execute(&format!(
        "CREATE TABLE ballast (b TEXT) TABLESPACE {};",
        space.name
    ))
    .unwrap();
    let chunk = incompressible(100_000);
    let mut full = None;
    for _ in 0..100 {
        if let Err(e) = diesel::sql_query("INSERT INTO ballast VALUES ($1)")
            .bind::<diesel::sql_types::Text, _>(&chunk)
            .execute(&mut side)
        {
            full = Some(e.to_string());
            break;
        }
    }
    let full_error = full.expect("the tablespace fills up");
    assert!(
        full_error.contains("No space left on device"),
        "{full_error}"
    );

    let full = "The database's disk is full: nothing was saved.";
    let big = incompressible(300_000);
    assert_writes_refused(&server, &token, &big, full).await;
    assert_reads_work(&server, &token).await;
    assert_eq!(
        readiness(&server).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "degraded: database disk full\n".into()
        )
    );
    assert_eq!(server.wait_logged(DEGRADED).await, 1, "{:#?}", server.log());
    assert_eq!(notes(&db), 1);

    // Room again (the ballast dropped: Postgres cuts its files to nothing), no restart.
    side.batch_execute("DROP TABLE ballast;").unwrap();
    let res = server
        .post_form("/data/notes/new", "/data/notes", &[("f.body", &big)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:#?}", server.log());
    assert_eq!(server.wait_logged(RECOVERED).await, 1);
    assert_eq!(readiness(&server).await, (StatusCode::OK, "ready\n".into()));
    let rows = server
        .api(Method::GET, "/api/v1/tables/notes/rows", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(rows.status(), StatusCode::OK);
    assert_eq!(notes(&db), 2);
    assert_eq!(warnings(&server).len(), 2, "{:#?}", warnings(&server));
    server.stop();
    drop(side);
    drop(db);
}

#[actix_web::test]
async fn postgres_connection_killed_mid_write_is_503_and_leaves_nothing_on_the_binary() {
    let db = TestDb::create(Backend::Postgres);
    let data = tempfile::tempdir().unwrap();
    let (server, _, _) = serve(&db, data.path(), "").await;
    let name = name(&db);
    let rows = |table: &str| -> i64 {
        let mut conn = PgConnection::establish(db.url()).unwrap();
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "(SELECT COUNT(*) FROM {table})"
        )))
        .get_result(&mut conn)
        .unwrap()
    };
    let (audit, outbox) = (rows("gh_audit"), rows("gh_outbox"));
    let csrf = server.csrf("/data/notes/new").await;

    // Hold the audit table: the write inserts its row, then waits on the audit insert.
    let mut locker = PgConnection::establish(db.url()).unwrap();
    locker
        .batch_execute("BEGIN; LOCK TABLE gh_audit IN ACCESS EXCLUSIVE MODE;")
        .unwrap();
    let (client, url) = (server.client.clone(), server.url("/data/notes"));
    let body = [("csrf_token", csrf), ("f.body", "half-written".to_string())];
    let pending =
        actix_web::rt::spawn(async move { client.post(url).form(&body).send().await.unwrap() });
    let mut waiting = false;
    for _ in 0..100 {
        let n: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "(SELECT COUNT(*) FROM pg_stat_activity WHERE datname = '{name}' AND wait_event_type = 'Lock')"
        )))
        .get_result(&mut locker)
        .unwrap();
        if n > 0 {
            waiting = true;
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(waiting, "the write waits on the audit table");
    // Killed by the lock holder, which survives: the write never gets the lock.
    locker
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid();"
        ))
        .unwrap();
    locker.batch_execute("ROLLBACK;").unwrap();

    let res = pending.await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("The connection to the database was lost: nothing was saved; try again."),
        "{page}"
    );
    // Nothing partial: no row, no audit entry, no outbox event.
    assert_eq!(rows("notes"), 1);
    assert_eq!(rows("gh_audit"), audit);
    assert_eq!(rows("gh_outbox"), outbox);

    // No restart: the pool replaced the killed connections, the next write works.
    let res = server
        .post_form("/data/notes/new", "/data/notes", &[("f.body", "whole")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(rows("notes"), 2);
    assert_eq!(rows("gh_audit"), audit + 1);
    assert_eq!(readiness(&server).await, (StatusCode::OK, "ready\n".into()));
}
