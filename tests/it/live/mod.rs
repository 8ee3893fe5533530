//! Live updates (`GET /events`, issue 13): change notices for UI, API, restore and import writes on
//! both backends, only for tables the operator may read, resumed with `Last-Event-ID`,
//! across two instances of the real binary on one Postgres; a slow client is dropped
//! without slowing the writer; at most `--sse-max-clients` streams; and two browsers on one
//! list in Chromium.

mod browser;
mod fleet;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{ADMIN_PASSWORD, Backend, Session, TestApp, new_client, set_cookie};

both_backends!(
    ui_api_and_import_writes_are_announced,
    notices_never_name_a_table_the_operator_cannot_read,
    last_event_id_resumes_without_gaps,
    a_slow_client_is_dropped_and_the_writer_goes_on,
    streams_beyond_the_limit_get_503,
);

/// A failure deadline (not a measurement): a notice that has not come by then never will.
const PATIENCE: Duration = Duration::from_secs(15);

/// One server-sent event.
#[derive(Debug)]
pub struct Event {
    pub id: String,
    pub kind: String,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// An open `/events` stream, read event by event.
pub struct Events {
    res: reqwest::Response,
    buf: String,
}

impl Events {
    pub async fn open(client: &reqwest::Client, url: &str, last: Option<&str>) -> Events {
        let mut req = client.get(url);
        if let Some(id) = last {
            req = req.header("last-event-id", id);
        }
        let res = req.send().await.expect("GET /events");
        assert_eq!(res.status(), StatusCode::OK, "the stream opens");
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Events {
            res,
            buf: String::new(),
        }
    }

    /// The next event (comments and the `retry` preamble skipped); `None` when the stream
    /// ended.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = Event {
                    id: String::new(),
                    kind: String::new(),
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        ev.id = v.to_string();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        ev.kind = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        ev.data = v.to_string();
                    }
                }
                if !ev.kind.is_empty() {
                    return Some(ev);
                }
                continue;
            }
            let chunk = actix_web::rt::time::timeout(PATIENCE, self.res.chunk())
                .await
                .expect("an event within the patience")
                .expect("the stream reads");
            self.buf.push_str(&String::from_utf8_lossy(&chunk?));
        }
    }

    /// The next change notice.
    pub async fn change(&mut self) -> Value {
        let ev = self.next().await.expect("a notice");
        assert_eq!(ev.kind, "change", "{ev:?}");
        let notice = ev.json();
        assert_eq!(notice["id"], ev.id.as_str(), "the event id is the notice's");
        notice
    }
}

async fn people(backend: Backend, extra: &[&str]) -> TestApp {
    let app = TestApp::spawn_with(backend, extra).await;
    app.setup_admin().await;
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    app.sql(&format!(
        "CREATE TABLE people (id {id}, name TEXT NOT NULL, secret_note TEXT);
         CREATE TABLE vault (id {id}, code TEXT NOT NULL);
         INSERT INTO people (id, name, secret_note) VALUES (1, 'Ann', 'hush');
         INSERT INTO vault (id, code) VALUES (1, 'x');"
    ));
    if backend == Backend::Postgres {
        app.sql("SELECT setval('people_id_seq', 100); SELECT setval('vault_id_seq', 100);");
    }
    app
}

async fn token(app: &TestApp, name: &str) -> String {
    let res = app
        .post_form(
            "/integrations/tokens",
            "/integrations/tokens",
            &[("name", name), ("role", "admin"), ("expires_days", "30")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let marker = "id=\"new-token\">";
    let start = page.find(marker).expect("the new token is shown") + marker.len();
    page[start..start + page[start..].find('<').unwrap()].to_string()
}

fn assert_notice(n: &Value, table: &str, key: &str, action: &str, actor: &str) {
    assert_eq!(n["table"], table, "{n}");
    assert_eq!(n["key"], key, "{n}");
    assert_eq!(n["action"], action, "{n}");
    assert_eq!(n["actor"], actor, "{n}");
    assert!(n["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{n}");
    let fields: Vec<&String> = n.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["action", "actor", "at", "id", "key", "table"]);
}

async fn ui_api_and_import_writes_are_announced(backend: Backend) {
    let app = people(backend, &[]).await;
    let admin = crate::common::ADMIN_EMAIL;
    let mut events = Events::open(&app.client, &app.url("/events"), None).await;

    // Through the record form: an update, a creation, a deletion.
    let res = app
        .edit(
            "/data/people/1",
            &[("f.name", "Annie"), ("f.secret_note", "hush")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_notice(&events.change().await, "people", "1", "updated", admin);
    let res = app
        .post_form("/data/people/new", "/data/people", &[("f.name", "Bo")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let created = events.change().await;
    assert_eq!(created["action"], "created");
    let bo = created["key"].as_str().unwrap().to_string();
    let path = format!("/data/people/{bo}/delete");
    let res = app.post_form(&path, &path, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_notice(&events.change().await, "people", &bo, "deleted", admin);

    // Through the API.
    let tok = token(&app, "live-bot").await;
    let res = reqwest::Client::new()
        .patch(app.url("/api/v1/tables/people/rows/1"))
        .bearer_auth(&tok)
        .json(&json!({ "secret_note": "whisper" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let api = events.change().await;
    let bot = api["actor"].as_str().unwrap().to_string();
    assert!(bot.contains("live-bot"), "the token's name: {bot}");
    assert_notice(&api, "people", "1", "updated", &bot);
    assert!(
        !api.to_string().contains("whisper"),
        "a notice carries no values"
    );

    // Through a restore of the form's version.
    let entry = app
        .scalar("SELECT id FROM gh_audit WHERE action = 'record.updated' AND via = 'ui'")
        .unwrap();
    let path = format!("/data/people/1/restore/{entry}");
    let confirm = app.get(&path).await.text().await.unwrap();
    let marker = "name=\"_version\" value=\"";
    let at = confirm.find(marker).expect("a version field") + marker.len();
    let version = &confirm[at..at + confirm[at..].find('"').unwrap()];
    let res = app.post_form(&path, &path, &[("_version", version)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_notice(&events.change().await, "people", "1", "restored", admin);

    // Through an import: one notice for the table.
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/tables/people/import"))
        .bearer_auth(&tok)
        .header("content-type", "text/csv")
        .body("name\nCy\nDi\n")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    assert_notice(&events.change().await, "people", "", "imported", &bot);
}

async fn notices_never_name_a_table_the_operator_cannot_read(backend: Backend) {
    let app = people(backend, &[]).await;
    let res = app
        .post_form(
            "/roles/new",
            "/roles",
            &[
                ("name", "peoplereader"),
                ("description", "people only"),
                ("t.people.r", "on"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    {
        let mut conn = app.db_conn();
        let hash = gatehouse::identity::password::hash(ADMIN_PASSWORD).unwrap();
        let new = gatehouse::identity::users::NewUser {
            email: "reader@example.com",
            display_name: "Reader",
            password_hash: &hash,
            role: "peoplereader",
        };
        gatehouse::identity::users::insert(&mut conn, new, gatehouse::db::now()).unwrap();
    }
    let reader = new_client();
    Session::of(&app, &reader)
        .sign_in("reader@example.com", ADMIN_PASSWORD)
        .await;
    let mut theirs = Events::open(&reader, &app.url("/events"), None).await;
    let mut mine = Events::open(&app.client, &app.url("/events"), None).await;

    for (path, name) in [("/data/vault/1", "f.code"), ("/data/people/1", "f.name")] {
        let res = app.edit(path, &[(name, "changed")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(mine.change().await["table"], "vault");
    assert_eq!(mine.change().await["table"], "people");
    // The reader's first notice is the people one: the vault's was never sent to them.
    assert_eq!(theirs.change().await["table"], "people");

    // Not signed in: no stream.
    let res = new_client().get(app.url("/events")).send().await.unwrap();
    assert_ne!(res.status(), StatusCode::OK);
}

async fn last_event_id_resumes_without_gaps(backend: Backend) {
    let app = people(backend, &[]).await;
    let mut events = Events::open(&app.client, &app.url("/events"), None).await;
    let res = app.edit("/data/people/1", &[("f.name", "One")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let first = events.change().await;
    drop(events);

    // Written while the browser was away.
    for name in ["Two", "Three"] {
        let res = app
            .post_form("/data/people/new", "/data/people", &[("f.name", name)])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    let res = app.edit("/data/vault/1", &[("f.code", "y")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let last = first["id"].as_str().unwrap();
    let mut again = Events::open(&app.client, &app.url("/events"), Some(last)).await;
    let missed: Vec<(Value, Value)> = [
        again.change().await,
        again.change().await,
        again.change().await,
    ]
    .into_iter()
    .map(|n| (n["table"].clone(), n["action"].clone()))
    .collect();
    assert_eq!(
        missed,
        [
            (json!("people"), json!("created")),
            (json!("people"), json!("created")),
            (json!("vault"), json!("updated")),
        ]
    );
    // Then live again.
    let res = app.edit("/data/people/1", &[("f.name", "Four")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(again.change().await["key"], "1");

    // An id this instance does not hold (too old, or another database): read everything again.
    let mut lost = Events::open(&app.client, &app.url("/events"), Some("nope")).await;
    let ev = lost.next().await.unwrap();
    assert_eq!(ev.kind, "reset");
}

/// A client that stops reading: its buffer fills, the hub drops it, and the writes go on.
async fn a_slow_client_is_dropped_and_the_writer_goes_on(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = people(backend, &["--sse-client-buffer", "4", "--metrics"]).await;
    let series = match backend {
        Backend::Sqlite => {
            "WITH RECURSIVE n(i) AS (SELECT 1000 UNION ALL SELECT i + 1 FROM n WHERE i < 3999)
             INSERT INTO people (id, name) SELECT i, 'p' || i FROM n"
        }
        Backend::Postgres => {
            "INSERT INTO people (id, name) SELECT i, 'p' || i FROM generate_series(1000, 3999) i"
        }
    };
    app.sql(series);
    let signed = new_client();
    let res = Session::of(&app, &signed)
        .sign_in(crate::common::ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    let cookie = set_cookie(&res, "gh_session").expect("a session cookie");

    // A raw connection with a tiny receive buffer that reads the head, then nothing.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let addr = app.base.trim_start_matches("http://").parse().unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let request =
        format!("GET /events HTTP/1.1\r\nHost: {addr}\r\nCookie: gh_session={cookie}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 512];
    let n = stream.read(&mut head).await.unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    assert_eq!(app.caches.live.clients(), 1);

    // Three thousand notices in one bulk change: far more than the buffer and the sockets hold.
    let form = [
        ("action", "set"),
        ("all", "1"),
        ("query", ""),
        ("column", "secret_note"),
        ("value", "bulk"),
        ("confirm", "1"),
    ];
    let done = app
        .post_form("/data/people", "/data/people/bulk", &form)
        .await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "the writer was not held up"
    );
    let started = Instant::now();
    while app.caches.live.clients() > 0 {
        assert!(
            started.elapsed() < PATIENCE,
            "the slow client was never dropped"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    // Once it reads again it gets what was buffered, then the end of the stream.
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = actix_web::rt::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("the dropped stream ends")
            .unwrap();
        seen.extend_from_slice(&buf[..n]);
        if n == 0 || seen.ends_with(b"\r\n0\r\n\r\n") {
            break;
        }
    }
    let body = String::from_utf8_lossy(&seen);
    let got = body.matches("event: change").count();
    assert!(got < 3000, "the dropped client got {got} of 3000 notices");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("gatehouse_sse_clients 0"), "{metrics}");
    assert!(
        metrics.contains("gatehouse_sse_dropped_total 1"),
        "{metrics}"
    );
}

async fn streams_beyond_the_limit_get_503(backend: Backend) {
    let app = people(backend, &["--sse-max-clients", "2"]).await;
    let one = Events::open(&app.client, &app.url("/events"), None).await;
    let _two = Events::open(&app.client, &app.url("/events"), None).await;
    let res = app.get("/events").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    // A closed stream frees its place, at the next heartbeat at the latest (the server
    // learns that a silent connection is gone when it writes to it).
    drop(one);
    let started = Instant::now();
    loop {
        let res = app.get("/events").await;
        if res.status() == StatusCode::OK {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE + gatehouse::events::live::HEARTBEAT,
            "the closed stream's place was never freed"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}
