//! Stopping and logging on the real binary. SIGTERM while a request is still arriving and a
//! webhook delivery is held by a slow receiver: the request completes, the delivery
//! completes and is recorded, the process exits 0, and after a restart no event is sent a
//! second time. The log is JSON lines with `--log-format json` (request id, route
//! template, status, latency), and carries no colour codes when it goes into a pipe.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use diesel::connection::SimpleConnection;
use reqwest::StatusCode;

use crate::common::server::{KEY, Server};
use crate::common::{self, Backend};

both_backends!(sigterm_finishes_the_request_and_the_delivery_in_hand_and_exits_0);

const TOKEN: &str = "ghp_shutdowntestshutdowntestshutdowntest";

/// A receiver that holds each delivery for `delay`; it counts what it got, by event id.
async fn slow_receiver(delay: Duration) -> (String, Arc<Mutex<Vec<String>>>) {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let g = got.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let g = g.clone();
        App::new().default_service(web::to(move |req: HttpRequest| {
            let g = g.clone();
            async move {
                let id = req
                    .headers()
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                g.lock().unwrap().push(id);
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
    (format!("http://127.0.0.1:{port}/hook"), got)
}

const FLAGS: &[&str] = &["--webhook-allow-private", "--webhook-lease", "2s"];

fn outbox(url: &gatehouse::db::DatabaseUrl) -> BTreeMap<String, String> {
    let mut conn = url.connect().unwrap();
    let mut q = gatehouse::engine::sql::Sql::new(url.backend());
    q.push("SELECT id, status FROM gh_outbox");
    q.load(&mut conn)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r[0].as_text().unwrap().to_string(),
                r[1].as_text().unwrap().to_string(),
            )
        })
        .collect()
}

async fn sigterm_finishes_the_request_and_the_delivery_in_hand_and_exits_0(backend: Backend) {
    let db = common::TestDb::create(backend);
    let data = tempfile::tempdir().unwrap();
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    gatehouse::db::migrate::run(&url).unwrap();
    let (hook, got) = slow_receiver(Duration::from_secs(3)).await;
    {
        let id = match backend {
            Backend::Sqlite => "INTEGER PRIMARY KEY",
            Backend::Postgres => "SERIAL PRIMARY KEY",
        };
        let sealed = gatehouse::db::secrets::Sealer::new(KEY.as_bytes())
            .seal(&gatehouse::integrations::signing::new_secret())
            .unwrap();
        url.connect()
            .unwrap()
            .batch_execute(&format!(
                "CREATE TABLE people (id {id}, name TEXT NOT NULL);
                 INSERT INTO gh_webhook_endpoints (id, url, role, enabled, secret_enc, created_at, events)
                   VALUES ('ep', '{hook}', 'admin', TRUE, '{sealed}', CURRENT_TIMESTAMP, '[\"*:*\"]');
                 INSERT INTO gh_api_tokens (id, name, prefix, token_hash, role, created_by_email, created_at)
                   VALUES ('tok', 'stop', 'ghp_shutd', '{}', 'admin', 'test', CURRENT_TIMESTAMP);",
                gatehouse::db::secrets::sha256_hex(TOKEN)
            ))
            .unwrap();
    }
    let json: Vec<&str> = FLAGS
        .iter()
        .copied()
        .chain(["--log-format", "json"])
        .collect();
    let bin = Server::start(db.url(), data.path(), &json, false).await;
    let rows = bin.url("/api/v1/tables/people/rows");
    let res = reqwest::Client::new()
        .post(&rows)
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "name": "first" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    // The delivery is in the receiver's hands (for 3 s).
    let started = Instant::now();
    while got.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a delivery starts"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }

    // A request still arriving when SIGTERM comes: half its body now, the rest after.
    let body = br#"{"name": "second, sent slowly"}"#;
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", bin.port())).unwrap();
    write!(
        slow,
        "POST /api/v1/tables/people/rows HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    slow.write_all(&body[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    bin.terminate();
    std::thread::sleep(Duration::from_millis(700));
    slow.write_all(&body[10..]).unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    // It exits by itself, with 0, once the delivery in hand is done.
    let log = bin.log.clone();
    let status = bin.exited(Duration::from_secs(25)).await;
    assert_eq!(status.code(), Some(0), "{:#?}", log.lock().unwrap());
    let statuses = outbox(&url);
    let received = got.lock().unwrap().clone();
    for id in &received {
        assert_eq!(
            statuses.get(id).map(String::as_str),
            Some("delivered"),
            "a delivery that started was finished and recorded before the exit"
        );
    }

    // JSON lines: every line parses; the request's line has its id, route, status, latency.
    let lines = log.lock().unwrap().clone();
    let parsed: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().all(|l| !l.contains('\u{1b}')),
        "no colour codes"
    );
    let done = parsed
        .iter()
        .find(|v| v["span"]["id"] == request_id.as_str() && v["fields"]["message"] == "done")
        .unwrap_or_else(|| panic!("the request's line: {lines:#?}"));
    assert_eq!(done["fields"]["status"], 201);
    assert_eq!(done["fields"]["route"], "/api/v1/tables/{table}/rows");
    assert!(done["fields"]["elapsed_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(done["span"]["method"], "POST");

    // Restarted: the events already delivered are not sent again; any left are sent once.
    let bin = Server::start(db.url(), data.path(), FLAGS, false).await;
    let started = Instant::now();
    loop {
        let statuses = outbox(&url);
        if statuses.len() == 2 && statuses.values().all(|s| s == "delivered") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "every event is delivered: {statuses:?}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    // Past the 2 s lease: nothing comes again.
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;
    let received = got.lock().unwrap().clone();
    let mut unique = received.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        received.len(),
        unique.len(),
        "no event delivered twice: {received:?}"
    );
    assert_eq!(unique.len(), 2);
    drop(bin);
}

#[actix_web::test]
async fn text_logs_carry_no_colour_codes_into_a_pipe() {
    let db = common::TestDb::create(Backend::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let bin = Server::start(db.url(), data.path(), FLAGS, false).await;
    let res = reqwest::get(bin.url("/login")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let started = Instant::now();
    let line = loop {
        let lines = bin.log();
        if let Some(l) = lines
            .iter()
            .find(|l| l.contains("done") && l.contains("/login"))
        {
            break l.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{lines:#?}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        line.contains("status=200")
            && (line.contains("route=\"/login\"") || line.contains("route=/login")),
        "{line}"
    );
    let lines = bin.log();
    assert!(
        lines.iter().all(|l| !l.contains('\u{1b}')),
        "no colour codes: {lines:#?}"
    );
}
