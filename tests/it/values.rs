//! Values read as values in lists, on both backends: enum/CHECK values as badges with a
//! stable tone, booleans as ✓/✗ with words for screen readers, timestamps relative with
//! the exact time in the operator's time zone (a setting on /account, with the theme),
//! long text and JSON folded, NULL subtle; foreign keys named by the referenced row's label
//! on the record form, in related rows and in history diffs.

use reqwest::StatusCode;

use crate::common::{Backend, TestApp, location};
use gatehouse::data::views::cells::tone;

both_backends!(
    lists_show_badges_booleans_folded_text_and_null,
    timestamps_follow_the_operators_time_zone,
    a_bad_time_zone_or_theme_is_refused_and_nothing_is_stored,
    foreign_keys_show_labels_on_the_record_in_related_rows_and_in_history,
);

fn schema(backend: Backend) -> String {
    let (id, json, stamp) = match backend {
        Backend::Sqlite => ("INTEGER PRIMARY KEY", "JSON", "TIMESTAMP"),
        Backend::Postgres => ("SERIAL PRIMARY KEY", "JSONB", "TIMESTAMPTZ"),
    };
    let long = "word ".repeat(40);
    let recent = (chrono::Utc::now() - chrono::Duration::hours(3)).format("%Y-%m-%d %H:%M:%S");
    format!(
        "CREATE TABLE tickets (id {id}, status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
            urgent BOOLEAN, opened_at {stamp}, note TEXT, meta {json});
         INSERT INTO tickets (status, urgent, opened_at, note, meta) VALUES
            ('open', TRUE, '2026-01-15 12:00:00', '{long}', '{{\"tags\":[\"a\",\"b\"],\"n\":1}}'),
            ('closed', FALSE, '{recent}', NULL, NULL),
            ('open', NULL, NULL, 'short', NULL);"
    )
}

async fn signed_in(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.sql(&schema(backend));
    app.setup_admin().await;
    app
}

async fn list(app: &TestApp) -> String {
    let res = app.get("/data/tickets").await;
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

async fn lists_show_badges_booleans_folded_text_and_null(backend: Backend) {
    let app = signed_in(backend).await;
    let body = list(&app).await;

    let open = format!("<span class=\"badge tone-{}\">open</span>", tone("open"));
    assert_eq!(
        body.matches(&open).count(),
        2,
        "one tone for one value: {body}"
    );
    let closed = format!(
        "<span class=\"badge tone-{}\">closed</span>",
        tone("closed")
    );
    assert!(body.contains(&closed));

    assert!(body.contains(
        "<span class=\"yes\" aria-hidden=\"true\">✓</span><span class=\"visually-hidden\">true</span>"
    ));
    assert!(body.contains(
        "<span class=\"no\" aria-hidden=\"true\">✗</span><span class=\"visually-hidden\">false</span>"
    ));
    assert!(body.contains("<span class=\"null\">NULL</span>"));

    // Long text: the start shown, the whole behind an expander.
    assert!(body.contains("<details class=\"fold\"><summary>word word"));
    assert!(body.contains(&format!(
        "<div class=\"fold-body\">{}</div>",
        "word ".repeat(40)
    )));
    // JSON pretty-printed (keys and values on their own lines).
    assert!(
        body.contains("<pre class=\"fold-body\">{\n  &#34;n&#34;: 1,")
            || body.contains("<pre class=\"fold-body\">{\n  &#34;tags&#34;"),
        "pretty JSON: {body}"
    );
}

async fn timestamps_follow_the_operators_time_zone(backend: Backend) {
    let app = signed_in(backend).await;
    let body = list(&app).await;
    // The default zone is UTC; an old time reads as its date, a recent one relative.
    assert!(
        body.contains("<time datetime=\"2026-01-15T12:00:00+00:00\" title=\"2026-01-15 12:00:00 UTC\">2026-01-15</time>"),
        "{body}"
    );
    assert!(body.contains("\">3 h ago</time>"), "{body}");
    assert!(body.contains("<html lang=\"en\" data-theme=\"system\">"));

    let res = app
        .post_form(
            "/account",
            "/account/settings",
            &[("time_zone", "America/New_York"), ("theme", "dark")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/account");
    let account = app.get("/account").await.text().await.unwrap();
    assert!(account.contains("Display settings saved."));
    assert!(account.contains("<option selected>America/New_York</option>"));
    assert!(account.contains("value=\"dark\" checked"));

    let body = list(&app).await;
    assert!(
        body.contains("<time datetime=\"2026-01-15T07:00:00-05:00\" title=\"2026-01-15 07:00:00 EST\">2026-01-15</time>"),
        "{body}"
    );
    assert!(body.contains("<html lang=\"en\" data-theme=\"dark\">"));
    assert_eq!(
        app.scalar("SELECT time_zone FROM gh_user_settings")
            .as_deref(),
        Some("America/New_York")
    );
}

async fn a_bad_time_zone_or_theme_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = signed_in(backend).await;
    for (zone, theme, message) in [
        ("Mars/Olympus_Mons", "light", "is not a known time zone"),
        ("Europe/Paris", "sepia", "is not a theme"),
    ] {
        let res = app
            .post_form(
                "/account",
                "/account/settings",
                &[("time_zone", zone), ("theme", theme)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let account = app.get("/account").await.text().await.unwrap();
        assert!(account.contains(message), "{account}");
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_user_settings")
            .as_deref(),
        Some("0")
    );
    assert!(
        list(&app)
            .await
            .contains("title=\"2026-01-15 12:00:00 UTC\"")
    );
}

async fn foreign_keys_show_labels_on_the_record_in_related_rows_and_in_history(backend: Backend) {
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    let app = TestApp::spawn(backend).await;
    app.sql(&format!(
        "CREATE TABLE people (id {id}, name TEXT NOT NULL);
         CREATE TABLE things (id {id}, title TEXT NOT NULL);
         CREATE TABLE loans (id {id}, person_id INTEGER NOT NULL REFERENCES people (id),
             thing_id INTEGER NOT NULL REFERENCES things (id), days INTEGER);
         INSERT INTO people (name) VALUES ('Ada'), ('Grace');
         INSERT INTO things (title) VALUES ('Ladder');
         INSERT INTO loans (person_id, thing_id, days) VALUES (1, 1, 7);"
    ));
    app.setup_admin().await;

    // The form names the referenced row next to the picker.
    let record = app.get("/data/loans/1").await.text().await.unwrap();
    assert!(
        record.contains("#link\"></use></svg>Ada</span>"),
        "{record}"
    );
    // A related row without a label column is named by its other foreign keys' labels.
    let person = app.get("/data/people/1").await.text().await.unwrap();
    assert!(person.contains(">Ladder</a></li>"), "{person}");
    assert!(!person.contains(">1</a></li>"));

    let res = app
        .edit(
            "/data/loans/1",
            &[("f.person_id", "2"), ("f.thing_id", "1"), ("f.days", "7")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let record = app.get("/data/loans/1").await.text().await.unwrap();
    assert!(record.contains("<del>Ada (1)</del>"), "{record}");
    assert!(record.contains("<ins>Grace (2)</ins>"), "{record}");
}
