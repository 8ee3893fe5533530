//! `gatehouse transfer` between the backends, both ways, on the real binary: the state
//! arrives (an operator signs in with the old password, an API token works, the webhook
//! endpoint keeps its sealed secret), sessions stay behind, and a target with operators is
//! refused unless --force (which replaces, never duplicates).

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::common::{self, Backend, TestDb, csrf_in};

both_backends!(
    transfer_moves_the_state_to_the_other_backend,
    every_gatehouse_table_is_either_copied_or_cleared
);

const KEY: &str = "transfer-test-key-transfer-test-key-transfer-test-key-transfer-test-0123";
const API_TOKEN: &str = "ghp_transfertesttransfertesttransfer";
const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "a sufficiently long password";

fn gatehouse() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (k, _) in std::env::vars() {
        if k.starts_with("GATEHOUSE_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn transfer(from: &str, to: &str, force: bool) -> Output {
    let mut cmd = gatehouse();
    cmd.args(["transfer", "--from", from, "--to", to]);
    if force {
        cmd.arg("--force");
    }
    cmd.output().unwrap()
}

fn scalar(url: &str, sql: &str) -> String {
    let url = gatehouse::db::DatabaseUrl::parse(url).unwrap();
    let mut conn = url.connect().unwrap();
    let mut q = gatehouse::engine::sql::Sql::new(url.backend());
    q.push(sql);
    q.load(&mut conn).unwrap()[0][0]
        .as_text()
        .unwrap_or_default()
}

/// An installation with an operator (made by `gatehouse user create`), a session, a
/// custom role that may share views, a saved view shared with it, an API token, a webhook
/// endpoint with a sealed secret and audit entries (one through a token).
fn populate(db: &TestDb) {
    use diesel::connection::SimpleConnection;
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    gatehouse::db::migrate::run(&url).unwrap();
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
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sealed = gatehouse::db::secrets::Sealer::new(KEY.as_bytes())
        .seal(&gatehouse::integrations::signing::new_secret())
        .unwrap();
    url.connect()
        .unwrap()
        .batch_execute(&format!(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             INSERT INTO people (id, name) VALUES (1, 'Ada');
             INSERT INTO gh_webhook_endpoints (id, url, role, enabled, secret_enc, created_at, events)
               VALUES ('ep', 'https://hooks.example.com/in', 'admin', FALSE, '{sealed}', CURRENT_TIMESTAMP, '[\"*:*\"]');
             INSERT INTO gh_api_tokens (id, name, prefix, token_hash, role, created_by_email, created_at)
               VALUES ('tok', 'moved', 'ghp_trans', '{}', 'admin', 'test', CURRENT_TIMESTAMP);
             INSERT INTO gh_audit (id, created_at, user_email, action, table_name, row_key, changes)
               VALUES ('a1', CURRENT_TIMESTAMP, 'test', 'test', 'people', '1', '{{}}'),
                      ('a2', CURRENT_TIMESTAMP, 'test', 'test', 'people', '1', '{{}}');
             INSERT INTO gh_roles (name, description, builtin, default_actions, admin_areas, require_2fa, created_at, share_views)
               VALUES ('clerk', 'Front desk', FALSE, 'r', FALSE, FALSE, CURRENT_TIMESTAMP, TRUE);
             INSERT INTO gh_views (id, table_name, name, owner_id, query, created_at, updated_at)
               SELECT 7, 'people', 'Ada only', id, 'name__eq=Ada&sort=-id', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP
               FROM gh_users;
             INSERT INTO gh_view_roles (view_id, role_name) VALUES (7, 'clerk');
             UPDATE gh_audit SET via = 'api:moved' WHERE id = 'a2';
             INSERT INTO gh_sessions (id, user_id, created_at, last_seen_at, ip, user_agent, stage)
               SELECT 'old-session', id, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '127.0.0.1', 'test', 'full'
               FROM gh_users;
             INSERT INTO gh_sso_providers (id, name, issuer, client_id, client_secret_enc, created_at)
               VALUES ('idp', 'Corp', 'https://idp.example.com', 'gatehouse', '{sealed}', CURRENT_TIMESTAMP);
             INSERT INTO gh_sso_roles (role_name, require_sso, trust_provider_mfa) VALUES ('clerk', TRUE, FALSE);
             INSERT INTO gh_identities (id, user_id, provider_id, issuer, subject, email, created_at, last_used_at)
               SELECT 'ident', id, 'idp', 'https://idp.example.com', 'sub-1', email, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP
               FROM gh_users;
             INSERT INTO gh_dashboard_pins (id, owner_id, table_name, title, query, created_by, created_at)
               SELECT 'pin-mine', id, 'people', 'People by name', 'by=name', email, CURRENT_TIMESTAMP FROM gh_users;
             INSERT INTO gh_dashboard_pins (id, owner_id, table_name, title, query, created_by, created_at)
               VALUES ('pin-all', NULL, 'people', 'Everyone', '', 'ops@example.com', CURRENT_TIMESTAMP);
             INSERT INTO gh_api_rate (token_id, window_start, used) VALUES ('tok', 1, 5);",
            gatehouse::db::secrets::sha256_hex(API_TOKEN)
        ))
        .unwrap();
}

async fn transfer_moves_the_state_to_the_other_backend(backend: Backend) {
    let other = match backend {
        Backend::Sqlite => Backend::Postgres,
        Backend::Postgres => Backend::Sqlite,
    };
    let source = TestDb::create(backend);
    populate(&source);
    let target = TestDb::create(other);

    let out = transfer(source.url(), target.url(), false);
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    assert!(
        said.contains("gh_users") && said.contains("same secret key"),
        "{said}"
    );
    for table in gatehouse::ops::transfer::COPIED {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        assert_eq!(
            scalar(target.url(), &sql),
            scalar(source.url(), &sql),
            "{table} copied"
        );
    }
    assert_eq!(
        scalar(target.url(), "SELECT COUNT(*) FROM gh_sessions"),
        "0"
    );
    assert_eq!(
        scalar(target.url(), "SELECT COUNT(*) FROM gh_api_rate"),
        "0",
        "rate windows are running state"
    );
    // Pins keep their owner (or none: everyone's); SSO keeps the link and the sealed secret.
    assert_eq!(
        scalar(
            target.url(),
            "SELECT p.title || '|' || u.email FROM gh_dashboard_pins p JOIN gh_users u ON u.id = p.owner_id"
        ),
        format!("People by name|{EMAIL}")
    );
    assert_eq!(
        scalar(
            target.url(),
            "SELECT COUNT(*) FROM gh_dashboard_pins WHERE owner_id IS NULL AND title = 'Everyone'"
        ),
        "1"
    );
    assert_eq!(
        scalar(
            target.url(),
            "SELECT i.subject || '|' || p.name || '|' || u.email FROM gh_identities i JOIN gh_sso_providers p ON p.id = i.provider_id JOIN gh_users u ON u.id = i.user_id"
        ),
        format!("sub-1|Corp|{EMAIL}")
    );
    assert_eq!(
        scalar(
            target.url(),
            "SELECT COUNT(*) FROM gh_sso_providers WHERE client_secret_enc <> ''"
        ),
        "1"
    );
    // Saved views keep their number, query and sharing; the target's next view follows.
    assert_eq!(
        scalar(
            target.url(),
            "SELECT name || '|' || query || '|' || role_name FROM gh_views JOIN gh_view_roles ON view_id = id WHERE id = 7"
        ),
        "Ada only|name__eq=Ada&sort=-id|clerk"
    );
    assert_eq!(
        scalar(target.url(), "SELECT via FROM gh_audit WHERE id = 'a2'"),
        "api:moved"
    );
    assert_eq!(
        scalar(
            target.url(),
            "SELECT COUNT(*) FROM gh_roles WHERE share_views = TRUE AND name IN ('clerk', 'admin')"
        ),
        "2"
    );
    {
        use diesel::connection::SimpleConnection;
        gatehouse::db::DatabaseUrl::parse(target.url())
            .unwrap()
            .connect()
            .unwrap()
            .batch_execute(
                "INSERT INTO gh_views (table_name, name, owner_id, query, created_at, updated_at)
                 SELECT 'people', 'Next', id, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM gh_users",
            )
            .unwrap();
    }
    assert_eq!(
        scalar(target.url(), "SELECT id FROM gh_views WHERE name = 'Next'"),
        "8"
    );
    assert_eq!(
        scalar(
            target.url(),
            "SELECT COUNT(*) FROM gh_webhook_endpoints WHERE enabled = FALSE AND secret_enc <> ''"
        ),
        "1"
    );

    // Refused once the target has operators; --force replaces without duplicating.
    let again = transfer(source.url(), target.url(), false);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("--force"),
        "{}",
        text(&again.stderr)
    );
    // A copy that fails half-way (a unique index on the target refuses the source's second
    // audit row) leaves the target as it was.
    let target_sql = |sql: &str| {
        use diesel::connection::SimpleConnection;
        gatehouse::db::DatabaseUrl::parse(target.url())
            .unwrap()
            .connect()
            .unwrap()
            .batch_execute(sql)
            .unwrap()
    };
    target_sql(
        "INSERT INTO gh_settings (key, value, updated_at) VALUES ('marker', 'kept', CURRENT_TIMESTAMP);
         DELETE FROM gh_audit;
         CREATE UNIQUE INDEX test_one_per_action ON gh_audit (action);",
    );
    let failed = transfer(source.url(), target.url(), true);
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        text(&failed.stderr).contains("rolled back"),
        "{}",
        text(&failed.stderr)
    );
    let marker = "SELECT COUNT(*) FROM gh_settings WHERE key = 'marker'";
    assert_eq!(scalar(target.url(), marker), "1");
    assert_eq!(scalar(target.url(), "SELECT COUNT(*) FROM gh_users"), "1");
    target_sql("DROP INDEX test_one_per_action");

    let forced = transfer(source.url(), target.url(), true);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert_eq!(scalar(target.url(), "SELECT COUNT(*) FROM gh_users"), "1");
    assert_eq!(
        scalar(target.url(), marker),
        "0",
        "--force replaces the state"
    );

    // The target serves the moved state: the old password, the old API token.
    use diesel::connection::SimpleConnection;
    gatehouse::db::DatabaseUrl::parse(target.url())
        .unwrap()
        .connect()
        .unwrap()
        .batch_execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = gatehouse()
        .args([
            "--database-url",
            target.url(),
            "--secret-key",
            KEY,
            "--log",
            "warn",
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/healthz"))
        .await
        .ok()
        .map(|r| r.status())
        != Some(StatusCode::OK)
    {
        assert!(started.elapsed() < Duration::from_secs(20), "no server");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let client = common::new_client();
    let page = client
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_in(&page).unwrap();
    let signed_in = client
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", EMAIL),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let hooks = client
        .get(format!("{base}/integrations/webhooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(hooks.status(), StatusCode::OK);
    assert!(hooks.text().await.unwrap().contains("hooks.example.com"));
    let api = reqwest::Client::new()
        .get(format!("{base}/api/v1/tables"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    let _ = server.kill();
    let _ = server.wait();
}

/// A `gh_*` table added later must be placed: state to copy, or running state to clear.
async fn every_gatehouse_table_is_either_copied_or_cleared(backend: Backend) {
    use gatehouse::ops::transfer::{CLEARED, COPIED};
    let db = TestDb::create(backend);
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    gatehouse::db::migrate::run(&url).unwrap();
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'gh\\_%' ESCAPE '\\'"
        }
        Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'gh\\_%'"
        }
    };
    let mut conn = url.connect().unwrap();
    let mut q = gatehouse::engine::sql::Sql::new(url.backend());
    q.push(sql);
    let tables: Vec<String> = q
        .load(&mut conn)
        .unwrap()
        .into_iter()
        .filter_map(|r| r[0].as_text())
        .collect();
    assert!(tables.len() >= COPIED.len(), "{tables:?}");
    let unplaced: Vec<&String> = tables
        .iter()
        .filter(|t| !COPIED.contains(&t.as_str()) && !CLEARED.contains(&t.as_str()))
        .collect();
    assert!(
        unplaced.is_empty(),
        "add these to COPIED or CLEARED in src/ops/transfer.rs: {unplaced:?}"
    );
}
