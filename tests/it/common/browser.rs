//! The browser tests' set-up, in one place: a chromedriver of its own per test (with a
//! fresh Chromium profile), a headless Chromium session, signing in as the administrator,
//! and the waits and clicks every browser test uses. Debian's `chromium` and
//! `chromium-driver` drive it over WebDriver.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

use crate::common::{self, ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD, TestApp};

pub(crate) struct Driver {
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

pub(crate) async fn start_driver() -> Driver {
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

pub(crate) async fn browser(driver: &Driver) -> fantoccini::Client {
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

pub(crate) async fn fill(c: &fantoccini::Client, id: &str, value: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .send_keys(value)
        .await
        .unwrap();
}

/// Wait until the page's heading reads `expected` (a click's navigation is asynchronous:
/// the old page may still be there, or be going away, when we first look).
pub(crate) async fn wait_heading(c: &fantoccini::Client, expected: &str) {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok(h) = c.find(Locator::Css("main h1")).await
            && let Ok(text) = h.text().await
        {
            if text == expected {
                return;
            }
            last = text;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected the heading {expected:?}, still {last:?}");
}

pub(crate) async fn sign_in(c: &fantoccini::Client, app: &TestApp) {
    c.goto(&app.url("/login")).await.unwrap();
    wait_heading(c, "Sign in").await;
    fill(c, "email", ADMIN_EMAIL).await;
    fill(c, "password", ADMIN_PASSWORD).await;
    c.find(Locator::Css("form[action='/login'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_heading(c, &format!("Welcome, {ADMIN_NAME}")).await;
}

pub(crate) async fn eval(c: &fantoccini::Client, js: &str) -> serde_json::Value {
    c.execute(js, vec![]).await.unwrap()
}

/// Poll a JavaScript condition until it is true.
pub(crate) async fn wait_js(c: &fantoccini::Client, condition: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if eval(c, &format!("return !!({condition})")).await == serde_json::json!(true) {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {condition}");
}

/// A chromedriver and a Chromium session signed in as the administrator (keep the driver
/// alive as long as the session).
pub(crate) async fn signed_in(app: &TestApp) -> (Driver, fantoccini::Client) {
    let driver = start_driver().await;
    let c = browser(&driver).await;
    sign_in(&c, app).await;
    (driver, c)
}

/// Go to `path` and wait until the page's heading reads `heading`.
pub(crate) async fn open(c: &fantoccini::Client, app: &TestApp, path: &str, heading: &str) {
    c.goto(&app.url(path)).await.unwrap();
    wait_heading(c, heading).await;
}

/// Click the element `locator` finds.
pub(crate) async fn click(c: &fantoccini::Client, locator: Locator<'_>) {
    c.find(locator).await.unwrap().click().await.unwrap();
}

/// The text of the element `locator` finds.
pub(crate) async fn text_of(c: &fantoccini::Client, locator: Locator<'_>) -> String {
    c.find(locator).await.unwrap().text().await.unwrap()
}
