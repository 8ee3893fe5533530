//! The History card's "through what" and word-level diffs, on both backends, and a restore
//! from the History card in a real Chromium.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::browser::{click, open, signed_in, text_of, wait_heading, wait_js};
use crate::common::{Backend, TestApp};

both_backends!(the_history_says_through_what_and_diffs_long_text_by_word);

const BEFORE: &str =
    "The quick brown fox jumps over the lazy dog near the riverbank in the morning light";
const AFTER: &str =
    "The quick brown fox leaps over the sleepy dog near the riverbank in the morning light";

async fn people(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    app.sql(&format!(
        "CREATE TABLE people (id {id}, name TEXT NOT NULL, bio TEXT);
         INSERT INTO people (id, name, bio) VALUES (1, 'Ann', 'short');"
    ));
    app
}

async fn token(app: &TestApp, name: &str) -> String {
    let res = app
        .post_form(
            "/integrations/tokens",
            "/integrations/tokens",
            &[("name", name), ("role", "editor"), ("expires_days", "30")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let marker = "id=\"new-token\">";
    let start = page.find(marker).expect("the new token is shown") + marker.len();
    page[start..start + page[start..].find('<').unwrap()].to_string()
}

fn version_in(page: &str) -> String {
    let marker = "name=\"_version\" value=\"";
    let i = page.find(marker).expect("a version field") + marker.len();
    page[i..i + page[i..].find('"').unwrap()].to_string()
}

async fn the_history_says_through_what_and_diffs_long_text_by_word(backend: Backend) {
    let app = people(backend).await;
    // Through the UI, then through an API token.
    let res = app
        .edit("/data/people/1", &[("f.name", "Ann"), ("f.bio", BEFORE)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let ui_entry = app
        .scalar("SELECT id FROM gh_audit WHERE action = 'record.updated'")
        .unwrap();
    let tok = token(&app, "sync-bot").await;
    let res = reqwest::Client::new()
        .patch(app.url("/api/v1/tables/people/rows/1"))
        .bearer_auth(&tok)
        .json(&json!({ "bio": AFTER }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Then a restore of the UI's version.
    let confirm = app
        .get(&format!("/data/people/1/restore/{ui_entry}"))
        .await
        .text()
        .await
        .unwrap();
    let res = app
        .post_form(
            &format!("/data/people/1/restore/{ui_entry}"),
            &format!("/data/people/1/restore/{ui_entry}"),
            &[("_version", &version_in(&confirm))],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.scalar("SELECT bio FROM people WHERE id = 1").as_deref(),
        Some(BEFORE)
    );
    let channels = |action: &str| {
        app.scalar(&format!(
            "SELECT via FROM gh_audit WHERE table_name = 'people' AND action = '{action}' ORDER BY created_at, id"
        ))
    };
    assert_eq!(channels("record.updated").as_deref(), Some("ui"));
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_audit WHERE via = 'api:sync-bot'")
            .as_deref(),
        Some("1")
    );
    assert_eq!(channels("row.restored").as_deref(), Some("restore"));

    let page = app.get("/data/people/1").await.text().await.unwrap();
    assert!(page.contains(" via UI"), "{page}");
    assert!(page.contains(" via API token “sync-bot”"));
    assert!(page.contains(&format!(" via restore of entry {ui_entry}")));
    // The long text's change is shown word by word, spoken as removed/added.
    assert!(page.contains(
        "<del><span class=\"visually-hidden\">[removed: </span>lazy<span class=\"visually-hidden\">]</span></del>"
    ));
    assert!(page.contains(
        "<ins><span class=\"visually-hidden\">[added: </span>sleepy<span class=\"visually-hidden\">]</span></ins>"
    ));
    assert!(page.contains("class=\"word-diff\""));
    // A short value keeps the plain before → after.
    assert!(page.contains("<td><del>short</del></td>"));

    // The channel an import sets (the import slice calls this on its actor).
    let actor = gatehouse::audit::Actor {
        user_id: None,
        email: "importer@example.com".into(),
        via: "ui".into(),
    }
    .through(gatehouse::audit::Via::Import);
    assert_eq!(actor.via, "import");
    assert_eq!(gatehouse::audit::via_label(&actor.via), "import");
}

#[actix_web::test]
async fn an_operator_restores_an_older_version_from_the_history_in_a_real_browser() {
    let app = people(Backend::Sqlite).await;
    for name in ["Bea", "Cy"] {
        let res = app.edit("/data/people/1", &[("f.name", name)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    let (_driver, c) = signed_in(&app).await;

    open(&c, &app, "/data/people/1", "Data / people / 1").await;
    // Newest first: the second entry is the change that made the name "Bea".
    let links = c
        .find_all(Locator::LinkText("Restore this version"))
        .await
        .unwrap();
    assert_eq!(links.len(), 2);
    links[1].click().await.unwrap();
    wait_heading(&c, "Data / people / 1 / restore").await;
    let diff = text_of(&c, Locator::Css("table.diff")).await;
    assert!(diff.contains("Cy") && diff.contains("Bea"), "{diff}");
    click(&c, Locator::Css("form button.primary")).await;
    wait_js(
        &c,
        "document.body.textContent.includes('Version restored.')",
    )
    .await;
    let started = Instant::now();
    loop {
        let value = c
            .find(Locator::Css("input[name='f.name']"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap();
        if value.as_deref() == Some("Bea") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{value:?}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.scalar("SELECT name FROM people WHERE id = 1")
            .as_deref(),
        Some("Bea")
    );
    let history = text_of(&c, Locator::Css("ol.history")).await;
    assert!(history.starts_with("row.restored"), "{history}");
    assert!(history.contains("via restore of entry"), "{history}");
    c.close().await.unwrap();
}
