//! Three instances of the real binary on one fresh Postgres database, and a client that
//! spreads its requests over them (issue 14, "Several instances on one Postgres"): they
//! migrate once, share sessions, tell each other at once what to forget (sign-out, disable,
//! role change, token revocation: well under the caches' 2-second expiry), share the
//! sign-in throttle and the API rate limit, and deliver every webhook event while they are
//! killed and restarted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use reqwest::StatusCode;

use crate::common::{Backend, TestDb, new_client, set_cookie};
use crate::faults::server::{KEY, Server, prepare};

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
    webhooks_arrive_once_through_kills(&db, &mut s, &dirs).await;
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

/// What the receiver saw: every request's event id, and which were open when.
#[derive(Default)]
struct Seen {
    received: Vec<String>,
    open: BTreeMap<String, usize>,
    answered: Vec<(String, Instant)>,
}

/// A receiver that answers after 150 ms, so kills land mid-delivery.
async fn receiver() -> (String, Arc<Mutex<Seen>>) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let s = seen.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let s = s.clone();
        App::new().default_service(web::to(move |req: HttpRequest| {
            let s = s.clone();
            async move {
                let id = req
                    .headers()
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                {
                    let mut s = s.lock().unwrap();
                    s.received.push(id.clone());
                    *s.open.entry(id.clone()).or_default() += 1;
                }
                actix_web::rt::time::sleep(Duration::from_millis(150)).await;
                let mut s = s.lock().unwrap();
                if let Some(n) = s.open.get_mut(&id) {
                    *n -= 1;
                    if *n == 0 {
                        s.open.remove(&id);
                    }
                }
                s.answered.push((id, Instant::now()));
                HttpResponse::NoContent().finish()
            }
        }))
    })
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    (format!("http://127.0.0.1:{port}/hook"), seen)
}

/// Deliveries a SIGKILL may cut: open at the receiver, or answered so lately that the
/// instance may not have recorded it yet.
fn cut(seen: &Mutex<Seen>) -> BTreeSet<String> {
    let s = seen.lock().unwrap();
    let mut ids: BTreeSet<String> = s.open.keys().cloned().collect();
    ids.extend(
        s.answered
            .iter()
            .filter(|(_, at)| at.elapsed() < Duration::from_millis(300))
            .map(|(id, _)| id.clone()),
    );
    ids
}

async fn webhooks_arrive_once_through_kills(
    db: &TestDb,
    s: &mut Vec<Server>,
    dirs: &[tempfile::TempDir],
) {
    let (url, seen) = receiver().await;
    let sealed = gatehouse::db::secrets::Sealer::new(KEY.as_bytes())
        .seal(&gatehouse::integrations::signing::new_secret())
        .unwrap();
    exec(
        db,
        &format!(
            "INSERT INTO gh_webhook_endpoints (id, url, role, enabled, secret_enc, created_at, events)
             VALUES ('ep', '{url}', 'admin', TRUE, '{sealed}', CURRENT_TIMESTAMP, '[\"*:*\"]');"
        ),
    );
    let token = s[0].token().await;
    let mut in_flight_at_kills = BTreeSet::new();
    let mut written = 0;
    for round in 0..3 {
        for i in 0..20 {
            let res = reqwest::Client::new()
                .post(s[i % s.len()].url("/api/v1/tables/people/rows"))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "name": format!("Person {round}.{i}") }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::CREATED);
            written += 1;
        }
        // Kill one instance (SIGKILL) while deliveries are under way, and start it again.
        let before = seen.lock().unwrap().received.len();
        let start = Instant::now();
        while seen.lock().unwrap().received.len() == before
            && start.elapsed() < Duration::from_secs(5)
        {
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        let victim = (round + 1) % 3;
        drop(s.remove(victim));
        in_flight_at_kills.extend(cut(&seen));
        let again = Server::start(db.url(), dirs[victim].path(), FLAGS, false).await;
        s.insert(victim, again);
    }
    let expected: BTreeSet<String> = {
        let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
        let mut conn = url.connect().unwrap();
        let mut q = gatehouse::engine::sql::Sql::new(url.backend());
        q.push("SELECT id FROM gh_outbox");
        q.load(&mut conn)
            .unwrap()
            .into_iter()
            .filter_map(|r| r[0].as_text())
            .collect()
    };
    assert_eq!(expected.len(), written, "one event per committed change");
    let start = Instant::now();
    while scalar(
        db,
        "SELECT CAST(COUNT(*) AS TEXT) FROM gh_outbox WHERE status <> 'delivered'",
    ) != "0"
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "events still undelivered after a minute"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    for id in &seen.lock().unwrap().received {
        *times.entry(id.clone()).or_default() += 1;
    }
    let arrived: BTreeSet<String> = times.keys().cloned().collect();
    assert_eq!(arrived, expected, "every event arrived, nothing else");
    let again: BTreeSet<&String> = times
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    eprintln!(
        "{written} events over 3 kills: {} sent again (cut mid-delivery by SIGKILL: {} in flight)",
        again.len(),
        in_flight_at_kills.len()
    );
    for id in &again {
        assert!(
            in_flight_at_kills.contains(*id),
            "{id} was sent twice without having been cut by a kill"
        );
        assert_eq!(times[*id], 2, "{id} was sent more than twice");
    }
    // Each event is recorded as delivered by exactly one successful attempt.
    assert_eq!(
        scalar(
            db,
            "SELECT CAST(COUNT(*) AS TEXT) FROM (SELECT outbox_id FROM gh_deliveries \
             WHERE status_code BETWEEN 200 AND 299 GROUP BY outbox_id HAVING COUNT(*) <> 1) t"
        ),
        "0"
    );
    assert_eq!(
        scalar(
            db,
            "SELECT CAST(COUNT(DISTINCT outbox_id) AS TEXT) FROM gh_deliveries \
             WHERE status_code BETWEEN 200 AND 299"
        ),
        written.to_string()
    );
}

/// `publish_in` travels with the writing transaction: delivered to every listener (this
/// instance's too) after commit, never after a rollback; on SQLite in-process at once.
async fn notifications_leave_at_commit_only(backend: Backend) {
    use gatehouse::db::notify::Notifier;
    let db = TestDb::create(backend);
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    let (sender, receiver) = (Notifier::new(), Notifier::new());
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let g = got.clone();
    receiver.subscribe("gh_test", move |p| g.lock().unwrap().push(p.to_string()));
    sender.listen(&url);
    receiver.listen(&url);
    // Let the listener connect and LISTEN before anything is sent.
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let mut conn = url.connect().unwrap();
    let rolled_back = diesel::Connection::transaction(&mut conn, |c| {
        sender.publish_in(c, "gh_test", "rolled back")?;
        Err::<(), _>(diesel::result::Error::RollbackTransaction)
    });
    assert!(rolled_back.is_err());
    diesel::Connection::transaction(&mut conn, |c| sender.publish_in(c, "gh_test", "committed"))
        .unwrap();
    sender.publish("gh_test", "after commit");
    match backend {
        // In-process: each notifier reaches its own subscribers only, at once.
        Backend::Sqlite => {
            assert!(
                got.lock().unwrap().is_empty(),
                "no other instance on SQLite"
            );
            receiver.publish("gh_test", "here");
            assert_eq!(*got.lock().unwrap(), vec!["here".to_string()]);
        }
        Backend::Postgres => {
            let start = Instant::now();
            while got.lock().unwrap().len() < 2 && start.elapsed() < Duration::from_secs(2) {
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(
                *got.lock().unwrap(),
                vec!["committed".to_string(), "after commit".to_string()]
            );
        }
    }
}

both_backends!(notifications_leave_at_commit_only);
