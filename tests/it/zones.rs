//! The operator's time zone holds everywhere a time is shown, on both backends: the record
//! form shows times in it and reads what is typed in it, storing the same instant as
//! before (a round trip changes nothing, also in the hour a change of clocks repeats);
//! history, deleted rows, the audit log, sessions, webhooks and the dashboard show it.

use reqwest::StatusCode;

use crate::common::{Backend, TestApp};

both_backends!(
    the_record_form_shows_and_reads_times_in_the_operators_zone,
    a_round_trip_in_the_hour_clocks_repeat_keeps_both_instants,
    every_page_shows_times_in_the_operators_zone,
);

/// `stamp` is timestamptz on Postgres; `plain` is a timestamp without a zone (UTC by
/// Gatehouse's convention, like every SQLite time).
pub(crate) fn schema(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "CREATE TABLE meetings (id INTEGER PRIMARY KEY, title TEXT NOT NULL,
                stamp TIMESTAMP, plain TIMESTAMP);
             INSERT INTO meetings (title, stamp, plain) VALUES
                ('kickoff', '2026-01-15 12:00:00', '2026-01-15 12:00:00'),
                ('fall back', '2026-11-01 05:30:00', '2026-11-01 06:30:00');"
        }
        Backend::Postgres => {
            "CREATE TABLE meetings (id SERIAL PRIMARY KEY, title TEXT NOT NULL,
                stamp TIMESTAMPTZ, plain TIMESTAMP);
             INSERT INTO meetings (title, stamp, plain) VALUES
                ('kickoff', '2026-01-15 12:00:00+00', '2026-01-15 12:00:00'),
                ('fall back', '2026-11-01 05:30:00+00', '2026-11-01 06:30:00');"
        }
    }
}

/// A column's stored value, as UTC text.
pub(crate) fn stored(app: &TestApp, column: &str, id: u32) -> String {
    let sql = match (app.backend(), column) {
        (Backend::Postgres, "stamp") => format!(
            "SELECT to_char(stamp AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM meetings WHERE id = {id}"
        ),
        _ => format!("SELECT CAST({column} AS TEXT) FROM meetings WHERE id = {id}"),
    };
    app.scalar(&sql).unwrap_or_default()
}

pub(crate) async fn in_zone(backend: Backend, zone: &str) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.sql(schema(backend));
    app.setup_admin().await;
    let res = app
        .post_form(
            "/account",
            "/account/settings",
            &[("time_zone", zone), ("theme", "system")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    app
}

/// The `value` of the record form's input for `column`, and its `type`.
fn input(body: &str, column: &str) -> (String, String) {
    let at = body
        .find(&format!("name=\"f.{column}\""))
        .unwrap_or_else(|| panic!("no field {column}: {body}"));
    let tag_start = body[..at].rfind("<input").unwrap();
    let tag = &body[tag_start..at + body[at..].find('>').unwrap()];
    let attr = |name: &str| {
        let marker = format!("{name}=\"");
        let from = tag.find(&marker).unwrap() + marker.len();
        tag[from..from + tag[from..].find('"').unwrap()].to_string()
    };
    (attr("value"), attr("type"))
}

async fn the_record_form_shows_and_reads_times_in_the_operators_zone(backend: Backend) {
    let app = in_zone(backend, "Asia/Kolkata").await;
    let body = app.get("/data/meetings/1").await.text().await.unwrap();
    // Half an hour off the hour: 12:00 UTC is 17:30 in Kolkata, for both columns.
    let (stamp, kind) = input(&body, "stamp");
    assert_eq!(
        (stamp.as_str(), kind.as_str()),
        ("2026-01-15T17:30:00", "datetime-local")
    );
    let (plain, _) = input(&body, "plain");
    assert_eq!(plain, "2026-01-15T17:30:00");

    // The form sent back as shown changes no time.
    let res = app
        .edit(
            "/data/meetings/1",
            &[
                ("f.title", "kick-off"),
                ("f.stamp", &stamp),
                ("f.plain", &plain),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored(&app, "stamp", 1), "2026-01-15 12:00:00");
    assert!(stored(&app, "plain", 1).starts_with("2026-01-15 12:00:00"));
    assert_eq!(
        app.scalar("SELECT title FROM meetings WHERE id = 1")
            .as_deref(),
        Some("kick-off")
    );

    // A time typed in the form is in the operator's zone; one with an offset keeps it.
    let res = app
        .edit(
            "/data/meetings/1",
            &[
                ("f.stamp", "2026-01-16T09:00"),
                ("f.plain", "2026-01-16 09:00:00+00:00"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored(&app, "stamp", 1), "2026-01-16 03:30:00");
    assert!(stored(&app, "plain", 1).starts_with("2026-01-16 09:00:00"));

    // History: when, in the zone (tooltip), and the diff of a time column in the zone.
    let body = app.get("/data/meetings/1").await.text().await.unwrap();
    assert!(body.contains(" IST\">just now</time>"), "{body}");
    assert!(body.contains("2026-01-15 17:30:00 IST"), "{body}");
    assert!(body.contains("2026-01-16 09:00:00 IST"), "{body}");
    assert!(body.contains("2026-01-16 14:30:00 IST"), "{body}");
    assert!(!body.contains("UTC\">"), "{body}");
}

async fn a_round_trip_in_the_hour_clocks_repeat_keeps_both_instants(backend: Backend) {
    let app = in_zone(backend, "America/New_York").await;
    let body = app.get("/data/meetings/2").await.text().await.unwrap();
    // 05:30 and 06:30 UTC are both 01:30 in New York on 2026-11-01: the form says which.
    let (stamp, kind) = input(&body, "stamp");
    assert_eq!(
        (stamp.as_str(), kind.as_str()),
        ("2026-11-01T01:30:00-04:00", "text")
    );
    let (plain, _) = input(&body, "plain");
    assert_eq!(plain, "2026-11-01T01:30:00-05:00");
    let res = app
        .edit(
            "/data/meetings/2",
            &[
                ("f.title", "moved"),
                ("f.stamp", &stamp),
                ("f.plain", &plain),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored(&app, "stamp", 2), "2026-11-01 05:30:00");
    assert!(stored(&app, "plain", 2).starts_with("2026-11-01 06:30:00"));

    // Summer and winter: the offset of the day.
    let body = app.get("/data/meetings/1").await.text().await.unwrap();
    assert_eq!(input(&body, "stamp").0, "2026-01-15T07:00:00");
    let res = app
        .edit("/data/meetings/1", &[("f.stamp", "2026-07-01T08:00")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored(&app, "stamp", 1), "2026-07-01 12:00:00");
    let body = app.get("/data/meetings/1").await.text().await.unwrap();
    assert_eq!(input(&body, "stamp").0, "2026-07-01T08:00:00");
    assert!(body.contains("2026-07-01 08:00:00 EDT"), "{body}");
    assert!(body.contains("2026-01-15 07:00:00 EST"), "{body}");
}

async fn every_page_shows_times_in_the_operators_zone(backend: Backend) {
    let app = in_zone(backend, "Asia/Kolkata").await;
    let res = app
        .post_form("/data/meetings/2/delete", "/data/meetings/2/delete", &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let user = app.scalar("SELECT id FROM gh_users").unwrap();
    for page in [
        "/data/meetings/deleted".to_string(),
        "/audit".to_string(),
        "/account".to_string(),
        format!("/users/{user}"),
        "/users".to_string(),
    ] {
        let body = app.get(&page).await.text().await.unwrap();
        assert!(body.contains(" IST\">"), "{page}: {body}");
        assert!(!body.contains(" UTC"), "{page}: {body}");
    }
    // The deleted row's values too.
    let deleted = app
        .get("/data/meetings/deleted")
        .await
        .text()
        .await
        .unwrap();
    assert!(deleted.contains("2026-11-01 11:00:00 IST"), "{deleted}");
}
