//! The OpenAPI document says exactly what the server does: schemathesis (PyPI, installed
//! into target/ci-venv by `.ci/run`) runs every check in every phase against the real
//! binary on each backend, over tables of varied column types, and must find nothing.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use reqwest::StatusCode;

use crate::common::{Backend, TestDb};

both_backends!(schemathesis_finds_nothing_against_the_real_binary);

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-key";

/// One setting for each of two checks, and why:
/// - `412 Precondition Failed` is the right answer to a PATCH whose If-Match names another
///   version of the row (RFC 9110), and no generator can guess a row's current version, so
///   a well-formed stale If-Match is counted as accepted data answered correctly.
/// - An import's body is declared as `text/csv` text: JSON Schema cannot say which text is a
///   CSV file whose header names the table's columns and whose cells parse, so most
///   generated bodies (and the documented example, once its row exists) are rightly refused
///   with 422. For the import operations only, 422 counts as accepted data answered
///   correctly; the example file (one row of column examples) is imported for real.
///
/// Every check stays on, for every operation.
const CONFIG: &str = r#"
[[operations]]
include-method = "PATCH"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]

[[operations]]
include-path-regex = "/import$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"#;

/// Integer, text, varchar, numeric(10,2), boolean, timestamp, date, an enum (CHECK … IN),
/// foreign keys and a composite key.
fn seed(backend: Backend) -> String {
    let (id, varchar) = match backend {
        Backend::Sqlite => ("INTEGER PRIMARY KEY", "VARCHAR(12)"),
        Backend::Postgres => ("SERIAL PRIMARY KEY", "VARCHAR(12)"),
    };
    format!(
        "CREATE TABLE customers (id {id}, name TEXT NOT NULL, email TEXT UNIQUE, code {varchar},
             vip BOOLEAN NOT NULL DEFAULT FALSE,
             created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, birthday DATE);
         CREATE TABLE orders (id {id}, customer_id INTEGER NOT NULL REFERENCES customers(id),
             total NUMERIC(10,2) NOT NULL,
             status TEXT NOT NULL CHECK (status IN ('new', 'paid', 'shipped')),
             placed_at TIMESTAMP, notes TEXT);
         CREATE TABLE order_tags (order_id INTEGER NOT NULL REFERENCES orders(id),
             tag TEXT NOT NULL, PRIMARY KEY (order_id, tag));
         INSERT INTO customers (name, email, code, vip, birthday)
             VALUES ('Ann', 'ann@example.com', 'A-1', TRUE, '1990-01-02'), ('Bob', NULL, NULL, FALSE, NULL);
         INSERT INTO orders (customer_id, total, status, placed_at, notes)
             VALUES (1, 178.50, 'paid', '2026-01-01 10:00:00', 'gift wrap'), (2, 5, 'new', NULL, NULL);
         INSERT INTO order_tags VALUES (1, 'gift'), (2, 'rush');"
    )
}

/// An administrator's API token, stored as the tokens page stores one (only its hash).
fn admin_token(sql: &mut String) -> String {
    let value = format!("ghp_{}", uuid::Uuid::now_v7().simple());
    sql.push_str(&format!(
        "INSERT INTO gh_api_tokens (id, name, prefix, token_hash, role, created_by, created_by_email, created_at)
         VALUES ('{}', 'schemathesis', '{}', '{}', 'admin', NULL, 'ops@example.com', '2026-01-01 00:00:00');",
        uuid::Uuid::now_v7(),
        &value[..12],
        gatehouse::db::secrets::sha256_hex(&value)
    ));
    value
}

/// The binary, stopped when the test ends however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn schemathesis_on_path() -> std::path::PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("schemathesis"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "schemathesis is not on PATH: run `bash .ci/run` (it installs it into \
                 target/ci-venv and puts that on PATH), or add target/ci-venv/bin to PATH"
            )
        })
}

async fn schemathesis_finds_nothing_against_the_real_binary(backend: Backend) {
    let schemathesis = schemathesis_on_path();
    let db = TestDb::create(backend);
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    gatehouse::db::migrate::run(&url).unwrap();
    let mut sql = seed(backend);
    let token = admin_token(&mut sql);
    url.connect().unwrap().batch_execute(&sql).unwrap();

    let data = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["serve", "--database-url", db.url(), "--secret-key", KEY])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            // A fuzzer sends thousands of requests a minute from one token.
            .args(["--api-rate-limit", "1000000"])
            .arg("--data-dir")
            .arg(data.path())
            .env("GATEHOUSE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while reqwest::get(format!("{base}/healthz"))
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

    let config = data.path().join("schemathesis.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let started = Instant::now();
    let out = Command::new(&schemathesis)
        .current_dir(data.path())
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{base}/api/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        // Reproducible and bounded. One worker: CPython before 3.11.8 shares the AST
        // constructor's recursion counter between threads (gh-106905), so two workers
        // parsing source at once (Hypothesis does, collecting constants) fail with
        // "AST constructor recursion depth mismatch" now and then. The same examples run.
        .args(["--seed", "1", "--max-examples", "20", "--workers", "1"])
        .args(["--generation-database", "none", "--no-color"])
        .output()
        .expect("schemathesis runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found failures ({:?}):\n{report}",
        out.status
    );
    // It really ran: every operation of the three tables (rows, a row, import), in every
    // phase.
    assert!(report.contains("19 selected / 19 total"), "{report}");
    for phase in ["Examples", "Coverage", "Fuzzing", "Stateful"] {
        assert!(
            report.contains(&format!("✅ {phase}")),
            "{phase}:\n{report}"
        );
    }
    eprintln!(
        "schemathesis on {backend:?}: {:.0?}\n{report}",
        started.elapsed()
    );
}
