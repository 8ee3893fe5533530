//! SQLite faults on the real binary: a full disk (made portably with `--sqlite-max-pages`,
//! which is `PRAGMA max_page_count` on every connection) and a read-only file (the server
//! runs as an unprivileged user when the tests run as root, so the file mode binds it).
//! Each refuses writes with 503 and a reason in the page, the toast and the API, keeps
//! reads working, says so once in readiness and the log, and recovers by itself.

use std::os::unix::fs::PermissionsExt;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};

use super::server::{KEY, NOBODY, Server, prepare, running_as_root};

pub const DEGRADED: &str = "database degraded";
pub const RECOVERED: &str = "database recovered";

/// A write through the record form, htmx and the API is refused with 503 and `reason`, in
/// the error page, a toast and problem+json respectively; nothing is stored.
pub async fn assert_writes_refused(server: &Server, token: &str, value: &str, reason: &str) {
    let res = server
        .post_form("/data/notes/new", "/data/notes", &[("f.body", value)])
        .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    // As the page escapes it.
    let escaped = reason.replace('\'', "&#39;");
    let page = res.text().await.unwrap();
    assert!(page.contains(&escaped), "{page}");
    assert!(
        page.contains("<html"),
        "the error page in the layout: {page}"
    );

    let res = server
        .post_htmx("/data/notes/new", "/data/notes", &[("f.body", value)])
        .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers().get("hx-retarget").unwrap(), "#toasts");
    let toast = res.text().await.unwrap();
    assert!(
        toast.contains(&escaped) && !toast.contains("<html"),
        "{toast}"
    );

    let res = server
        .api(Method::POST, "/api/v1/tables/notes/rows", token)
        .json(&serde_json::json!({ "body": value }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let problem: serde_json::Value = res.json().await.unwrap();
    assert_eq!(problem["status"], 503);
    assert_eq!(problem["detail"], reason);
}

/// Reads answer: the table page (holding `kept`) and the API with a token.
pub async fn assert_reads_work(server: &Server, token: &str) {
    let page = server.get("/data/notes").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("kept"));
    let rows = server
        .api(Method::GET, "/api/v1/tables/notes/rows", token)
        .send()
        .await
        .unwrap();
    assert_eq!(rows.status(), StatusCode::OK);
    assert!(rows.text().await.unwrap().contains("kept"));
}

/// The log's warnings and errors; a fault's whole story is two lines: when it began (a
/// "database degraded" line) and when it ended ("database recovered").
pub fn warnings(server: &Server) -> Vec<String> {
    let lines: Vec<String> = server
        .log()
        .into_iter()
        .filter(|l| l.contains(" WARN ") || l.contains("ERROR"))
        .collect();
    if let [first, second] = &lines[..] {
        assert!(
            first.contains(DEGRADED) && second.contains(RECOVERED),
            "{lines:#?}"
        );
    }
    lines
}

pub async fn readiness(server: &Server) -> (StatusCode, String) {
    let res = server.get("/readyz").await;
    (res.status(), res.text().await.unwrap())
}

fn count(conn: &mut SqliteConnection, sql: &str) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(sql))
        .get_result(conn)
        .unwrap()
}

#[actix_web::test]
async fn sqlite_disk_full_refuses_writes_keeps_reads_and_recovers_on_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.db");
    let url = format!("sqlite://{}", path.display());
    prepare(&url, dir.path());
    let mut side = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    // About a megabyte of ballast that an operator can delete later to free room.
    side.batch_execute(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
         INSERT INTO notes (body) VALUES ('kept');
         CREATE TABLE ballast (b BLOB);
         INSERT INTO ballast VALUES (zeroblob(1000000));
         VACUUM;",
    )
    .unwrap();
    // The file may grow by 16 pages (64 KB) — room for sign-in and a token, not for a
    // 400 KB value.
    let limit = count(&mut side, "(SELECT page_count FROM pragma_page_count())") + 16;
    let server = Server::start(
        &url,
        dir.path(),
        &["--sqlite-max-pages", &limit.to_string()],
        false,
    )
    .await;
    server.sign_in().await;
    let token = server.token().await;
    let big = "x".repeat(400_000);
    let audit = count(&mut side, "(SELECT COUNT(*) FROM gh_audit)");

    let full = "The database's disk is full: nothing was saved.";
    assert_writes_refused(&server, &token, &big, full).await;
    assert_writes_refused(&server, &token, &big, full).await;
    assert_eq!(count(&mut side, "(SELECT COUNT(*) FROM notes)"), 1);
    assert_eq!(count(&mut side, "(SELECT COUNT(*) FROM gh_audit)"), audit);
    assert_reads_work(&server, &token).await;
    assert_eq!(
        readiness(&server).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "degraded: database disk full\n".into()
        )
    );
    // Six refused writes, one line.
    assert_eq!(server.wait_logged(DEGRADED).await, 1, "{:#?}", server.log());
    assert!(
        server
            .log()
            .iter()
            .any(|l| l.contains(DEGRADED) && l.contains("database disk full")),
        "{:#?}",
        server.log()
    );
    assert_eq!(server.logged(RECOVERED), 0);
    assert_eq!(server.logged("ERROR"), 0, "{:#?}", server.log());

    // The operator frees room (no restart): the ballast's pages go to the free list.
    side.batch_execute("DELETE FROM ballast;").unwrap();
    let res = server
        .post_form("/data/notes/new", "/data/notes", &[("f.body", &big)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "writes work again");
    assert_eq!(
        server.wait_logged(RECOVERED).await,
        1,
        "{:#?}",
        server.log()
    );
    assert_eq!(readiness(&server).await, (StatusCode::OK, "ready\n".into()));
    assert_eq!(count(&mut side, "(SELECT COUNT(*) FROM notes)"), 2);
    assert_eq!(
        count(&mut side, "(SELECT COUNT(*) FROM gh_audit)"),
        audit + 1
    );
    assert_eq!(warnings(&server).len(), 2, "{:#?}", warnings(&server));
    server.stop();
    let check: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
        "(SELECT integrity_check FROM pragma_integrity_check())",
    ))
    .get_result(&mut side)
    .unwrap();
    assert_eq!(check, "ok");
}

/// Give the database's directory and files to `uid` (the server's user when it runs as
/// `NOBODY`).
fn chown_all(dir: &std::path::Path, uid: u32) {
    std::os::unix::fs::chown(dir, Some(uid), Some(uid)).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        std::os::unix::fs::chown(entry.unwrap().path(), Some(uid), Some(uid)).unwrap();
    }
}

fn set_mode(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[actix_web::test]
async fn sqlite_read_only_file_refuses_writes_keeps_reads_and_recovers_on_the_binary() {
    // Root ignores file modes: as root, the server runs as `nobody` and owns its files.
    let as_nobody = running_as_root();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.db");
    let url = format!("sqlite://{}", path.display());
    prepare(&url, dir.path());
    let mut side = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    side.batch_execute(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
         INSERT INTO notes (body) VALUES ('kept');",
    )
    .unwrap();
    drop(side);
    if as_nobody {
        chown_all(dir.path(), NOBODY);
    }
    let server = Server::start(&url, dir.path(), &[], as_nobody).await;
    server.sign_in().await;
    let token = server.token().await;
    // The server's connections opened the file for writing; a server started on a
    // read-only file (a restore with the wrong mode, a read-only mount) is the fault.
    let signed_in = server.client.clone();
    server.stop();
    // A webhook event is due: the delivery worker will try to claim it during the fault.
    let sealed = gatehouse::db::secrets::Sealer::new(KEY.as_bytes())
        .seal(&gatehouse::integrations::signing::new_secret())
        .unwrap();
    SqliteConnection::establish(path.to_str().unwrap())
        .unwrap()
        .batch_execute(&format!(
            "INSERT INTO gh_webhook_endpoints (id, url, role, enabled, secret_enc, created_at, events)
               VALUES ('ep', 'http://127.0.0.1:9/hook', 'admin', TRUE, '{sealed}', CURRENT_TIMESTAMP, '[\"*:*\"]');
             INSERT INTO gh_outbox (id, endpoint_id, event_type, payload, created_at, next_attempt_at)
               VALUES ('ev', 'ep', 'row.created', '{{}}', datetime('now'), datetime('now', '-1 minute'));"
        ))
        .unwrap();
    if as_nobody {
        chown_all(dir.path(), NOBODY);
    }
    set_mode(&path, 0o444);
    let mut server = Server::start(&url, dir.path(), &[], as_nobody).await;
    server.client = signed_in;

    let read_only = "The database is read-only: nothing was saved.";
    assert_writes_refused(&server, &token, "not saved", read_only).await;
    // Long enough for the webhook worker to fail its claim a few times.
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_reads_work(&server, &token).await;
    assert_writes_refused(&server, &token, "not saved", read_only).await;
    assert_eq!(
        readiness(&server).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "degraded: database read-only\n".into()
        )
    );
    // Every other kind of write says the same, none is a 500: a delete, a sign-in (its
    // session), a new token.
    let res = server
        .post_form("/data/notes/1/delete", "/data/notes/1/delete", &[])
        .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let res = server
        .post_form(
            "/integrations/tokens",
            "/integrations/tokens",
            &[("name", "late"), ("role", "admin"), ("expires_days", "9")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let res = server
        .post_form_as(
            &crate::common::new_client(),
            "/login",
            "/login",
            &[
                ("email", crate::common::ADMIN_EMAIL),
                ("password", crate::common::ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.text().await.unwrap().contains("read-only"));
    assert_eq!(server.wait_logged(DEGRADED).await, 1, "{:#?}", server.log());
    assert_eq!(server.logged("ERROR"), 0, "{:#?}", server.log());

    // Writable again, no restart: the next write is saved. SQLite made its -wal and -shm
    // files with the database file's mode, so the operator's fix covers them too
    // (`chmod u+w gatehouse.db*`).
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let file = entry.unwrap().path();

        if file.is_file() {
            set_mode(&file, 0o644);
        }
    }
    let res = server
        .post_form("/data/notes/new", "/data/notes", &[("f.body", "saved")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:#?}", server.log());
    assert_eq!(
        server.wait_logged(RECOVERED).await,
        1,
        "{:#?}",
        server.log()
    );
    assert_eq!(readiness(&server).await, (StatusCode::OK, "ready\n".into()));
    let rows = server
        .api(Method::GET, "/api/v1/tables/notes/rows", &token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(rows.contains("saved") && rows.contains("kept"), "{rows}");
    // The webhook event waited in the outbox and is attempted now (its receiver is down).
    let mut side = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let started = std::time::Instant::now();
    while count(
        &mut side,
        "(SELECT COUNT(*) FROM gh_deliveries WHERE outbox_id = 'ev')",
    ) == 0
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the event is attempted after the fault"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let warnings = warnings(&server);
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
}

#[actix_web::test]
async fn sqlite_locked_beyond_the_busy_timeout_refuses_writes_and_recovers_on_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let url = format!("sqlite://{}", path.display());
    prepare(&url, dir.path());
    let mut other = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    other
        .batch_execute(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
             INSERT INTO notes (body) VALUES ('kept');",
        )
        .unwrap();
    let server = Server::start(&url, dir.path(), &[], false).await;
    server.sign_in().await;
    let token = server.token().await;
    // Another process holds the write lock for longer than the 5 s busy timeout.
    other.batch_execute("BEGIN IMMEDIATE;").unwrap();
    let res = server
        .post_form("/data/notes/new", "/data/notes", &[("f.body", "late")])
        .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("The database is busy: nothing was saved; try again."),
        "{page}"
    );
    assert_eq!(
        readiness(&server).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "degraded: database busy\n".into()
        )
    );
    // Reads still answer while the lock is held, without waiting for it: their bookkeeping
    // (the token's last use) is not written while writes are refused.
    let started = std::time::Instant::now();
    assert_reads_work(&server, &token).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "reads took {:?}",
        started.elapsed()
    );
    assert_eq!(server.wait_logged(DEGRADED).await, 1, "{:#?}", server.log());

    other.batch_execute("ROLLBACK;").unwrap();
    let res = server
        .post_form("/data/notes/new", "/data/notes", &[("f.body", "now")])
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "works once the lock is gone"
    );
    assert_eq!(server.wait_logged(RECOVERED).await, 1);
    assert_eq!(readiness(&server).await, (StatusCode::OK, "ready\n".into()));
    assert_eq!(count(&mut other, "(SELECT COUNT(*) FROM notes)"), 2);
    assert_eq!(warnings(&server).len(), 2, "{:#?}", warnings(&server));
}
