//! The real binary for fault tests: started on a prepared database (optionally as an
//! unprivileged user, so file modes bind it even when the tests run as root), its log kept
//! line by line, and a signed-in client.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode};

use crate::common::{ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD, csrf_in, new_client};

pub const KEY: &str = "fault-test-secret-key-fault-test-secret-key-fault-test-secret-key-0123";

/// The uid and gid the server runs as when file modes must bind it (`nobody`).
pub const NOBODY: u32 = 65534;

/// Whether the tests run as root: then the server is started as `NOBODY` for file modes to
/// mean anything to it.
pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Migrate `db_url` and create the administrator with the real binary.
pub fn prepare(db_url: &str, data_dir: &Path) {
    let url = gatehouse::db::DatabaseUrl::parse(db_url).unwrap();
    gatehouse::db::migrate::run(&url).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["user", "create", "--admin", "--password-stdin"])
        .args(["--email", ADMIN_EMAIL, "--name", ADMIN_NAME])
        .args(["--database-url", db_url, "--secret-key", KEY])
        .arg("--data-dir")
        .arg(data_dir)
        .env("GATEHOUSE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{ADMIN_PASSWORD}").unwrap();
    assert!(child.wait().unwrap().success(), "user create");
}

pub struct Server {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Start the binary on `db_url` with `extra` flags, as `NOBODY` when `as_nobody`.
    pub async fn start(db_url: &str, data_dir: &Path, extra: &[&str], as_nobody: bool) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = if as_nobody {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--",
                env!("CARGO_BIN_EXE_gatehouse"),
            ]);
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        };
        let mut child = cmd
            .args(["--database-url", db_url, "--secret-key", KEY])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--workers", "1"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env(
                "GATEHOUSE_LOG",
                std::env::var("FAULT_LOG").unwrap_or("info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the binary");
        let log = Arc::new(Mutex::new(Vec::new()));
        let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
        let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
        for pipe in [out, err] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: new_client(),
            log,
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&self) {
        let start = Instant::now();
        loop {
            let res = reqwest::get(self.url("/healthz")).await;
            if res.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the binary did not start:\n{}",
                self.log().join("\n")
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every line the binary has written so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// How many log lines contain `words`.
    pub fn logged(&self, words: &str) -> usize {
        self.log().iter().filter(|l| l.contains(words)).count()
    }

    /// Wait (up to 5 s) for a log line to contain `words`: lines reach the pipe a little
    /// after the response.
    pub async fn wait_logged(&self, words: &str) -> usize {
        let start = Instant::now();
        while self.logged(words) == 0 && start.elapsed() < Duration::from_secs(5) {
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        self.logged(words)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn csrf(&self, path: &str) -> String {
        self.csrf_as(&self.client, path).await
    }

    async fn csrf_as(&self, client: &reqwest::Client, path: &str) -> String {
        let res = client.get(self.url(path)).send().await.unwrap();
        let page = res.text().await.unwrap();
        csrf_in(&page).unwrap_or_else(|| panic!("no csrf token on {path}: {page}"))
    }

    /// Post a form with the token of the page that shows it.
    pub async fn post_form(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        self.post_form_as(&self.client, page, action, fields).await
    }

    /// Post a form from another browser (`client`, with its own cookies).
    pub async fn post_form_as(
        &self,
        client: &reqwest::Client,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let token = self.csrf_as(client, page).await;
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        client
            .post(self.url(action))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Post a form as htmx does: the token in a header, `HX-Request` set.
    pub async fn post_htmx(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf(page).await;
        let mut headers = HeaderMap::new();
        headers.insert("x-csrf-token", HeaderValue::from_str(&token).unwrap());
        headers.insert("hx-request", HeaderValue::from_static("true"));
        self.client
            .post(self.url(action))
            .headers(headers)
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_in(&self) {
        let res = self
            .post_form(
                "/login",
                "/login",
                &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-in");
    }

    /// Create an API token through its page, as an administrator does; returns its value.
    pub async fn token(&self) -> String {
        let res = self
            .post_form(
                "/integrations/tokens",
                "/integrations/tokens",
                &[
                    ("name", "faults"),
                    ("role", "admin"),
                    ("expires_days", "90"),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        let marker = "id=\"new-token\">";
        let start = page.find(marker).expect("the new token is shown") + marker.len();
        page[start..start + page[start..].find('<').unwrap()].to_string()
    }

    pub fn api(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    /// Send SIGTERM (a graceful stop), without waiting.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM");
    }

    /// Wait (up to `within`) for the server to exit by itself after `terminate`; how it
    /// exited. Panics (and the drop kills it) if it does not.
    pub async fn exited(mut self, within: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < within,
                "{} did not exit within {within:?} of SIGTERM:\n{}",
                self.base,
                self.log().join("\n")
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stop the server and wait for it to exit.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if start.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
