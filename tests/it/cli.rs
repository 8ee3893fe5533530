//! The real binary: configuration errors, check-config, migrate, user create, a database
//! that cannot be reached, first start in an empty directory and graceful shutdown.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::common::{self, Backend, TestApp, location};

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-key";

fn gatehouse() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    // Nothing from the developer's environment leaks into these runs.
    for (k, _) in std::env::vars() {
        if k.starts_with("GATEHOUSE_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn run_with_stdin(mut cmd: Command, input: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn gatehouse");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn configuration_errors_are_reported_together() {
    let out = gatehouse()
        .args([
            "check-config",
            "--listen",
            "nowhere",
            "--secret-key",
            "short",
            "--pool-size",
            "0",
        ])
        .args(["--database-url", "mysql://localhost/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("--listen"), "{err}");
    assert!(err.contains("at least 64 bytes"), "{err}");
    assert!(err.contains("--pool-size"), "{err}");
    assert!(err.contains("no supported scheme"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn check_config_prints_the_effective_configuration_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let out = gatehouse()
        .current_dir(dir.path())
        .args(["check-config", "--public-url", "https://admin.example.com"])
        .env(
            "GATEHOUSE_DATABASE_URL",
            "postgres://gh:hunter2@db.internal:5432/shop",
        )
        .env("GATEHOUSE_SECRET_KEY", KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("postgres://gh:********@db.internal:5432/shop"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2"));
    assert!(!stdout.contains(KEY));
    assert!(stdout.contains("secure cookies         true"), "{stdout}");
    assert!(stdout.contains("configuration is valid"));
    assert!(
        !dir.path().join("gatehouse-data").exists(),
        "check-config writes nothing"
    );
}

#[test]
fn help_documents_every_flag_and_its_environment_variable() {
    let out = gatehouse().arg("--help").output().unwrap();
    let help = text(&out.stdout);
    for var in [
        "GATEHOUSE_DATABASE_URL",
        "GATEHOUSE_DATA_DIR",
        "GATEHOUSE_LISTEN",
        "GATEHOUSE_PUBLIC_URL",
        "GATEHOUSE_SECRET_KEY",
        "GATEHOUSE_SECRET_KEY_FILE",
        "GATEHOUSE_SESSION_IDLE_TIMEOUT",
        "GATEHOUSE_SESSION_LIFETIME",
        "GATEHOUSE_POOL_SIZE",
        "GATEHOUSE_WORKERS",
        "GATEHOUSE_MAX_BODY_BYTES",
        "GATEHOUSE_LOG",
        "GATEHOUSE_LOG_FORMAT",
        "GATEHOUSE_API_RATE_LIMIT",
        "GATEHOUSE_WEBHOOK_ALLOW_PRIVATE",
        "GATEHOUSE_WEBHOOK_RETRY_SCHEDULE",
        "GATEHOUSE_WEBHOOK_DISABLE_AFTER",
        "GATEHOUSE_WEBHOOK_LEASE",
    ] {
        assert!(help.contains(var), "--help mentions {var}");
    }
    for sub in ["serve", "migrate", "user", "check-config", "demo"] {
        assert!(help.contains(sub), "--help lists {sub}");
    }
}

/// Issue 9, newcomer 7: a subcommand's help lists its own options, not every setting, and
/// `[env: GATEHOUSE_X]` never shows a value (an unset variable must not read as set to "").
#[test]
fn each_subcommand_help_lists_only_its_own_options() {
    let help = |args: &[&str]| {
        let out = gatehouse()
            .args(args)
            .arg("--help")
            .env("GATEHOUSE_LISTEN", "127.0.0.1:9")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let create = help(&["user", "create"]);
    for own in [
        "--email",
        "--name",
        "--admin",
        "--role",
        "--password-stdin",
        "--help",
    ] {
        assert!(
            create.contains(own),
            "user create --help lists {own}: {create}"
        );
    }
    let cases: [(&[&str], &[&str]); 7] = [
        (&["user", "create"], &["--email"]),
        (
            &["user", "reset-password"],
            &["--email", "--password-stdin"],
        ),
        (&["user"], &["create", "reset-password"]),
        (&["serve"], &[]),
        (&["migrate"], &[]),
        (&["check-config"], &["--connect"]),
        (&["demo"], &["--orders", "--force"]),
    ];
    for (args, own) in cases {
        let h = help(args);
        for o in own {
            assert!(h.contains(o), "{args:?} --help lists {o}: {h}");
        }
        for setting in [
            "--database-url",
            "--listen",
            "--pool-size",
            "--webhook-lease",
            "GATEHOUSE_",
        ] {
            assert!(
                !h.contains(setting),
                "{args:?} --help does not list {setting}: {h}"
            );
        }
        assert!(
            h.contains("gatehouse --help"),
            "{args:?} --help points at the settings"
        );
    }
    let top = help(&[]);
    assert!(top.contains("[env: GATEHOUSE_PUBLIC_URL]"), "{top}");
    assert!(top.contains("[env: GATEHOUSE_LISTEN]"), "{top}");
    assert!(!top.contains("=]"), "no empty value shown: {top}");
    assert!(!top.contains("127.0.0.1:9]"), "no value shown: {top}");

    // The settings still apply after a subcommand, as before.
    let out = gatehouse()
        .args([
            "check-config",
            "--listen",
            "127.0.0.1:9999",
            "--secret-key",
            KEY,
        ])
        .args(["--database-url", "sqlite://./x.db"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("127.0.0.1:9999"));
}

/// Issue 9, newcomer 5: the first-run mistakes each get a message that says what to do.
#[test]
fn first_run_mistakes_get_messages_that_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/g.db", dir.path().display());
    let mut cmd = gatehouse();
    cmd.args(["user", "create", "--email", "a@example.com", "--name", "A"])
        .args(["--admin", "--password-stdin", "--secret-key", KEY])
        .args(["--database-url", &db]);
    let out = run_with_stdin(cmd, "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no password on standard input"),
        "{}",
        text(&out.stderr)
    );

    let out = gatehouse()
        .args(["check-config", "--secret-key", KEY])
        .args(["--database-url", "/srv/gatehouse/app.db"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("'/srv/gatehouse/app.db' has no supported scheme"),
        "{err}"
    );
    assert!(err.contains("sqlite:///srv/gatehouse/app.db"), "{err}");

    let missing = dir.path().join("no-such-dir");
    let out = gatehouse()
        .current_dir(dir.path())
        .args(["migrate", "--secret-key", KEY])
        .args([
            "--database-url",
            &format!("sqlite://{}/g.db", missing.display()),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("does not exist"), "{err}");
    assert!(!missing.exists(), "nothing created");
}

#[test]
fn an_unreachable_database_gives_one_clear_line() {
    for sub in ["migrate", "serve"] {
        let out = gatehouse()
            .args([
                sub,
                "--database-url",
                "postgres://postgres@127.0.0.1:1/gatehouse",
                "--secret-key",
                KEY,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{sub}");
        let err = text(&out.stderr);
        let line = err
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_else(|| panic!("{err}"));
        assert!(line.contains("127.0.0.1"), "{line}");
        assert!(line.contains("port 1"), "{line}");
        assert!(line.contains("Connection refused"), "{line}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn migrate_applies_once_then_finds_nothing_pending() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let first = gatehouse()
        .args(["migrate", "--database-url", &url, "--secret-key", KEY])
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(text(&first.stdout).contains("applied 20261125000001"));
    let second = gatehouse()
        .args(["migrate", "--database-url", &url, "--secret-key", KEY])
        .output()
        .unwrap();
    assert!(text(&second.stdout).contains("no pending migrations"));
}

both_backends!(user_create_makes_an_operator_who_can_sign_in);

async fn user_create_makes_an_operator_who_can_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.setup_token.clone().unwrap();
    let create = |email: &str, password: &str| {
        let mut cmd = gatehouse();
        cmd.args([
            "user",
            "create",
            "--email",
            email,
            "--name",
            "Scripted Admin",
            "--admin",
            "--password-stdin",
        ])
        .args(["--database-url", app.db.url(), "--secret-key", KEY]);
        run_with_stdin(cmd, &format!("{password}\n"))
    };

    let weak = create("ops@example.com", "short");
    assert!(!weak.status.success());
    assert!(text(&weak.stderr).contains("at least 12 characters"));

    let ok = create("Ops@Example.com", "a sufficiently long password");
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("created ops@example.com"));

    let dup = create("OPS@example.com", "a sufficiently long password");
    assert!(!dup.status.success());
    assert!(text(&dup.stderr).contains("already exists"));

    // The operator signs in, and the setup link no longer works.
    let res = app
        .login("ops@example.com", "a sufficiently long password")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/");
    assert!(
        app.get("/")
            .await
            .text()
            .await
            .unwrap()
            .contains("Scripted Admin")
    );
    assert_eq!(
        app.get(&format!("/setup?token={token}")).await.status(),
        StatusCode::NOT_FOUND
    );

    // reset-password ends the operator's sessions.
    let mut cmd = gatehouse();
    cmd.args([
        "user",
        "reset-password",
        "--email",
        "ops@example.com",
        "--password-stdin",
    ])
    .args(["--database-url", app.db.url(), "--secret-key", KEY]);
    let out = run_with_stdin(cmd, "another sufficiently long one\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("1 session(s) ended"));
    // The server may serve a session from its short-lived cache for up to two seconds
    // after another process ended it.
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
    let res = app
        .login("ops@example.com", "another sufficiently long one")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[actix_web::test]
async fn first_start_in_an_empty_directory_creates_everything_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = gatehouse()
        .current_dir(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = common::new_client();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let started = Instant::now();
    loop {
        if let Ok(res) = client.get(&url).send().await
            && res.status() == StatusCode::OK
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not come up"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let data = dir.path().join("gatehouse-data");
    assert!(data.join("gatehouse.db").exists());
    let key = std::fs::metadata(data.join("secret.key")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert!(key.len() >= 64);

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "graceful exit: {:?}", out.status);
    let log = text(&out.stderr);
    assert!(
        log.contains("/setup?token="),
        "the setup URL is logged: {log}"
    );
    assert!(log.contains("stopped"));
}
