//! Webhooks on both backends: deliveries signed per the Standard Webhooks specification and
//! verified here independently, retries against a receiver that fails at first, no event
//! for a rolled-back change, hidden columns left out, the SSRF guard, and (Postgres) two
//! workers never claiming the same event.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{self, Backend, TestApp};

both_backends!(
    deliveries_are_signed_retried_and_logged,
    rolled_back_changes_send_nothing_and_hidden_columns_stay_hidden,
    private_destinations_are_refused_by_default,
);

#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

/// A webhook receiver on a random port that answers 500 to the first `fail_first` requests.
async fn receiver(fail_first: usize) -> Receiver {
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let g = got.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let g = g.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let g = g.clone();
            async move {
                let header = |n: &str| {
                    req.headers()
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                let mut all = g.lock().unwrap();
                all.push(Received {
                    id: header("webhook-id"),
                    timestamp: header("webhook-timestamp"),
                    signature: header("webhook-signature"),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                if all.len() <= fail_first {
                    HttpResponse::InternalServerError().body("not yet")
                } else {
                    HttpResponse::Ok().body("thanks")
                }
            }
        }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    Receiver {
        url: format!("http://127.0.0.1:{port}/hook"),
        got,
    }
}

/// Verify a delivery with the Standard Webhooks project's own Rust library
/// (`standardwebhooks` on crates.io), independent of Gatehouse's signing code.
fn verify(secret: &str, r: &Received) -> bool {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("webhook-id", r.id.parse().unwrap());
    headers.insert("webhook-timestamp", r.timestamp.parse().unwrap());
    headers.insert("webhook-signature", r.signature.parse().unwrap());
    standardwebhooks::Webhook::new(secret)
        .expect("a whsec_ secret")
        .verify(r.body.as_bytes(), &headers)
        .is_ok()
}

async fn wait_for(got: &Arc<Mutex<Vec<Received>>>, n: usize) -> Vec<Received> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        let all = got.lock().unwrap().clone();
        if all.len() >= n {
            return all;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {n} deliveries, got {}", got.lock().unwrap().len());
}

fn schema(backend: Backend) -> String {
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    format!("CREATE TABLE people (id {id}, name TEXT NOT NULL UNIQUE, bio TEXT);")
}

/// Add an endpoint through the page; returns its id and the secret shown once.
async fn endpoint(app: &TestApp, url: &str, role: &str, events: &[&str]) -> (String, String) {
    let mut form: Vec<(&str, &str)> = vec![("url", url), ("description", "test"), ("role", role)];
    for e in events {
        form.push(("event", e));
    }
    let res = app
        .post_form("/integrations/webhooks", "/integrations/webhooks", &form)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let marker = "id=\"webhook-secret\">";
    let start = page.find(marker).expect("the secret is shown once") + marker.len();
    let secret = page[start..start + page[start..].find('<').unwrap()].to_string();
    let id = app
        .scalar("SELECT id FROM gh_webhook_endpoints ORDER BY created_at DESC LIMIT 1")
        .unwrap();
    (id, secret)
}

const FAST: &[&str] = &[
    "--webhook-allow-private",
    "--webhook-retry-schedule",
    "100ms,100ms,100ms",
];

async fn deliveries_are_signed_retried_and_logged(backend: Backend) {
    let app = TestApp::spawn_with(backend, FAST).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    let rx = receiver(2).await;
    let (id, secret) = endpoint(
        &app,
        &rx.url,
        "admin",
        &["people:created", "people:updated"],
    )
    .await;
    assert!(secret.starts_with("whsec_"));
    let stored = app
        .scalar("SELECT secret_enc FROM gh_webhook_endpoints")
        .unwrap();
    assert!(
        !stored.contains(&secret[6..]),
        "the secret is encrypted at rest"
    );

    let res = app
        .post_form(
            "/data/people/new",
            "/data/people",
            &[("f.name", "Ada"), ("f.bio", "writes code")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Two failures, then success: three attempts of one message, each signed.
    let got = wait_for(&rx.got, 3).await;
    assert!(
        got.iter()
            .all(|r| r.id == got[0].id && r.id.starts_with("msg_")),
        "the same webhook-id on every attempt"
    );
    for r in &got {
        assert!(verify(&secret, r), "signature verifies: {r:?}");
        assert!((chrono::Utc::now().timestamp() - r.timestamp.parse::<i64>().unwrap()).abs() < 60);
    }
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["type"], "record.created");
    assert_eq!(body["data"]["table"], "people");
    assert_eq!(body["data"]["after"]["name"], "Ada");
    assert_eq!(body["data"]["before"], Value::Null);
    assert_eq!(body["data"]["actor"], common::ADMIN_EMAIL);

    // Every attempt is in the log, and the endpoint's health shows the success.
    let start = Instant::now();
    while app.scalar("SELECT status FROM gh_outbox").as_deref() != Some("delivered") {
        assert!(start.elapsed() < Duration::from_secs(10));
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_deliveries").as_deref(),
        Some("3")
    );
    let page = app
        .get(&format!("/integrations/webhooks/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("HTTP 500") && page.contains("HTTP 200") && page.contains("delivered"));

    // A test event, and a redelivery keeps the message id.
    app.post_form(
        &format!("/integrations/webhooks/{id}"),
        &format!("/integrations/webhooks/{id}/test"),
        &[],
    )
    .await;
    let got = wait_for(&rx.got, 4).await;
    assert!(got[3].body.contains("webhook.test"));
    let msg = got[0].id.clone();
    app.post_form(
        &format!("/integrations/webhooks/{id}"),
        &format!("/integrations/webhooks/{id}/redeliver/{msg}"),
        &[],
    )
    .await;
    let got = wait_for(&rx.got, 5).await;
    assert_eq!(got[4].id, msg);

    // Rotation: both the new and the old secret sign for a day.
    let page = app
        .post_form(
            &format!("/integrations/webhooks/{id}"),
            &format!("/integrations/webhooks/{id}/rotate"),
            &[],
        )
        .await
        .text()
        .await
        .unwrap();
    let marker = "id=\"webhook-secret\">";
    let start = page.find(marker).unwrap() + marker.len();
    let new_secret = page[start..start + page[start..].find('<').unwrap()].to_string();
    assert_ne!(new_secret, secret);
    app.post_form(
        &format!("/integrations/webhooks/{id}"),
        &format!("/integrations/webhooks/{id}/test"),
        &[],
    )
    .await;
    let got = wait_for(&rx.got, 6).await;
    assert!(verify(&new_secret, &got[5]) && verify(&secret, &got[5]));
    assert_eq!(got[5].signature.split(' ').count(), 2);
}

async fn rolled_back_changes_send_nothing_and_hidden_columns_stay_hidden(backend: Backend) {
    let app = TestApp::spawn_with(backend, FAST).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    app.create_role("partner", &[("t.people.r", "on"), ("h.people", "bio")])
        .await;
    let rx = receiver(0).await;
    endpoint(&app, &rx.url, "partner", &["*:*"]).await;

    app.post_form(
        "/data/people/new",
        "/data/people",
        &[("f.name", "Ada"), ("f.bio", "SECRET BIO")],
    )
    .await;
    // A change the database refuses (duplicate name) rolls back: no event.
    let res = app
        .post_form(
            "/data/people/new",
            "/data/people",
            &[("f.name", "Ada"), ("f.bio", "again")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let got = wait_for(&rx.got, 1).await;
    actix_web::rt::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        rx.got.lock().unwrap().len(),
        1,
        "nothing for the rolled-back insert"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_outbox").as_deref(),
        Some("1")
    );
    assert!(
        !got[0].body.contains("SECRET BIO") && !got[0].body.contains("\"bio\""),
        "hidden column left out"
    );
    assert!(got[0].body.contains("\"name\":\"Ada\""));
}

both_backends!(
    user_events_reach_endpoints_that_subscribe,
    decimals_in_payloads_are_strings_with_their_scale,
);

/// Issue 9.2: a NUMERIC(10,2) value is sent as Postgres writes it, `"5.00"`, on both backends.
async fn decimals_in_payloads_are_strings_with_their_scale(backend: Backend) {
    let app = TestApp::spawn_with(backend, FAST).await;
    app.setup_admin().await;
    app.sql("CREATE TABLE prices (id INTEGER PRIMARY KEY, amount NUMERIC(10, 2) NOT NULL);");
    let rx = receiver(0).await;
    endpoint(&app, &rx.url, "admin", &["*:*"]).await;
    for amount in ["5", "414.99"] {
        let id = if amount == "5" { "1" } else { "2" };
        let res = app
            .post_form(
                "/data/prices/new",
                "/data/prices",
                &[("f.id", id), ("f.amount", amount)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    let got = wait_for(&rx.got, 2).await;
    let amounts: BTreeSet<String> = got
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).unwrap();
            let amount = &body["data"]["after"]["amount"];
            amount
                .as_str()
                .unwrap_or_else(|| panic!("a string: {body}"))
                .to_string()
        })
        .collect();
    assert_eq!(
        amounts,
        BTreeSet::from(["5.00".to_string(), "414.99".to_string()])
    );
}

async fn user_events_reach_endpoints_that_subscribe(backend: Backend) {
    let app = TestApp::spawn_with(backend, FAST).await;
    app.setup_admin().await;
    let rx = receiver(0).await;
    let (_, secret) = endpoint(&app, &rx.url, "admin", &["users:*"]).await;
    let res = app
        .post_form(
            "/users/new",
            "/users",
            &[
                ("email", "ops@example.com"),
                ("display_name", "Ops"),
                ("role", "viewer"),
                ("password", "wobbly giraffe paints violet harbours"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let got = wait_for(&rx.got, 1).await;
    assert!(verify(&secret, &got[0]));
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["type"], "user.created");
    assert_eq!(body["data"]["details"]["email"], "ops@example.com");
}

async fn private_destinations_are_refused_by_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "ftp://example.com/x",
    ] {
        let res = app
            .post_form(
                "/integrations/webhooks",
                "/integrations/webhooks",
                &[("url", url), ("role", "viewer"), ("event", "*:*")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        assert!(res.text().await.unwrap().contains("not saved"), "{url}");
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_webhook_endpoints")
            .as_deref(),
        Some("0")
    );
}

#[actix_web::test]
async fn two_workers_on_one_postgres_never_claim_the_same_event() {
    let app = TestApp::spawn(Backend::Postgres).await;
    app.setup_admin().await;
    {
        let mut conn = app.db_conn();
        use diesel::connection::SimpleConnection;
        conn.batch_execute(
            "INSERT INTO gh_webhook_endpoints (id, url, role, enabled, secret_enc, created_at, events) \
             VALUES ('ep', 'http://example.invalid/', 'admin', FALSE, 'x', now(), '[]')",
        )
        .unwrap();
        for _ in 0..200 {
            gatehouse::events::outbox::enqueue(
                &mut conn,
                "ep",
                "webhook.test",
                "{}",
                gatehouse::db::now(),
            )
            .unwrap();
        }
    }
    let url = gatehouse::db::DatabaseUrl::parse(app.db.url()).unwrap();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut conn = url.connect().unwrap();
                let mut mine = Vec::new();
                loop {
                    let now = gatehouse::db::now();
                    let batch = gatehouse::integrations::store::claim(
                        &mut conn,
                        now,
                        now + chrono::Duration::minutes(5),
                        7,
                    )
                    .unwrap();
                    if batch.is_empty() {
                        break;
                    }
                    mine.extend(batch.into_iter().map(|(row, _)| row.id));
                }
                mine
            })
        })
        .collect();
    let claimed: Vec<Vec<String>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let all: Vec<&String> = claimed.iter().flatten().collect();
    let unique: std::collections::BTreeSet<&&String> = all.iter().collect();
    assert_eq!(all.len(), 200, "every event claimed once");
    assert_eq!(unique.len(), 200, "no event claimed twice");
}

both_backends!(the_outbox_survives_a_crash_mid_delivery);

const KEY: &str = "crash-test-key-crash-test-key-crash-test-key-crash-test-key-0123456789";

/// A receiver that takes its time, so a crash lands mid-delivery.
async fn slow_receiver(delay: Duration) -> Receiver {
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let g = got.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let g = g.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let g = g.clone();
            async move {
                let header = |n: &str| {
                    req.headers()
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                g.lock().unwrap().push(Received {
                    id: header("webhook-id"),
                    timestamp: header("webhook-timestamp"),
                    signature: header("webhook-signature"),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                // Answer late: a crash in the meantime leaves the delivery unconfirmed.
                actix_web::rt::time::sleep(delay).await;
                HttpResponse::Ok().finish()
            }
        }))
    })
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    Receiver {
        url: format!("http://127.0.0.1:{port}/hook"),
        got,
    }
}

fn start_binary(db_url: &str, data_dir: &std::path::Path, port: u16) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "--database-url",
            db_url,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--secret-key",
            KEY,
        ])
        .args([
            "--webhook-allow-private",
            "--webhook-lease",
            "2s",
            "--webhook-retry-schedule",
            "200ms,200ms,200ms,200ms",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env("GATEHOUSE_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_healthy(port: u16) {
    let start = Instant::now();
    while reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .map(|r| r.status())
        .ok()
        != Some(StatusCode::OK)
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the binary did not start"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn the_outbox_survives_a_crash_mid_delivery(backend: Backend) {
    use diesel::connection::SimpleConnection;
    let db = common::TestDb::create(backend);
    let data = tempfile::tempdir().unwrap();
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    gatehouse::db::migrate::run(&url).unwrap();
    let rx = slow_receiver(Duration::from_millis(1500)).await;
    let token = "ghp_crashtesttokencrashtesttokencrashtest";
    {
        let mut conn = url.connect().unwrap();
        let id = match backend {
            Backend::Sqlite => "INTEGER PRIMARY KEY",
            Backend::Postgres => "SERIAL PRIMARY KEY",
        };
        let sealed = gatehouse::db::secrets::Sealer::new(KEY.as_bytes())
            .seal(&gatehouse::integrations::signing::new_secret())
            .unwrap();
        conn.batch_execute(&format!(
            "CREATE TABLE people (id {id}, name TEXT NOT NULL);
             INSERT INTO gh_webhook_endpoints (id, url, role, enabled, secret_enc, created_at, events)
               VALUES ('ep', '{}', 'admin', TRUE, '{sealed}', CURRENT_TIMESTAMP, '[\"*:*\"]');
             INSERT INTO gh_api_tokens (id, name, prefix, token_hash, role, created_by_email, created_at)
               VALUES ('tok', 'crash', 'ghp_crash', '{}', 'admin', 'test', CURRENT_TIMESTAMP);",
            rx.url,
            gatehouse::db::secrets::sha256_hex(token)
        ))
        .unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = start_binary(db.url(), data.path(), port);
    wait_healthy(port).await;
    let client = reqwest::Client::new();
    for i in 0..20 {
        let res = client
            .post(format!("http://127.0.0.1:{port}/api/v1/tables/people/rows"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "name": format!("Person {i}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    // Kill it while deliveries are under way.
    wait_for(&rx.got, 1).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let confirmed = {
        let mut conn = url.connect().unwrap();
        let mut q = gatehouse::engine::sql::Sql::new(url.backend());
        q.push("SELECT COUNT(*) FROM gh_outbox WHERE status = 'delivered'");
        q.load(&mut conn).unwrap()[0][0].as_text().unwrap()
    };
    assert_eq!(
        confirmed, "0",
        "the crash came before any delivery was confirmed"
    );

    let mut child = start_binary(db.url(), data.path(), port);
    wait_healthy(port).await;
    let start = Instant::now();
    let expected: std::collections::BTreeSet<String> = {
        let mut conn = url.connect().unwrap();
        let mut q = gatehouse::engine::sql::Sql::new(url.backend());
        q.push("SELECT id FROM gh_outbox");
        q.load(&mut conn)
            .unwrap()
            .into_iter()
            .filter_map(|r| r[0].as_text())
            .collect()
    };
    assert_eq!(expected.len(), 20, "one event per committed change");
    loop {
        let seen: std::collections::BTreeSet<String> = rx
            .got
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.id.clone())
            .collect();
        if seen == expected {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} of 20 events arrived after the restart",
            seen.len()
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

both_backends!(
    a_crash_sends_again_only_the_deliveries_in_flight,
    a_hanging_endpoint_does_not_delay_a_healthy_one,
);

/// A receiver that answers 204 after `delay` and notes when it answered each message.
struct Timed {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    answered: Arc<Mutex<Vec<(String, Instant)>>>,
}

async fn timed_receiver(delay: Duration) -> Timed {
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let answered: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let (g, a) = (got.clone(), answered.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let (g, a) = (g.clone(), a.clone());
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let (g, a) = (g.clone(), a.clone());
            async move {
                let header = |n: &str| {
                    req.headers()
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                let id = header("webhook-id");
                g.lock().unwrap().push(Received {
                    id: id.clone(),
                    timestamp: header("webhook-timestamp"),
                    signature: header("webhook-signature"),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                if !delay.is_zero() {
                    actix_web::rt::time::sleep(delay).await;
                }
                a.lock().unwrap().push((id, Instant::now()));
                HttpResponse::NoContent().finish()
            }
        }))
    })
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    Timed {
        url: format!("http://127.0.0.1:{port}/hook"),
        got,
        answered,
    }
}

fn outbox_ids(url: &gatehouse::db::DatabaseUrl, filter: &str) -> BTreeSet<String> {
    let mut conn = url.connect().unwrap();
    let mut q = gatehouse::engine::sql::Sql::new(url.backend());
    q.push(&format!("SELECT id FROM gh_outbox{filter}"));
    q.load(&mut conn)
        .unwrap()
        .into_iter()
        .filter_map(|r| r[0].as_text())
        .collect()
}

async fn a_crash_sends_again_only_the_deliveries_in_flight(backend: Backend) {
    use diesel::connection::SimpleConnection;
    let db = common::TestDb::create(backend);
    let data = tempfile::tempdir().unwrap();
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    gatehouse::db::migrate::run(&url).unwrap();
    let slow = timed_receiver(Duration::from_millis(1500)).await;
    let fast = timed_receiver(Duration::ZERO).await;
    let token = "ghp_crashtesttokencrashtesttokencrashtest";
    {
        let mut conn = url.connect().unwrap();
        let id = match backend {
            Backend::Sqlite => "INTEGER PRIMARY KEY",
            Backend::Postgres => "SERIAL PRIMARY KEY",
        };
        let sealer = gatehouse::db::secrets::Sealer::new(KEY.as_bytes());
        let sealed = || {
            sealer
                .seal(&gatehouse::integrations::signing::new_secret())
                .unwrap()
        };
        conn.batch_execute(&format!(
            "CREATE TABLE people (id {id}, name TEXT NOT NULL);
             INSERT INTO gh_webhook_endpoints (id, url, role, enabled, secret_enc, created_at, events)
               VALUES ('slow', '{}', 'admin', TRUE, '{}', CURRENT_TIMESTAMP, '[\"*:*\"]');
             INSERT INTO gh_webhook_endpoints (id, url, role, enabled, secret_enc, created_at, events)
               VALUES ('fast', '{}', 'admin', TRUE, '{}', CURRENT_TIMESTAMP, '[\"*:*\"]');
             INSERT INTO gh_api_tokens (id, name, prefix, token_hash, role, created_by_email, created_at)
               VALUES ('tok', 'crash', 'ghp_crash', '{}', 'admin', 'test', CURRENT_TIMESTAMP);",
            slow.url,
            sealed(),
            fast.url,
            sealed(),
            gatehouse::db::secrets::sha256_hex(token)
        ))
        .unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = start_binary(db.url(), data.path(), port);
    wait_healthy(port).await;
    let client = reqwest::Client::new();
    for i in 0..20 {
        let res = client
            .post(format!("http://127.0.0.1:{port}/api/v1/tables/people/rows"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "name": format!("Person {i}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }

    // Kill it when the fast receiver has answered everything, the slow one has answered
    // some and holds others unanswered, and no answer came in the last 300 ms (so every
    // answer had time to be recorded).
    let start = Instant::now();
    loop {
        let (sg, sa) = (
            slow.got.lock().unwrap().len(),
            slow.answered.lock().unwrap().clone(),
        );
        let fa = fast.answered.lock().unwrap().clone();
        let last = sa.iter().chain(fa.iter()).map(|(_, at)| *at).max();
        if fa.len() >= 20
            && !sa.is_empty()
            && sg > sa.len()
            && last.is_some_and(|at| at.elapsed() >= Duration::from_millis(300))
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no moment with deliveries in flight and answers recorded (slow got {sg}, answered {}; fast answered {})",
            sa.len(),
            fa.len()
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    let killed_at = Instant::now();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Requests sent just before the kill still reach the receivers.
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let received: BTreeSet<String> = slow
        .got
        .lock()
        .unwrap()
        .iter()
        .chain(fast.got.lock().unwrap().iter())
        .map(|r| r.id.clone())
        .collect();
    let answered: BTreeSet<String> = slow
        .answered
        .lock()
        .unwrap()
        .iter()
        .chain(fast.answered.lock().unwrap().iter())
        .filter(|(_, at)| *at < killed_at)
        .map(|(id, _)| id.clone())
        .collect();
    let in_flight: BTreeSet<String> = received.difference(&answered).cloned().collect();
    assert!(!in_flight.is_empty() && answered.len() >= 21);

    // Every answer given before the crash was recorded at once.
    let delivered = outbox_ids(&url, " WHERE status = 'delivered'");
    let unrecorded: Vec<&String> = answered.difference(&delivered).collect();
    assert!(
        unrecorded.is_empty(),
        "answered before the crash but not recorded: {unrecorded:?}"
    );

    let mut child = start_binary(db.url(), data.path(), port);
    wait_healthy(port).await;
    let expected = outbox_ids(&url, "");
    assert_eq!(expected.len(), 40, "one event per change and endpoint");
    let start = Instant::now();
    while outbox_ids(&url, " WHERE status = 'delivered'").len() < 40 {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "not every event was delivered after the restart"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    for r in slow
        .got
        .lock()
        .unwrap()
        .iter()
        .chain(fast.got.lock().unwrap().iter())
    {
        *times.entry(r.id.clone()).or_default() += 1;
    }
    let arrived: BTreeSet<String> = times.keys().cloned().collect();
    assert_eq!(arrived, expected, "every event arrived");
    let duplicated: BTreeSet<String> = times
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id.clone())
        .collect();
    assert!(
        times.values().all(|n| *n <= 2),
        "an event arrived more than twice: {times:?}"
    );
    assert!(
        duplicated.is_subset(&in_flight),
        "{} duplicated, {} in flight at the crash; duplicated but answered before it: {:?}",
        duplicated.len(),
        in_flight.len(),
        duplicated.difference(&in_flight).collect::<Vec<_>>()
    );
    assert!(duplicated.len() <= in_flight.len());
}

async fn a_hanging_endpoint_does_not_delay_a_healthy_one(backend: Backend) {
    use gatehouse::integrations::worker::PER_ENDPOINT;
    let app = TestApp::spawn_with(backend, FAST).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    let hanging = timed_receiver(Duration::from_secs(60)).await;
    let (hung, _) = endpoint(&app, &hanging.url, "admin", &["people:updated"]).await;
    // More events for the hanging receiver than one claim takes, all due first.
    {
        let mut conn = app.db_conn();
        for _ in 0..40 {
            gatehouse::events::outbox::enqueue(
                &mut conn,
                &hung,
                "webhook.test",
                "{}",
                gatehouse::db::now(),
            )
            .unwrap();
        }
    }
    wait_for(&hanging.got, 1).await;
    let healthy = timed_receiver(Duration::ZERO).await;
    endpoint(&app, &healthy.url, "admin", &["people:created"]).await;
    let start = Instant::now();
    for i in 0..10 {
        let name = format!("Fine {i}");
        app.post_form("/data/people/new", "/data/people", &[("f.name", &name)])
            .await;
    }
    wait_for(&healthy.got, 10).await;
    // Each healthy delivery is recorded as it completes, not after the hanging ones.
    while app
        .scalar("SELECT COUNT(*) FROM gh_outbox WHERE status = 'delivered'")
        .as_deref()
        != Some("10")
    {
        assert!(start.elapsed() < Duration::from_secs(10));
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the healthy endpoint waited {:?}",
        start.elapsed()
    );
    assert!(
        hanging.answered.lock().unwrap().is_empty(),
        "the other endpoint still hangs"
    );
    let held = hanging.got.lock().unwrap().len();
    assert!(
        (1..=PER_ENDPOINT).contains(&held),
        "{held} deliveries in flight to one endpoint"
    );
}
