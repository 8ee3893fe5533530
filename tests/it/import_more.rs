//! More of issue 10's import, on both backends: timestamps written with a zone (as Postgres
//! writes timestamptz text, `+00`, `+05:30`) are taken and stored as UTC, and the audit
//! log's page and CSV export say through what each change was made.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Backend, TestApp};
use crate::import::{api_import, token};

both_backends!(
    timestamps_with_a_zone_import_as_utc,
    the_audit_log_and_its_export_say_through_what,
);

async fn timestamps_with_a_zone_import_as_utc(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let (ddl, csv) = match backend {
        Backend::Sqlite => (
            "CREATE TABLE events (id INTEGER PRIMARY KEY, at TIMESTAMP NOT NULL)",
            "at\n2026-01-02 03:04:05+00\n2026-01-02 03:04:05+05:30\n2026-01-02T03:04:05Z\n",
        ),
        Backend::Postgres => (
            "CREATE TABLE events (id SERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL)",
            "at\n2026-01-02 03:04:05+00\n2026-01-02 03:04:05+05:30\n2026-01-02T03:04:05Z\n",
        ),
    };
    app.sql(ddl);
    let token = token(&app, "editor").await;
    let (status, body) = api_import(&app, &token, "events", "", csv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["inserted"], json!(3));
    let stored = match backend {
        Backend::Sqlite => "SELECT at FROM events ORDER BY id",
        Backend::Postgres => {
            "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM events ORDER BY id"
        }
    };
    let rows: Vec<String> = (0..3)
        .map(|i| app.scalar(&format!("{stored} LIMIT 1 OFFSET {i}")).unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            "2026-01-02 03:04:05",
            "2026-01-01 21:34:05",
            "2026-01-02 03:04:05"
        ]
    );
    // What Postgres exports (`+00`) imports again, through the record form's parser.
    let (status, body) =
        api_import(&app, &token, "events", "", "at\n2026-01-02 03:04:05+99\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["errors"]["row 1, column at"]
            .as_str()
            .unwrap()
            .contains("YYYY-MM-DD HH:MM"),
        "{body}"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM events").as_deref(),
        Some("3")
    );
}

async fn the_audit_log_and_its_export_say_through_what(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    app.sql(&format!(
        "CREATE TABLE people (id {id}, name TEXT NOT NULL); INSERT INTO people (name) VALUES ('Ann');"
    ));
    // Through the UI, an import through the API, and an API token's own change.
    let res = app.edit("/data/people/1", &[("f.name", "Bea")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let token = token(&app, "editor").await;
    let (status, body) = api_import(&app, &token, "people", "", "name\nCy\n").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let res = reqwest::Client::new()
        .patch(app.url("/api/v1/tables/people/rows/1"))
        .bearer_auth(&token)
        .json(&json!({ "name": "Di" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let page = app.session().page("/audit?table=people").await;
    assert!(page.contains("<th scope=\"col\">Via</th>"), "{page}");
    for via in [
        "<td>UI</td>",
        "<td>import</td>",
        "<td>API token “importer”</td>",
    ] {
        assert!(page.contains(via), "{via}: {page}");
    }
    let body = app
        .get("/audit/export.csv?table=people")
        .await
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "id,at,user,action,table,key,changes,via");
    let last = |action: &str| {
        lines
            .iter()
            .find(|l| l.contains(&format!(",{action},people,")))
            .map(|l| l.rsplit(',').next().unwrap_or_default().to_string())
    };
    assert_eq!(last("table.imported").as_deref(), Some("import"));
    // Newest first: the token's update, then the page's.
    let updates: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains(",record.updated,people,"))
        .map(|l| l.rsplit(',').next().unwrap_or_default())
        .collect();
    assert_eq!(updates, ["API token “importer”", "UI"], "{body}");
}
