//! Database faults against the real application: a full SQLite file (made portably with
//! `--sqlite-max-pages`) refuses writes with 503 and a plain reason while reads keep
//! working and readiness says degraded; a Postgres connection killed mid-write gives 503,
//! leaves nothing partial, and the pool replaces it.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::common::{Backend, TestApp};

mod postgres;
mod server;
mod sqlite;

const FULL: &str = "disk is full: nothing was saved.";

/// Create a token through the page, as an administrator does; returns its value.
async fn token(app: &TestApp) -> String {
    let res = app
        .post_form(
            "/integrations/tokens",
            "/integrations/tokens",
            &[
                ("name", "faults"),
                ("role", "admin"),
                ("expires_days", "90"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let marker = "id=\"new-token\">";
    let start = page.find(marker).expect("the new token is shown") + marker.len();
    page[start..start + page[start..].find('<').unwrap()].to_string()
}

fn api(app: &TestApp, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(token)
}

fn count(app: &TestApp, table: &str) -> i64 {
    app.scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .unwrap()
        .parse()
        .unwrap()
}

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

#[actix_web::test]
async fn postgres_connection_killed_mid_write_is_503_and_leaves_nothing() {
    let app = TestApp::spawn(Backend::Postgres).await;
    app.setup_admin().await;
    app.sql("CREATE TABLE notes (id SERIAL PRIMARY KEY, body TEXT);");
    let (audit, outbox) = (count(&app, "gh_audit"), count(&app, "gh_outbox"));
    let csrf = app.csrf("/data/notes/new").await;

    // Hold the audit table: the write inserts its row, then waits on the audit insert.
    let mut locker = PgConnection::establish(app.db.url()).unwrap();
    locker
        .batch_execute("BEGIN; LOCK TABLE gh_audit IN ACCESS EXCLUSIVE MODE;")
        .unwrap();
    let (client, url) = (app.client.clone(), app.url("/data/notes"));
    let body = vec![
        ("csrf_token".to_string(), csrf),
        ("f.body".to_string(), "half-written".to_string()),
    ];
    let pending =
        actix_web::rt::spawn(async move { client.post(url).form(&body).send().await.unwrap() });
    let name = match &app.db {
        crate::common::TestDb::Postgres { name, .. } => name.clone(),
        _ => unreachable!(),
    };
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
    locker
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid();"
        ))
        .unwrap();
    locker.batch_execute("ROLLBACK;").unwrap();

    let res = pending.await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("connection to the database was lost: nothing was saved"),
        "{page}"
    );
    // Nothing partial: no row, no audit entry, no outbox event.
    assert_eq!(count(&app, "notes"), 0);
    assert_eq!(count(&app, "gh_audit"), audit);
    assert_eq!(count(&app, "gh_outbox"), outbox);

    // No restart: the pool replaced the killed connections, the next write works.
    let res = app
        .post_form("/data/notes/new", "/data/notes", &[("f.body", "whole")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(count(&app, "notes"), 1);
    assert_eq!(count(&app, "gh_audit"), audit + 1);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn sqlite_locked_beyond_the_busy_timeout_refuses_writes_with_a_reason() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.setup_admin().await;
    app.sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);");
    let csrf = app.csrf("/data/notes/new").await;
    // Another process holds the write lock for longer than the 5 s busy timeout.
    let path = app.db.url().trim_start_matches("sqlite://").to_string();
    let mut other = SqliteConnection::establish(&path).unwrap();
    other.batch_execute("BEGIN IMMEDIATE;").unwrap();
    let res = app
        .session()
        .post_with_token("/data/notes", &csrf, &[("f.body", "late")])
        .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("The database is busy: nothing was saved; try again.")
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.text().await.unwrap(), "degraded: database busy\n");
    // Reads still answer while the lock is held.
    assert_eq!(app.get("/data/notes").await.status(), StatusCode::OK);
    other.batch_execute("ROLLBACK;").unwrap();
    assert_eq!(count(&app, "notes"), 0);
    let res = app
        .post_form("/data/notes/new", "/data/notes", &[("f.body", "now")])
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "works again once the lock is gone"
    );
}
