//! End to end in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! driven over WebDriver): complete setup, sign out, sign in, see the home page.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD, Backend, TestApp};
use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "the browser test needs Debian's chromium and chromium-driver \
                 (apt-get install chromium chromium-driver); starting chromedriver failed: {e}"
            )
        });
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let probe = common::new_client();
    while probe.get(format!("{url}/status")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    Driver {
        child,
        url,
        _profile: tempfile::tempdir().unwrap(),
    }
}

async fn browser(driver: &Driver) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", "--no-first-run",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ]
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

async fn fill(c: &fantoccini::Client, id: &str, value: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .send_keys(value)
        .await
        .unwrap();
}

async fn heading(c: &fantoccini::Client) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("main h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[actix_web::test]
async fn an_operator_sets_up_signs_out_and_signs_in_again_in_a_real_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let driver = start_driver().await;
    let c = browser(&driver).await;

    let token = app.setup_token.clone().unwrap();
    c.goto(&app.url(&format!("/setup?token={token}")))
        .await
        .unwrap();
    assert_eq!(heading(&c).await, "Create the first administrator");
    fill(&c, "email", ADMIN_EMAIL).await;
    fill(&c, "display_name", ADMIN_NAME).await;
    fill(&c, "password", ADMIN_PASSWORD).await;
    fill(&c, "password_confirm", ADMIN_PASSWORD).await;
    c.find(Locator::Css("form[action='/setup'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(heading(&c).await, format!("Welcome, {ADMIN_NAME}"));
    assert!(
        c.source()
            .await
            .unwrap()
            .contains("Your administrator account is ready")
    );

    // Our scripts ran under the Content-Security-Policy: htmx is loaded.
    let htmx = c
        .execute("return typeof window.htmx", vec![])
        .await
        .unwrap();
    assert_eq!(htmx, serde_json::json!("object"));

    c.find(Locator::Css("form[action='/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(heading(&c).await, "Sign in");
    assert!(
        c.source()
            .await
            .unwrap()
            .contains("You have been signed out.")
    );

    fill(&c, "email", ADMIN_EMAIL).await;
    fill(&c, "password", "a wrong password!").await;
    c.find(Locator::Css("form[action='/login'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".form-error"))
        .await
        .unwrap();

    let password = c.find(Locator::Id("password")).await.unwrap();
    password.clear().await.unwrap();
    password.send_keys(ADMIN_PASSWORD).await.unwrap();
    c.find(Locator::Css("form[action='/login'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(heading(&c).await, format!("Welcome, {ADMIN_NAME}"));
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/");

    c.close().await.unwrap();
}
