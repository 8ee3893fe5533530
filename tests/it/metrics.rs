//! `/metrics` on the real binary, on both backends: absent unless turned on, a bearer token
//! when one is set, a dedicated listener, and after real traffic (sign-ins, a list page, an
//! API write and the webhook delivery it causes) output that `promtool check metrics`
//! accepts and whose counts moved.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use reqwest::StatusCode;

use crate::common::{self, Backend, TestDb, csrf_in};

both_backends!(
    metrics_are_absent_unless_turned_on,
    metrics_need_the_token_and_can_have_their_own_listener,
    metrics_count_real_traffic_and_pass_promtool,
);

const KEY: &str = "metrics-test-key-metrics-test-key-metrics-test-key-metrics-test-key-01";
const TOKEN: &str = "metrics-bearer-token-0123456789";
const API_TOKEN: &str = "ghp_metricstestmetricstestmetricstest";
const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "a sufficiently long password";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real binary serving one test database; killed when dropped.
struct Server {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gatehouse() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (k, _) in std::env::vars() {
        if k.starts_with("GATEHOUSE_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

async fn serve(db: &TestDb, extra: &[&str]) -> Server {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = gatehouse()
        .args(["--database-url", db.url(), "--secret-key", KEY])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--log", "warn"])
        .arg("--data-dir")
        .arg(data.path())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _data: data,
    };
    let started = Instant::now();
    while reqwest::get(format!("{}/healthz", server.base))
        .await
        .map(|r| r.status())
        .ok()
        != Some(StatusCode::OK)
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the binary did not start"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    server
}

async fn metrics_are_absent_unless_turned_on(backend: Backend) {
    let db = TestDb::create(backend);
    let server = serve(&db, &[]).await;
    let res = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let body = res.text().await.unwrap();
    assert!(!body.contains("gatehouse_http_requests_total"), "{body}");
}

async fn metrics_need_the_token_and_can_have_their_own_listener(backend: Backend) {
    let db = TestDb::create(backend);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("metrics.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let metrics_port = free_port();
    let server = serve(
        &db,
        &[
            "--metrics-token-file",
            token_file.to_str().unwrap(),
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let dedicated = format!("http://127.0.0.1:{metrics_port}/metrics");
    let res = client.get(&dedicated).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("www-authenticate"));
    let wrong = client
        .get(&dedicated)
        .bearer_auth("not-the-token-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let ok = client
        .get(&dedicated)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(
        ok.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let body = ok.text().await.unwrap();
    assert!(body.contains("gatehouse_build_info{version=\""), "{body}");
    // With a dedicated listener the main one does not serve them, even with the token;
    // the dedicated one serves nothing else.
    let main = client
        .get(format!("{}/metrics", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(main.status(), StatusCode::NOT_FOUND);
    let other = client
        .get(format!("http://127.0.0.1:{metrics_port}/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

/// The samples of a scrape: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus, installed by .ci/run)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A receiver that answers 200 to every delivery.
async fn receiver() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(|| {
        App::new().default_service(web::to(|| async { HttpResponse::Ok().body("thanks") }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    format!("http://127.0.0.1:{port}/hook")
}

/// A table, an operator (made by `gatehouse user create`), a webhook endpoint to `hook`
/// and an API token, all before the server starts.
fn prepare(db: &TestDb, backend: Backend, hook: &str) {
    use diesel::connection::SimpleConnection;
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    gatehouse::db::migrate::run(&url).unwrap();
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
             INSERT INTO people (name) VALUES ('Ada'), ('Grace');
             INSERT INTO gh_webhook_endpoints (id, url, role, enabled, secret_enc, created_at, events)
               VALUES ('ep', '{hook}', 'admin', TRUE, '{sealed}', CURRENT_TIMESTAMP, '[\"*:*\"]');
             INSERT INTO gh_api_tokens (id, name, prefix, token_hash, role, created_by_email, created_at)
               VALUES ('tok', 'metrics', 'ghp_metri', '{}', 'admin', 'test', CURRENT_TIMESTAMP);",
            gatehouse::db::secrets::sha256_hex(API_TOKEN)
        ))
        .unwrap();
    let mut cmd = gatehouse();
    cmd.args([
        "user", "create", "--email", EMAIL, "--name", "Ops", "--admin",
    ])
    .args([
        "--password-stdin",
        "--database-url",
        db.url(),
        "--secret-key",
        KEY,
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn sign_in(server: &Server, client: &reqwest::Client, password: &str) -> StatusCode {
    let page = client
        .get(format!("{}/login", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_in(&page).expect("csrf token on /login");
    client
        .post(format!("{}/login", server.base))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", EMAIL),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

async fn scrape(server: &Server) -> String {
    let res = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

async fn metrics_count_real_traffic_and_pass_promtool(backend: Backend) {
    let db = TestDb::create(backend);
    let hook = receiver().await;
    prepare(&db, backend, &hook);
    let server = serve(&db, &["--metrics", "--webhook-allow-private"]).await;
    let before = samples(&scrape(&server).await);
    let signins = |s: &BTreeMap<String, f64>, result: &str| {
        value(
            s,
            &format!("gatehouse_signins_total{{result=\"{result}\"}}"),
        )
    };
    assert_eq!(signins(&before, "succeeded"), 0.0);

    let client = common::new_client();
    assert_eq!(
        sign_in(&server, &client, "not the password").await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        sign_in(&server, &client, PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    for _ in 0..3 {
        let list = client
            .get(format!("{}/data/people", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(list.status(), StatusCode::OK);
    }
    let missing = client
        .get(format!("{}/no/such/page", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let invented = client
        .request(
            reqwest::Method::from_bytes(b"BREW").unwrap(),
            format!("{}/data/people", server.base),
        )
        .send()
        .await
        .unwrap();
    assert!(invented.status().is_client_error());
    let created = reqwest::Client::new()
        .post(format!("{}/api/v1/tables/people/rows", server.base))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "name": "Linus" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);

    // The row's webhook event is delivered by the worker: wait for its attempt to count.
    let started = Instant::now();
    let text = loop {
        let text = scrape(&server).await;
        let s = samples(&text);
        if value(&s, "gatehouse_webhook_deliveries_total{result=\"success\"}") >= 1.0 {
            break text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no webhook delivery counted:\n{text}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    };
    promtool_check(&text);
    let after = samples(&text);

    assert_eq!(signins(&after, "succeeded"), 1.0, "{text}");
    assert_eq!(signins(&after, "failed"), 1.0, "{text}");
    assert_eq!(signins(&after, "throttled"), 0.0, "{text}");
    // By route template, never the raw path; what no route matched under one label.
    assert_eq!(
        value(
            &after,
            "gatehouse_http_requests_total{method=\"GET\",route=\"/data/{table}\",status=\"2xx\"}"
        ),
        3.0,
        "{text}"
    );
    assert!(!text.contains("route=\"/data/people\""), "{text}");
    assert!(!text.contains("/no/such/page"), "{text}");
    assert!(!text.contains("BREW"), "{text}");
    assert!(text.contains("method=\"OTHER\""), "{text}");
    assert_eq!(
        value(
            &after,
            "gatehouse_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"4xx\"}"
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            &after,
            "gatehouse_http_requests_total{method=\"POST\",route=\"/api/v1/tables/{table}/rows\",status=\"2xx\"}"
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            &after,
            "gatehouse_http_requests_total{method=\"POST\",route=\"/login\",status=\"4xx\"}"
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            &after,
            "gatehouse_http_request_duration_seconds_count{method=\"GET\",route=\"/data/{table}\"}"
        ),
        3.0,
        "{text}"
    );
    assert!(value(&after, "gatehouse_webhook_delivery_duration_seconds_count") >= 1.0);
    assert_eq!(value(&after, "gatehouse_sessions_active"), 1.0, "{text}");
    assert_eq!(value(&after, "gatehouse_webhook_endpoints_disabled"), 0.0);
    assert_eq!(value(&after, "gatehouse_mail_queue_depth"), 0.0);
    assert!(value(&after, "gatehouse_db_pool_connections{pool=\"primary\"}") >= 1.0);
    assert!(
        value(
            &after,
            "gatehouse_db_pool_max_connections{pool=\"primary\"}"
        ) >= value(&after, "gatehouse_db_pool_connections{pool=\"primary\"}")
    );
    assert!(
        value(
            &after,
            "gatehouse_db_pool_wait_seconds_count{pool=\"primary\"}"
        ) > value(
            &before,
            "gatehouse_db_pool_wait_seconds_count{pool=\"primary\"}"
        )
    );
    assert!(value(&after, "gatehouse_process_resident_memory_bytes") > 1_000_000.0);
    assert!(value(&after, "gatehouse_process_open_fds") >= 3.0);
    assert_eq!(
        value(
            &after,
            &format!(
                "gatehouse_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
}
