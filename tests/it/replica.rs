//! A read replica on the real binary: a throwaway primary cluster and a real streaming
//! replica of it (`pg_basebackup -R`), which applies changes two seconds late so that it
//! visibly lags. Lists read the replica (its log shows the queries under the replica pool's
//! `application_name`), and so do the dashboard's aggregates, a chart and the read-only SQL
//! console (write mode stays on the primary); a save is visible at once to the client that
//! made it (it reads the primary for a while), and with the replica stopped reads — the
//! console's too — still work, counted in the metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};

use crate::common::cluster::Cluster;
use crate::common::server::{Server, prepare};
use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD};

/// How many connections `cluster` has from `application_name`.
fn connections(cluster: &Cluster, application_name: &str) -> i64 {
    let mut conn = PgConnection::establish(&cluster.url()).unwrap();
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "(SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = '{application_name}')"
    )))
    .get_result(&mut conn)
    .unwrap()
}

/// Statements `cluster` logged from `application_name` that name the notes table.
fn notes_queries(cluster: &Cluster, application_name: &str) -> usize {
    logged(cluster, application_name, "\"notes\"")
}

/// Lines `cluster` logged from `application_name` that contain `words`.
fn logged(cluster: &Cluster, application_name: &str, words: &str) -> usize {
    let prefix = format!("{application_name}|");
    cluster
        .log()
        .lines()
        .filter(|l| l.starts_with(&prefix) && l.contains(words))
        .count()
}

/// Statements (not the parameters of another statement) any client of `cluster` ran that
/// contain `words`.
fn statements(cluster: &Cluster, words: &str) -> usize {
    cluster
        .log()
        .lines()
        .filter(|l| l.contains(words) && !l.contains("parameters:"))
        .count()
}

/// A browser's cookies without the read-your-writes marker: its sign-in (a POST) does not
/// send its next reads to the primary, so they show where reads go when nothing was written.
struct NoWroteMarker(reqwest::cookie::Jar);

impl reqwest::cookie::CookieStore for NoWroteMarker {
    fn set_cookies(
        &self,
        headers: &mut dyn Iterator<Item = &reqwest::header::HeaderValue>,
        url: &url::Url,
    ) {
        let mut kept = headers.filter(|h| !h.as_bytes().starts_with(b"gh_wrote="));
        self.0.set_cookies(&mut kept, url);
    }

    fn cookies(&self, url: &url::Url) -> Option<reqwest::header::HeaderValue> {
        self.0.cookies(url)
    }
}

async fn reader(server: &Server) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_provider(Arc::new(NoWroteMarker(Default::default())))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = [("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)];
    let res = server
        .post_form_as(&client, "/login", "/login", &form)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-in");
    client
}

/// Run `sql` in the console as `client`; the page.
async fn console(server: &Server, client: &reqwest::Client, fields: &[(&str, &str)]) -> String {
    let res = server.post_form_as(client, "/sql", "/sql", fields).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

/// The dashboard, a chart and the read-only console read the replica; write mode and the
/// cancel of a statement running there work as well.
async fn heavy_reads_reach_the_replica(server: &Server, primary: &Cluster, replica: &Cluster) {
    let client = reader(server).await;
    let before = logged(replica, "gatehouse-reads", "gh_audit");
    let res = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        logged(replica, "gatehouse-reads", "gh_audit") > before,
        "the dashboard's summary ran on the replica:\n{}",
        replica.log()
    );

    let (on_primary, on_replica) = (
        notes_queries(primary, "gatehouse"),
        notes_queries(replica, "gatehouse-reads"),
    );
    let res = client
        .get(server.url("/data/notes/chart?by=body"))
        .send()
        .await;
    let page = res.unwrap().text().await.unwrap();
    assert!(page.contains("<svg"), "{page}");
    assert!(
        notes_queries(replica, "gatehouse-reads") > on_replica,
        "the chart read the replica"
    );
    assert_eq!(
        notes_queries(primary, "gatehouse"),
        on_primary,
        "and not the primary"
    );

    let page = console(
        server,
        &client,
        &[("sql", "SELECT body AS console_probe FROM notes")],
    )
    .await;
    assert!(page.contains("kept"), "{page}");
    assert!(
        logged(replica, "gatehouse-reads", "console_probe") > 0,
        "{}",
        replica.log()
    );
    assert_eq!(statements(primary, "console_probe"), 0, "{}", primary.log());
    // Write mode: on the primary (the replica refuses writes).
    let insert = "INSERT INTO notes (body) VALUES ('console_write')";
    let page = console(
        server,
        &client,
        &[("sql", insert), ("write", "on"), ("confirmed", "yes")],
    )
    .await;
    assert!(page.contains("1 rows changed"), "{page}");
    assert!(
        statements(primary, "console_write") > 0,
        "{}",
        primary.log()
    );

    // A long statement on the replica is cancelled there.
    let sleep = [
        ("sql", "SELECT pg_sleep(20) AS console_sleep"),
        ("run", "on-replica"),
    ];
    let run = console(server, &client, &sleep);
    let cancel = async {
        while logged(replica, "gatehouse-reads", "console_sleep") == 0 {
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        let res = server.post_form_as(&client, "/sql", "/sql/cancel", &[("run", "on-replica")]);
        assert_eq!(res.await.status(), StatusCode::SEE_OTHER);
    };
    let (page, ()) = futures_util::future::join(run, cancel).await;
    assert!(page.contains("The statement was cancelled."), "{page}");
}

async fn api_list(server: &Server, token: &str) -> (String, Duration) {
    let started = Instant::now();
    let res = server
        .api(Method::GET, "/api/v1/tables/notes/rows", token)
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(res.status(), StatusCode::OK);
    (res.text().await.unwrap(), took)
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in the metrics"))
}

#[actix_web::test]
async fn lists_read_the_replica_a_save_is_seen_at_once_and_a_stopped_replica_falls_back() {
    let primary = Cluster::start_new();
    let data = tempfile::tempdir().unwrap();
    prepare(&primary.url(), data.path());
    PgConnection::establish(&primary.url())
        .unwrap()
        .batch_execute(
            "CREATE TABLE notes (id SERIAL PRIMARY KEY, body TEXT);
             INSERT INTO notes (body) VALUES ('kept');",
        )
        .unwrap();
    let replica = Cluster::replica_of(&primary, "2s");
    let server = Server::start(
        &primary.url(),
        data.path(),
        &["--read-database-url", &replica.url(), "--metrics"],
        false,
    )
    .await;
    server.sign_in().await;
    let token = server.token().await;

    // An API client keeps no cookies: its lists read the replica.
    let before = notes_queries(&primary, "gatehouse");
    let (body, _) = api_list(&server, &token).await;
    assert!(body.contains("kept"), "{body}");
    assert!(
        notes_queries(&replica, "gatehouse-reads") > 0,
        "the list ran on the replica:\n{}",
        replica.log()
    );
    assert_eq!(
        notes_queries(&primary, "gatehouse"),
        before,
        "and not on the primary"
    );
    assert!(connections(&replica, "gatehouse-reads") > 0);
    assert!(connections(&primary, "gatehouse") > 0);
    heavy_reads_reach_the_replica(&server, &primary, &replica).await;

    // A save, then its record and the list, at once, in the browser that saved it.
    let res = server
        .post_form("/data/notes/new", "/data/notes", &[("f.body", "fresh")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:#?}", server.log());
    let saved_at = Instant::now();
    assert!(
        res.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("gh_wrote=")),
        "the save marks the browser as having written"
    );
    let record = res.headers()["location"].to_str().unwrap().to_string();
    let page = server.get(&record).await.text().await.unwrap();
    assert!(page.contains("fresh"), "{page}");
    let list = server.get("/data/notes").await.text().await.unwrap();
    assert!(
        list.contains("fresh"),
        "the list after a save reads the primary"
    );
    // The replica has not applied it yet: a client that did not write reads it from there.
    let (body, _) = api_list(&server, &token).await;
    if saved_at.elapsed() < Duration::from_millis(1500) {
        assert!(
            !body.contains("fresh"),
            "the API list read the lagging replica"
        );
    }
    // Then the replica catches up.
    let started = Instant::now();
    while !api_list(&server, &token).await.0.contains("fresh") {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the replica applies the save"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }

    // The replica stops: reads go to the primary, quickly, with a warning and a metric.
    replica.stop();
    for _ in 0..5 {
        let (body, took) = api_list(&server, &token).await;
        assert!(body.contains("fresh") && body.contains("kept"));
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    let page = server.get("/data/notes").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(server.wait_logged("read replica unavailable").await, 1);
    // The read-only console too.
    let client = reader(&server).await;
    let page = console(&server, &client, &[("sql", "SELECT body FROM notes")]).await;
    assert!(page.contains("fresh") && page.contains("kept"), "{page}");
    assert_eq!(
        server
            .wait_logged("the SQL console cannot reach the read replica")
            .await,
        1
    );
    let metrics = server.get("/metrics").await.text().await.unwrap();
    assert!(metric(&metrics, "gatehouse_db_replica_fallbacks_total") >= 2.0);

    // Back: lists return to it by themselves.
    replica.start();
    let seen = notes_queries(&replica, "gatehouse-reads");
    let started = Instant::now();
    loop {
        api_list(&server, &token).await;
        if notes_queries(&replica, "gatehouse-reads") > seen {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "lists return to the replica"
        );
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    }
    server.stop();
}
