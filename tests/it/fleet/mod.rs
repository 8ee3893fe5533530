//! Three instances of the real binary on one fresh Postgres database, and a client that
//! spreads its requests over them (issue 14, "Several instances on one Postgres"): they
//! migrate once, share sessions, tell each other at once what to forget (sign-out, disable,
//! role change, token revocation: well under the caches' 2-second expiry), share the
//! sign-in throttle and the API rate limit, and deliver every webhook event while they are
//! killed and restarted — exactly once when they are stopped gracefully (`graceful.rs`).

mod graceful;
mod notify;
mod webhooks;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::common::server::{Server, prepare};
use crate::common::{Backend, TestDb, new_client, set_cookie};

const OPERATOR: &str = "op@example.com";
const PASSWORD: &str = "wobbly giraffe paints violet harbours";
/// Well under the caches' two-second expiry: only a notification explains it.
const AT_ONCE: Duration = Duration::from_millis(500);
const RATE_LIMIT: u32 = 200;

const FLAGS: &[&str] = &[
    "--api-rate-limit",
    "200",
    "--webhook-allow-private",
    "--webhook-lease",
    "2s",
    "--webhook-retry-schedule",
    "200ms,200ms,200ms,200ms",
];

fn scalar(db: &TestDb, sql: &str) -> String {
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    let mut conn = url.connect().unwrap();
    let mut q = gatehouse::engine::sql::Sql::new(url.backend());
    q.push(sql);
    let rows = q.load(&mut conn).unwrap();
    rows.first()
        .and_then(|r| r[0].as_text())
        .unwrap_or_default()
}

fn exec(db: &TestDb, sql: &str) {
    use diesel::connection::SimpleConnection;
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    url.connect().unwrap().batch_execute(sql).unwrap();
}

/// Start instances at the same moment on `db`, each with its own data directory.
async fn start_together(db: &TestDb, dirs: &[&tempfile::TempDir]) -> Vec<Server> {
    let starts = dirs
        .iter()
        .map(|d| Server::start(db.url(), d.path(), FLAGS, false));
    futures_util::future::join_all(starts).await
}

/// Sign `email` in on `server` from a fresh browser; returns the session cookie's value.
async fn sign_in(server: &Server, email: &str, password: &str) -> (reqwest::Client, String) {
    let client = new_client();
    let res = server
        .post_form_as(
            &client,
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{email} signs in");
    let cookie = set_cookie(&res, "gh_session").expect("a session cookie");
    (client, cookie)
}

/// The status of `path` on `server` for a browser holding only session `cookie`.
async fn status(server: &Server, path: &str, cookie: &str) -> StatusCode {
    new_client()
        .get(server.url(path))
        .header("cookie", format!("gh_session={cookie}"))
        .send()
        .await
        .unwrap()
        .status()
}

async fn api_status(server: &Server, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(server.url("/api/v1/tables"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// What shows that a change reached an instance.
enum Probe<'a> {
    /// The session (cookie value) no longer signs in.
    SignedOut(&'a str),
    /// The session's operator is refused the administration pages.
    NotAdmin(&'a str),
    /// The API token is refused.
    TokenRefused(&'a str),
}

impl Probe<'_> {
    async fn holds(&self, server: &Server) -> bool {
        match self {
            Probe::SignedOut(c) => status(server, "/", c).await != StatusCode::OK,
            Probe::NotAdmin(c) => status(server, "/users", c).await == StatusCode::FORBIDDEN,
            Probe::TokenRefused(t) => api_status(server, t).await == StatusCode::UNAUTHORIZED,
        }
    }
}

/// Poll every server in `others` until `probe` says the change reached it; returns the
/// longest wait after `since` (panics past the caches' expiry, 2 s).
async fn reached(others: &[&Server], since: Instant, probe: Probe<'_>) -> Duration {
    for server in others {
        while !probe.holds(server).await {
            assert!(
                since.elapsed() < Duration::from_secs(2),
                "the change did not reach {} before the caches expired",
                server.base
            );
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        }
    }
    since.elapsed()
}

#[actix_web::test]
async fn three_instances_share_one_postgres() {
    let db = TestDb::create(Backend::Postgres);
    exec(
        &db,
        "CREATE TABLE people (id SERIAL PRIMARY KEY, name TEXT NOT NULL);",
    );
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut s = start_together(&db, &dirs.iter().collect::<Vec<_>>()).await;

    // Migrations ran once, on one of the three.
    let migrating = s
        .iter()
        .filter(|x| x.logged("applied migrations") > 0)
        .count();
    assert_eq!(migrating, 1, "exactly one instance applied the migrations");
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count();
    assert_eq!(
        scalar(
            &db,
            "SELECT CAST(COUNT(*) AS TEXT) FROM __diesel_schema_migrations"
        ),
        shipped.to_string()
    );
    prepare(db.url(), dirs[0].path());

    // A session made on one instance works on every one.
    s[0].sign_in().await;
    for i in 0..9 {
        let res = s[0]
            .client
            .get(s[i % 3].url("/users"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "request {i} on instance {}",
            i % 3
        );
    }
    let res = s[0]
        .post_form_as(
            &s[0].client,
            "/users/new",
            "/users",
            &[
                ("email", OPERATOR),
                ("display_name", "Op"),
                ("role", "admin"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "operator created");
    let op = scalar(
        &db,
        &format!("SELECT id FROM gh_users WHERE email = '{OPERATOR}'"),
    );

    let mut waits = BTreeMap::new();
    // Sign-out on A ends the session on B and C at once.
    let (client, cookie) = sign_in(&s[0], OPERATOR, PASSWORD).await;
    for x in &s {
        assert_eq!(status(x, "/", &cookie).await, StatusCode::OK, "cached");
    }
    let res = s[0].post_form_as(&client, "/account", "/logout", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let since = Instant::now();
    let w = reached(&[&s[1], &s[2]], since, Probe::SignedOut(&cookie)).await;
    waits.insert("sign-out", w);

    // An administrator's "sign out everywhere" on B, disabling on C.
    for (on, action, name) in [(1, "sign-out", "admin sign-out"), (2, "disable", "disable")] {
        let (_client, cookie) = sign_in(&s[(on + 1) % 3], OPERATOR, PASSWORD).await;
        for x in &s {
            assert_eq!(status(x, "/", &cookie).await, StatusCode::OK, "cached");
        }
        let page = format!("/users/{op}");
        let res = s[on]
            .post_form_as(&s[0].client, &page, &format!("{page}/{action}"), &[])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{name}");
        let since = Instant::now();
        let others: Vec<&Server> = (0..3).filter(|i| *i != on).map(|i| &s[i]).collect();
        let w = reached(&others, since, Probe::SignedOut(&cookie)).await;
        waits.insert(name, w);
    }
    let page = format!("/users/{op}");
    let res = s[0]
        .post_form_as(&s[0].client, &page, &format!("{page}/enable"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "enabled again");

    // A role change on A: the operator's admin pages close on B and C at once.
    let (_client, cookie) = sign_in(&s[1], OPERATOR, PASSWORD).await;
    for x in &s {
        assert_eq!(status(x, "/users", &cookie).await, StatusCode::OK, "cached");
    }
    let res = s[0]
        .post_form_as(
            &s[0].client,
            &page,
            &page,
            &[
                ("email", OPERATOR),
                ("display_name", "Op"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "role changed");
    let since = Instant::now();
    let w = reached(&[&s[1], &s[2]], since, Probe::NotAdmin(&cookie)).await;
    waits.insert("role change", w);

    // A token revoked on A stops working on B and C at once.
    let token = s[0].token().await;
    for x in &s {
        assert_eq!(api_status(x, &token).await, StatusCode::OK, "cached");
    }
    let id = scalar(
        &db,
        "SELECT id FROM gh_api_tokens ORDER BY created_at DESC LIMIT 1",
    );
    let res = s[0]
        .post_form(
            "/integrations/tokens",
            &format!("/integrations/tokens/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "revoked");
    let since = Instant::now();
    let w = reached(&[&s[1], &s[2]], since, Probe::TokenRefused(&token)).await;
    waits.insert("token revocation", w);
    eprintln!("changes reached the other instances after {waits:?}");
    for (what, w) in &waits {
        assert!(
            *w < AT_ONCE,
            "{what} took {w:?} to reach the other instances"
        );
    }

    // The sign-in throttle counts failures on every instance together.
    for i in 0..5 {
        let res = s[i % 3]
            .post_form_as(
                &new_client(),
                "/login",
                "/login",
                &[("email", OPERATOR), ("password", "not the password!!")],
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "failure {i}"
        );
    }
    for x in &s {
        let res = x
            .post_form_as(
                &new_client(),
                "/login",
                "/login",
                &[("email", OPERATOR), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "locked everywhere"
        );
    }

    rate_limit_holds_across(&db, &s).await;
    webhooks::arrive_once_through_kills(&db, &mut s, &dirs).await;
}

/// The per-token limit holds over the three instances, for a handful of writes.
async fn rate_limit_holds_across(db: &TestDb, s: &[Server]) {
    let token = s[0].token().await;
    let id = scalar(
        db,
        "SELECT id FROM gh_api_tokens ORDER BY created_at DESC LIMIT 1",
    );
    // All of it in one wall-clock minute: start early in one.
    let (_, left) = gatehouse::api::rate::window_now();
    if left < 20 {
        actix_web::rt::time::sleep(Duration::from_secs(left) + Duration::from_millis(300)).await;
    }
    let (window, _) = gatehouse::api::rate::window_now();
    let (mut ok, mut refused) = (0u32, 0u32);
    for i in 0..300 {
        let res = reqwest::Client::new()
            .get(s[i % 3].url("/api/v1/tables"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        match res.status() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(res.headers().contains_key("retry-after"));
                refused += 1;
            }
            other => panic!("request {i}: {other}"),
        }
    }
    assert_eq!(gatehouse::api::rate::window_now().0, window, "one window");
    let slice = gatehouse::api::rate::slice_of(RATE_LIMIT);
    let leased: u32 = scalar(
        db,
        &format!("SELECT CAST(used AS TEXT) FROM gh_api_rate WHERE token_id = '{id}'"),
    )
    .parse()
    .unwrap();
    let leases = leased / slice;
    eprintln!(
        "rate limit {RATE_LIMIT}/min over 3 instances: {ok} allowed, {refused} refused, \
         {leases} leases written for 300 requests"
    );
    assert!(ok <= RATE_LIMIT, "never more than the limit: {ok}");
    assert!(
        ok >= RATE_LIMIT - 2 * slice,
        "at most the other instances' unspent slices are lost: {ok}"
    );
    assert!(
        leases <= RATE_LIMIT / slice + 3,
        "amortised: {leases} writes"
    );
}
