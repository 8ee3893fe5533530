//! Two instances of the real binary on one Postgres: a change made through one reaches a
//! stream open on the other (LISTEN/NOTIFY), and a browser that moves to the other instance
//! resumes from the same notice id.

use diesel::connection::SimpleConnection;
use reqwest::StatusCode;
use serde_json::json;

use super::Events;
use crate::common::{Backend, TestDb};
use crate::faults::server::{Server, prepare};

#[actix_web::test]
async fn a_change_on_one_instance_reaches_streams_on_the_other() {
    let db = TestDb::create(Backend::Postgres);
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    prepare(db.url(), dirs[0].path());
    gatehouse::db::DatabaseUrl::parse(db.url())
        .unwrap()
        .connect()
        .unwrap()
        .batch_execute("CREATE TABLE people (id SERIAL PRIMARY KEY, name TEXT NOT NULL);")
        .unwrap();
    let a = Server::start(db.url(), dirs[0].path(), &[], false).await;
    let b = Server::start(db.url(), dirs[1].path(), &[], false).await;
    a.sign_in().await;
    b.sign_in().await;
    let mut on_a = Events::open(&a.client, &a.url("/events"), None).await;
    let mut on_b = Events::open(&b.client, &b.url("/events"), None).await;

    // Written through B's API: A's stream hears of it, and so does B's own.
    let token = b.token().await;
    let res = b
        .api(reqwest::Method::POST, "/api/v1/tables/people/rows", &token)
        .json(&json!({ "name": "Ann" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let heard = on_a.change().await;
    assert_eq!(heard["table"], "people");
    assert_eq!(heard["action"], "created");
    assert_eq!(on_b.change().await, heard, "the same notice, the same id");

    // Written through A's pages while the browser is away; it comes back on B.
    drop(on_a);
    let res = a
        .post_form("/data/people/new", "/data/people", &[("f.name", "Bo")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(on_b.change().await["action"], "created");
    let mut resumed = Events::open(
        &b.client,
        &b.url("/events"),
        Some(heard["id"].as_str().unwrap()),
    )
    .await;
    let missed = resumed.change().await;
    assert_eq!(missed["action"], "created");
    assert_ne!(missed["id"], heard["id"]);
    drop((on_b, resumed));
    a.stop();
    b.stop();
}
