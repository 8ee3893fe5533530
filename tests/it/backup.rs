//! `gatehouse backup` and `serve --backup-every`: an online copy of SQLite taken while the
//! real binary serves writes, verified and complete; no overwriting without --force; the
//! pg_dump advice on Postgres; and the schedule keeping the newest N, one writer at a time.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::StatusCode;

use crate::common::{Backend, TestApp, TestDb};

const KEY: &str = "backup-test-key-backup-test-key-backup-test-key-backup-test-key-012345";
const API_TOKEN: &str = "ghp_backuptestbackuptestbackuptest";

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

fn backup(db_url: &str, to: &Path, force: bool) -> Output {
    let mut cmd = gatehouse();
    cmd.args(["backup", "--database-url", db_url, "--secret-key", KEY])
        .arg("--to")
        .arg(to);
    if force {
        cmd.arg("--force");
    }
    cmd.output().unwrap()
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Open a copy as SQLite, check its integrity, and count the rows of `table`.
fn verify_copy(path: &Path, table: &str) -> i64 {
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let lines: Vec<Line> =
        diesel::sql_query("SELECT integrity_check AS line FROM pragma_integrity_check")
            .load(&mut conn)
            .unwrap();
    assert_eq!(
        lines.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(),
        ["ok"],
        "integrity of {}",
        path.display()
    );
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[actix_web::test]
async fn a_backup_taken_while_the_server_writes_is_consistent_and_verified() {
    use diesel::connection::SimpleConnection;
    let db = TestDb::create(Backend::Sqlite);
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    gatehouse::db::migrate::run(&url).unwrap();
    url.connect()
        .unwrap()
        .batch_execute(&format!(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
               INSERT INTO people (name) SELECT 'person ' || i FROM n;
             INSERT INTO gh_api_tokens (id, name, prefix, token_hash, role, created_by_email, created_at)
               VALUES ('tok', 'backup', 'ghp_backu', '{}', 'admin', 'test', CURRENT_TIMESTAMP);",
            gatehouse::db::secrets::sha256_hex(API_TOKEN)
        ))
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = gatehouse()
        .args([
            "--database-url",
            db.url(),
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

    // A writer keeps creating rows through the API during the whole backup.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, written, base) = (stop.clone(), written.clone(), base.clone());
        actix_web::rt::spawn(async move {
            let client = reqwest::Client::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let res = client
                    .post(format!("{base}/api/v1/tables/people/rows"))
                    .bearer_auth(API_TOKEN)
                    .json(&serde_json::json!({ "name": format!("during {i}") }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    res.status(),
                    StatusCode::CREATED,
                    "a write during the backup"
                );
                written.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        })
    };
    while written.load(Ordering::Relaxed) < 5 {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let (db_url, c) = (db.url().to_string(), copy.clone());
    let out = actix_web::web::block(move || backup(&db_url, &c, false))
        .await
        .unwrap();
    let during = written.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let _ = server.kill();
    let _ = server.wait();

    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("verifying the copy"), "{stdout}");
    assert!(stdout.contains("integrity ok"), "{stdout}");
    let rows = verify_copy(&copy, "people");
    assert!(
        rows >= 20_005 && rows <= 20_000 + during as i64 + 1,
        "the copy holds the rows written before it ({rows}, {during} written meanwhile)"
    );
    assert_eq!(verify_copy(&copy, "gh_api_tokens"), 1);
    // Nothing but the copy was left in its directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn backup_refuses_to_overwrite_a_file_unless_forced() {
    let db = TestDb::create(Backend::Sqlite);
    gatehouse::db::migrate::run(&gatehouse::db::DatabaseUrl::parse(db.url()).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("existing.db");
    std::fs::write(&target, "precious").unwrap();

    let refused = backup(db.url(), &target, false);
    assert_eq!(refused.status.code(), Some(1));
    let err = text(&refused.stderr);
    assert!(
        err.contains("exists already") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    let forced = backup(db.url(), &target, true);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert_eq!(verify_copy(&target, "gh_users"), 0);

    let missing = backup(
        &format!("sqlite://{}", dir.path().join("nothing.db").display()),
        &dir.path().join("copy.db"),
        false,
    );
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("no SQLite database"));
    assert!(!dir.path().join("nothing.db").exists());
}

#[test]
fn backup_on_postgres_prints_the_pg_dump_command_without_the_password() {
    let out = backup(
        "postgres://gh:hunter2@db.internal:5432/shop",
        Path::new("/var/backups/shop.dump"),
        false,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "pg_dump --format=custom --file='/var/backups/shop.dump' 'postgres://gh@db.internal:5432/shop'"
        ),
        "{err}"
    );
    assert!(err.contains("pg_basebackup"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    // The schedule is refused on Postgres at configuration time.
    let out = gatehouse()
        .args(["check-config", "--secret-key", KEY, "--backup-every", "24h"])
        .args(["--database-url", "postgres://gh@db.internal:5432/shop"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("SQLite database only"));
}

fn backups_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                // Finished backups only: not the lock, not a copy still being written.
                .filter(|n| !n.starts_with('.') && n.ends_with(".db"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < Duration::from_secs(20), "{what}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn scheduled_backups_keep_the_newest_n_one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            "--backup-every",
            "1s",
            "--backup-keep",
            "2",
            "--backup-dir",
            backups.to_str().unwrap(),
        ],
    )
    .await;
    app.setup_admin().await;

    // The first comes at once (none existed); then one a second, the oldest deleted.
    wait_until("a first backup", || !backups_in(&backups).is_empty()).await;
    let first = backups_in(&backups)[0].clone();
    assert!(
        first.starts_with("gatehouse-") && first.ends_with("Z.db"),
        "{first}"
    );
    wait_until("the first backup deleted", || {
        let now = backups_in(&backups);
        !now.contains(&first) && now.len() == 2
    })
    .await;

    // While another instance holds the lock, no backup is written (nor pruned).
    let lock = std::fs::File::open(backups.join(".gatehouse-backup.lock")).unwrap();
    lock.lock().unwrap();
    let held = backups_in(&backups);
    assert_eq!(held.len(), 2, "{held:?}");
    for name in &held {
        assert_eq!(verify_copy(&backups.join(name), "gh_users"), 1);
    }
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(backups_in(&backups), held, "no backup under another's lock");
    lock.unlock().unwrap();
    // They resume, and the oldest is pruned again (right after each new one is in place).
    wait_until("backups resume after the lock is released", || {
        let now = backups_in(&backups);
        now.last() != held.last() && now.len() == 2
    })
    .await;
}
