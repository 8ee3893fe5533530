//! The test harness: the real application on 127.0.0.1:0 against a fresh database per
//! test (a temp SQLite file, or a new Postgres database dropped afterwards), and a client
//! that keeps cookies, does not follow redirects and knows how to post forms with CSRF.
#![allow(dead_code)]

use std::net::TcpListener;

use diesel::prelude::*;
use gatehouse::cli::args::Cli;
use gatehouse::config::Config;
use gatehouse::state::AppState;
use reqwest::header::HeaderMap;
use reqwest::{Response, StatusCode};

pub mod browser;
pub mod cluster;
pub mod server;
mod session;
pub use session::Session;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_NAME: &str = "Ada Admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
const SECRET_KEY: &str =
    "test-secret-key-test-secret-key-test-secret-key-test-secret-key-0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Run one async test body on both backends: `both_backends!(my_test);` makes
/// `my_test::sqlite` and `my_test::postgres` from `async fn my_test(backend: Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[actix_web::test]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    )*};
}

/// A database that exists for one test.
pub enum TestDb {
    Sqlite {
        dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

pub fn admin_connection() -> PgConnection {
    let admin_url = postgres_admin_url();
    PgConnection::establish(&admin_url).unwrap_or_else(|e| {
        panic!(
            "the Postgres tests need a running server: start one, or point TEST_POSTGRES_URL at one \
             (tried {admin_url}): {e}"
        )
    })
}

impl TestDb {
    pub fn create(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                TestDb::Sqlite { dir, url }
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let mut conn = admin_connection();
                let name = format!("gh_test_{}", uuid::Uuid::now_v7().simple());
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create test database");
                let mut url = url::Url::parse(&admin_url).expect("TEST_POSTGRES_URL is a URL");
                url.set_path(&name);
                TestDb::Postgres {
                    admin_url,
                    name,
                    url: url.to_string(),
                }
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres {
            admin_url, name, ..
        } = self
            && let Ok(mut conn) = PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub setup_token: Option<String>,
    pub state: AppState,
    pub caches: gatehouse::Caches,
    pub db: TestDb,
    pub data_dir: tempfile::TempDir,
    pub extra: Vec<String>,
    pub handle: actix_web::dev::ServerHandle,
}

/// Another instance of a `TestApp` (`TestApp::twin`).
pub struct Twin {
    pub base: String,
    _handle: actix_web::dev::ServerHandle,
    _dir: tempfile::TempDir,
}

impl Twin {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub fn config_for(db_url: &str, data_dir: &std::path::Path, extra: &[String]) -> Config {
    use clap::Parser;
    let mut args: Vec<String> = [
        "gatehouse",
        "--database-url",
        db_url,
        "--data-dir",
        data_dir.to_str().expect("utf-8 temp path"),
        "--listen",
        "127.0.0.1:0",
        "--secret-key",
        SECRET_KEY,
        "--pool-size",
        "4",
        "--workers",
        "1",
        "--log",
        "warn",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().cloned());
    let cli = Cli::try_parse_from(args).expect("test arguments parse");
    Config::from_settings(&cli.settings, true).expect("test configuration is valid")
}

async fn start(
    db_url: &str,
    data_dir: &std::path::Path,
    extra: &[String],
) -> (gatehouse::Running, String) {
    let config = config_for(db_url, data_dir, extra);
    let state = actix_web::web::block(move || gatehouse::prepare(config))
        .await
        .expect("prepare task")
        .expect("prepare");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let running = gatehouse::start(state, Some(listener)).expect("start");
    let base = format!("http://{}", running.addr);
    (running, base)
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, &[]).await
    }

    /// Start with extra command-line flags, e.g. `&["--session-idle-timeout", "2s"]`.
    pub async fn spawn_with(backend: Backend, extra: &[&str]) -> TestApp {
        let db = TestDb::create(backend);
        let data_dir = tempfile::tempdir().expect("temp dir");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (running, base) = start(db.url(), data_dir.path(), &extra).await;
        let handle = running.server.handle();
        actix_web::rt::spawn(running.server);
        TestApp {
            base,
            client: new_client(),
            setup_token: running.setup_token,
            state: running.state,
            caches: running.caches,
            db,
            data_dir,
            extra,
            handle,
        }
    }

    /// Stop the server and start a new one on the same database and key: what a restart does.
    pub async fn restart(&mut self) {
        self.handle.stop(true).await;
        let (running, base) = start(self.db.url(), self.data_dir.path(), &self.extra).await;
        self.handle = running.server.handle();
        actix_web::rt::spawn(running.server);
        self.base = base;
        self.setup_token = running.setup_token;
        self.state = running.state;
        self.caches = running.caches;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A second instance on the same database and key (another port on the same host, so
    /// the client's cookies go to both).
    pub async fn twin(&self) -> Twin {
        let dir = tempfile::tempdir().expect("temp dir");
        let (running, base) = start(self.db.url(), dir.path(), &self.extra).await;
        let handle = running.server.handle();
        actix_web::rt::spawn(running.server);
        Twin {
            base,
            _handle: handle,
            _dir: dir,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = self.client.get(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("GET")
    }

    /// A tab on the app with this app's client (and so its cookies).
    pub fn session(&self) -> Session<'_> {
        Session::of(self, &self.client)
    }

    /// The CSRF token of the page at `path` (from its `<meta name="csrf-token">`).
    pub async fn csrf(&self, path: &str) -> String {
        self.session().csrf(path).await
    }

    /// Post a form as a browser would: with the token of the page that shows it.
    pub async fn post_form(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        self.session().post_form(page, action, fields).await
    }

    pub async fn post_raw(
        &self,
        action: &str,
        fields: &[(&str, &str)],
        headers: HeaderMap,
    ) -> Response {
        self.client
            .post(self.url(action))
            .headers(headers)
            .form(fields)
            .send()
            .await
            .expect("POST")
    }

    /// Complete first-run setup; the client is then signed in as the administrator.
    pub async fn setup_admin(&self) {
        let token = self
            .setup_token
            .clone()
            .expect("a fresh app has a setup token");
        let page = format!("/setup?token={token}");
        let res = self
            .post_form(
                &page,
                "/setup",
                &[
                    ("token", &token),
                    ("email", ADMIN_EMAIL),
                    ("display_name", ADMIN_NAME),
                    ("password", ADMIN_PASSWORD),
                    ("password_confirm", ADMIN_PASSWORD),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "setup should succeed");
        assert_eq!(location(&res), "/");
    }

    /// An operator with `role` and `password`, made in the database, signed in on a client
    /// of their own.
    pub async fn operator(&self, email: &str, role: &str, password: &str) -> reqwest::Client {
        {
            let mut conn = self.db_conn();
            let hash = gatehouse::identity::password::hash(password).unwrap();
            let new = gatehouse::identity::users::NewUser {
                email,
                display_name: email,
                password_hash: &hash,
                role,
            };
            gatehouse::identity::users::insert(&mut conn, new, gatehouse::db::now()).unwrap();
        }
        let client = new_client();
        Session::of(self, &client).sign_in(email, password).await;
        client
    }

    /// Create the custom role `name` through its form, as the signed-in administrator, with
    /// `rights` (form fields such as `("t.people.r", "on")` or `("h.people", "bio")`).
    pub async fn create_role(&self, name: &str, rights: &[(&str, &str)]) {
        let mut fields = vec![("name", name)];
        fields.extend_from_slice(rights);
        let res = self.post_form("/roles/new", "/roles", &fields).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "role {name} created");
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.session().sign_in(email, password).await
    }

    pub async fn logout(&self) -> Response {
        self.post_form("/", "/logout", &[]).await
    }

    /// The value of the session cookie the client holds (read back from a Set-Cookie).
    pub fn db_conn(&self) -> impl std::ops::DerefMut<Target = gatehouse::db::DbConn> {
        self.state.db.conn().expect("database connection")
    }
}

impl TestApp {
    /// Run SQL on the app's database (DDL for a test schema), then make the app read the
    /// schema again.
    pub fn sql(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        let mut conn = self.db_conn();
        conn.batch_execute(sql)
            .unwrap_or_else(|e| panic!("test SQL failed: {e}\n{sql}"));
        self.caches
            .catalog
            .reload(&mut conn)
            .expect("catalog reload");
    }

    /// Submit the record form at `path` as a browser would: with its CSRF token and the
    /// row version it was shown with.
    pub async fn edit(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.session().edit(path, fields).await
    }

    /// Load the demo shop into the app's database.
    pub fn demo(&self, orders: u64) {
        let mut conn = self.db_conn();
        gatehouse::data::demo::load(&mut conn, orders, false, &[]).expect("demo loads");
        self.caches
            .catalog
            .reload(&mut conn)
            .expect("catalog reload");
    }

    /// One value of one row, read directly from the database as text.
    pub fn scalar(&self, sql: &str) -> Option<String> {
        let mut conn = self.db_conn();
        let mut q = gatehouse::engine::sql::Sql::new(self.state.db.backend());
        q.push(sql);
        let rows = q.load(&mut conn).unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_text())
    }

    pub fn backend(&self) -> Backend {
        match self.state.db.backend() {
            gatehouse::db::Backend::Sqlite => Backend::Sqlite,
            gatehouse::db::Backend::Postgres => Backend::Postgres,
        }
    }
}

pub fn csrf_in(body: &str) -> Option<String> {
    let start =
        body.find("name=\"csrf-token\" content=\"")? + "name=\"csrf-token\" content=\"".len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_string())
}

pub fn location(res: &Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The value a response sets for cookie `name`, if it sets one.
pub fn set_cookie(res: &Response, name: &str) -> Option<String> {
    res.headers().get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let (pair, _) = v.split_once(';').unwrap_or((v, ""));
        let (k, val) = pair.split_once('=')?;
        (k == name).then(|| val.to_string())
    })
}
