//! Webhooks with three instances: every event arrives while instances are killed (SIGKILL)
//! and restarted; only deliveries cut by a kill (received, but not yet recorded as delivered
//! when the instance died) are sent again, at most once more per kill that cut them, and
//! each event is recorded as delivered once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use reqwest::StatusCode;

use super::{FLAGS, exec, scalar};
use crate::common::TestDb;
use crate::common::server::{KEY, Server};

/// What the receiver saw: every request's event id, and which were open when.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) received: Vec<String>,
    pub(super) open: BTreeMap<String, usize>,
}

/// A receiver that answers after 150 ms, so kills land mid-delivery.
pub(super) async fn receiver() -> (String, Arc<Mutex<Seen>>) {
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

/// A webhook endpoint for every event, to `url`.
pub(super) fn add_endpoint(db: &TestDb, url: &str) {
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
}

/// The ids of every event in the outbox.
pub(super) fn outbox_ids(db: &TestDb) -> BTreeSet<String> {
    outbox_ids_where(db, "TRUE")
}

fn outbox_ids_where(db: &TestDb, condition: &str) -> BTreeSet<String> {
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    let mut conn = url.connect().unwrap();
    let mut q = gatehouse::engine::sql::Sql::new(url.backend());
    q.push(&format!("SELECT id FROM gh_outbox WHERE {condition}"));
    q.load(&mut conn)
        .unwrap()
        .into_iter()
        .filter_map(|r| r[0].as_text())
        .collect()
}

/// Wait (up to a minute) until the outbox has nothing left to deliver.
pub(super) async fn all_delivered(db: &TestDb) {
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
}

/// How many times the receiver got each event.
pub(super) fn times(seen: &Mutex<Seen>) -> BTreeMap<String, usize> {
    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    for id in &seen.lock().unwrap().received {
        *times.entry(id.clone()).or_default() += 1;
    }
    times
}

/// Deliveries a SIGKILL may have cut, read once the instance is dead: received (open or
/// answered) but not recorded as delivered. At-least-once delivery sends exactly these
/// again; a time window after the answer would guess, and a loaded machine outlasts it.
fn cut(db: &TestDb, received: &[String]) -> BTreeSet<String> {
    let undelivered: BTreeSet<String> = outbox_ids_where(db, "status <> 'delivered'");
    received
        .iter()
        .filter(|id| undelivered.contains(*id))
        .cloned()
        .collect()
}

pub(super) async fn arrive_once_through_kills(
    db: &TestDb,
    s: &mut Vec<Server>,
    dirs: &[tempfile::TempDir],
) {
    let (url, seen) = receiver().await;
    add_endpoint(db, &url);
    let token = s[0].token().await;
    // Per event, how many kills cut its delivery.
    let mut cut_by_kills: BTreeMap<String, usize> = BTreeMap::new();
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
        let received = seen.lock().unwrap().received.clone();
        for id in cut(db, &received) {
            *cut_by_kills.entry(id).or_default() += 1;
        }
        let again = Server::start(db.url(), dirs[victim].path(), FLAGS, false).await;
        s.insert(victim, again);
    }
    let expected = outbox_ids(db);
    assert_eq!(expected.len(), written, "one event per committed change");
    all_delivered(db).await;
    let times = times(&seen);
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
        cut_by_kills.len()
    );
    for id in &again {
        let cuts = cut_by_kills.get(*id).copied().unwrap_or(0);
        assert!(
            cuts > 0,
            "{id} was sent twice without having been cut by a kill"
        );
        assert!(
            times[*id] <= 1 + cuts,
            "{id} was sent {} times but cut by {cuts} kills",
            times[*id]
        );
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
