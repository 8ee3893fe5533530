//! Webhooks through graceful restarts: instances sent SIGTERM (not SIGKILL) while
//! deliveries are under way finish the deliveries they hold and exit 0; started again, they
//! deliver the rest, and every event arrives exactly once — not one is sent twice.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::webhooks::{add_endpoint, all_delivered, outbox_ids, receiver, times};
use super::{FLAGS, exec, scalar, start_together};
use crate::common::server::{Server, prepare};
use crate::common::{Backend, TestDb};

/// Longer than a delivery (150 ms at the receiver) and the 10 s bound on in-flight requests.
const EXIT_WITHIN: Duration = Duration::from_secs(30);

#[actix_web::test]
async fn every_event_arrives_exactly_once_through_graceful_restarts() {
    let db = TestDb::create(Backend::Postgres);
    exec(
        &db,
        "CREATE TABLE people (id SERIAL PRIMARY KEY, name TEXT NOT NULL);",
    );
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut s = start_together(&db, &dirs.iter().collect::<Vec<_>>()).await;
    prepare(db.url(), dirs[0].path());
    s[0].sign_in().await;
    let (url, seen) = receiver().await;
    add_endpoint(&db, &url);
    let token = s[0].token().await;

    let mut written = 0;
    let mut stopped_mid_delivery = 0;
    for round in 0..4 {
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
        // Wait until deliveries are open at the receiver, then SIGTERM: one instance in the
        // first rounds, all three at once in the last (so the one holding a delivery is
        // surely among them).
        let start = Instant::now();
        while seen.lock().unwrap().open.is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no delivery under way"
            );
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        }
        let open_at_stop = seen.lock().unwrap().open.len();
        stopped_mid_delivery += open_at_stop;
        let victims: Vec<usize> = if round < 3 {
            vec![round]
        } else {
            vec![0, 1, 2]
        };
        let stopping: Vec<Server> = victims.iter().rev().map(|v| s.remove(*v)).collect();
        for server in &stopping {
            server.terminate();
        }
        for server in stopping {
            let status = server.exited(EXIT_WITHIN).await;
            assert_eq!(status.code(), Some(0), "a graceful stop exits 0");
        }
        if round == 3 {
            assert!(
                seen.lock().unwrap().open.is_empty(),
                "every delivery in hand was finished before the instances exited"
            );
            s = start_together(&db, &dirs.iter().collect::<Vec<_>>()).await;
        } else {
            let again = Server::start(db.url(), dirs[round].path(), FLAGS, false).await;
            s.insert(round, again);
        }
    }

    let expected = outbox_ids(&db);
    assert_eq!(expected.len(), written, "one event per committed change");
    all_delivered(&db).await;
    let times = times(&seen);
    let arrived: BTreeSet<String> = times.keys().cloned().collect();
    assert_eq!(arrived, expected, "every event arrived, nothing else");
    let twice: Vec<(&String, &usize)> = times.iter().filter(|(_, n)| **n != 1).collect();
    eprintln!(
        "{written} events over 4 graceful stops ({stopped_mid_delivery} deliveries open at \
         the receiver when SIGTERM was sent): {} sent more than once",
        twice.len()
    );
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    // Recorded likewise: one attempt per event, a successful one.
    assert_eq!(
        scalar(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM gh_deliveries"),
        written.to_string(),
        "one recorded attempt per event"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT CAST(COUNT(DISTINCT outbox_id) AS TEXT) FROM gh_deliveries \
             WHERE status_code BETWEEN 200 AND 299"
        ),
        written.to_string()
    );
}
