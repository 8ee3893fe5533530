//! Two instances of the real binary on one Postgres (issue 11): a schema change made on one
//! reaches the other's catalog within 2 s, and the console's cancel button works from the
//! instance that does not run the statement (its backend is recorded in `gh_sql_runs`).

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::common::{Backend, TestDb, csrf_in};
use crate::faults::server::{Server, prepare};
use crate::schema::previewed_sql;

fn exec(db: &TestDb, sql: &str) {
    use diesel::connection::SimpleConnection;
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    url.connect().unwrap().batch_execute(sql).unwrap();
}

fn count(db: &TestDb, sql: &str) -> i64 {
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    let mut conn = url.connect().unwrap();
    let mut q = gatehouse::engine::sql::Sql::new(url.backend());
    q.push(sql);
    let rows = q.load(&mut conn).unwrap();
    rows.first()
        .and_then(|r| r[0].as_text())
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

async fn two_instances(db: &TestDb, dirs: &[tempfile::TempDir; 2]) -> [Server; 2] {
    prepare(db.url(), dirs[0].path());
    let (a, b) = futures_util::future::join(
        Server::start(db.url(), dirs[0].path(), &[], false),
        Server::start(db.url(), dirs[1].path(), &[], false),
    )
    .await;
    a.sign_in().await;
    [a, b]
}

#[actix_web::test]
async fn a_second_instance_sees_a_schema_change_within_two_seconds() {
    let db = TestDb::create(Backend::Postgres);
    exec(
        &db,
        "CREATE TABLE people (id SERIAL PRIMARY KEY, name TEXT NOT NULL); \
         INSERT INTO people (name) VALUES ('Ada');",
    );
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let [a, b] = two_instances(&db, &dirs).await;
    // The session is shared; the cookie is sent to both (same host).
    let on_b = |path: &str| a.client.get(b.url(path)).send();
    let before = on_b("/data/people").await.unwrap().text().await.unwrap();
    assert!(
        before.contains("Ada") && !before.contains("nickname"),
        "{before}"
    );

    let page = "/data/people/schema";
    let fields = [("op", "add_column"), ("name", "nickname"), ("type", "text")];
    let preview = a.post_form(page, page, &fields).await;
    assert_eq!(preview.status(), StatusCode::OK);
    let sql = previewed_sql(&preview.text().await.unwrap());
    let mut confirm = fields.to_vec();
    confirm.extend_from_slice(&[("confirm", "yes"), ("sql", sql.as_str())]);
    let done = a.post_form(page, page, &confirm).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let changed = Instant::now();
    loop {
        let list = on_b("/data/people").await.unwrap().text().await.unwrap();
        if list.contains(">nickname") {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(2),
            "the other instance still lists people without the new column"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    println!("seen by the second instance after {:?}", changed.elapsed());
    a.stop();
    b.stop();
}

#[actix_web::test]
async fn a_statement_is_cancelled_from_the_instance_that_does_not_run_it() {
    let db = TestDb::create(Backend::Postgres);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let [a, b] = two_instances(&db, &dirs).await;
    let token = a.csrf("/sql").await;
    let started = Instant::now();
    let sleeping = a
        .client
        .post(a.url("/sql"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("sql", "SELECT pg_sleep(8)"),
            ("run", "far-away"),
        ])
        .send();
    let cancel = async {
        // The run is recorded once its backend is known.
        while count(
            &db,
            "SELECT COUNT(*) FROM gh_sql_runs WHERE run_id = 'far-away'",
        ) == 0
        {
            assert!(started.elapsed() < Duration::from_secs(8), "never recorded");
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        let page = a.client.get(b.url("/sql")).send().await.unwrap();
        let token_b = csrf_in(&page.text().await.unwrap()).expect("a token from B");
        let res = a
            .client
            .post(b.url("/sql/cancel"))
            .form(&[("csrf_token", token_b.as_str()), ("run", "far-away")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let page = a.client.get(b.url("/sql")).send().await.unwrap();
        page.text().await.unwrap()
    };
    let (res, flash) = futures_util::future::join(sleeping, cancel).await;
    assert!(
        flash.contains("The statement is being cancelled."),
        "{flash}"
    );
    let body = res.unwrap().text().await.unwrap();
    assert!(body.contains("The statement was cancelled."), "{body}");
    println!("cancelled after {:?}", started.elapsed());
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM gh_sql_runs"),
        0,
        "the run's row is gone with it"
    );
    a.stop();
    b.stop();
}
