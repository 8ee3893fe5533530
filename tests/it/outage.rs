//! A database outage on the real binary, under load: a throwaway Postgres cluster of the
//! test's own is stopped while clients keep reading pages and the API; every answer
//! meanwhile is a 503 (the error page, or problem+json for the API) within a second — not
//! the pool's five-second wait — `/readyz` says why, and when the cluster is started again
//! everything recovers by itself. (SQLite's locked or read-only file, which refuses writes
//! while reads continue, is covered in `faults::sqlite`.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};

use crate::common::cluster::Cluster;
use crate::faults::server::{Server, prepare};

/// One answer the load saw: when it was asked (since the start), its status and how long
/// it took.
type Seen = Arc<Mutex<Vec<(Duration, u16, Duration)>>>;

/// Keep `clients` loops reading until `stop` is set, noting every answer.
fn load(
    server: &Server,
    token: &str,
    clients: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
    t0: Instant,
) -> Seen {
    let seen: Seen = Arc::default();
    for i in 0..clients {
        let (seen, stop) = (seen.clone(), stop.clone());
        let request = if i % 2 == 0 {
            server.api(Method::GET, "/api/v1/tables/notes/rows", token)
        } else {
            server.client.get(server.url("/data/notes"))
        };
        actix_web::rt::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let asked = Instant::now();
                let status = match request.try_clone().unwrap().send().await {
                    Ok(res) => res.status().as_u16(),
                    Err(_) => 0,
                };
                seen.lock()
                    .unwrap()
                    .push((asked - t0, status, asked.elapsed()));
                actix_web::rt::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }
    seen
}

#[actix_web::test]
async fn postgres_outage_answers_503_fast_says_why_and_recovers_by_itself_on_the_binary() {
    let cluster = Cluster::start_new();
    let data = tempfile::tempdir().unwrap();
    prepare(&cluster.url(), data.path());
    PgConnection::establish(&cluster.url())
        .unwrap()
        .batch_execute(
            "CREATE TABLE notes (id SERIAL PRIMARY KEY, body TEXT);
             INSERT INTO notes (body) VALUES ('kept');",
        )
        .unwrap();
    let server = Server::start(&cluster.url(), data.path(), &[], false).await;
    server.sign_in().await;
    let token = server.token().await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let t0 = Instant::now();
    let seen = load(&server, &token, 4, stop.clone(), t0);
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;

    cluster.stop();
    let down_at = t0.elapsed();
    // While it is down: pages, the API and readiness answer 503 within a second.
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        let started = Instant::now();
        let page = server.get("/data/notes").await;
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert!(
            page.text()
                .await
                .unwrap()
                .contains("The database is not answering right now")
        );
        let started = Instant::now();
        let api = server
            .api(Method::GET, "/api/v1/tables/notes/rows", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            api.headers()["content-type"].to_str().unwrap(),
            "application/problem+json"
        );
        let started = Instant::now();
        let ready = server.get("/readyz").await;
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(
            ready.text().await.unwrap(),
            "database unavailable: connection refused\n"
        );
    }
    assert_eq!(
        server.get("/healthz").await.status(),
        StatusCode::OK,
        "alive while the database is away"
    );
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let up_at = t0.elapsed();
    cluster.start();

    // Back by itself: readiness, pages, the API and writes.
    let started = Instant::now();
    while server.get("/readyz").await.status() != StatusCode::OK {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "readiness recovers: {:#?}",
            server.log()
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_in = started.elapsed();
    assert_eq!(server.get("/data/notes").await.status(), StatusCode::OK);
    let res = server
        .post_form("/data/notes/new", "/data/notes", &[("f.body", "after")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;

    // What the load saw: during the outage only fast 503s; before and after, 200s.
    let seen = seen.lock().unwrap().clone();
    // Asked while the cluster was stopped (from 300 ms after the stop until the start).
    let during: Vec<_> = seen
        .iter()
        .filter(|(asked, ..)| *asked > down_at + Duration::from_millis(300) && *asked < up_at)
        .collect();
    assert!(during.len() > 20, "the load kept asking: {}", during.len());
    for (_, status, took) in &during {
        assert_eq!(*status, 503, "{during:?}");
        assert!(*took < Duration::from_secs(1), "{took:?}");
    }
    let last: Vec<_> = seen.iter().rev().take(8).collect();
    assert!(last.iter().all(|(_, s, _)| *s == 200), "{last:?}");
    assert_eq!(
        server.wait_logged("database unreachable").await,
        1,
        "logged once: {:#?}",
        server.log()
    );
    assert_eq!(server.wait_logged("database reachable again").await, 1);
    eprintln!(
        "outage: {} answers while down, slowest {:?}; ready again {recovered_in:?} after the start",
        during.len(),
        during.iter().map(|d| d.2).max().unwrap()
    );
    server.stop();
}
