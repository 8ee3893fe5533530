//! Row rules, the last paths (issues 15 and 13) on both backends: live notices under a read
//! rule name only rows inside it (UI, API, import and delete writes, and the
//! `Last-Event-ID` catch-up); an API token's `$me` is the operator who made it while they
//! may act, and no one after; a clash with a hidden row's unique value, and a refusal by a
//! rule on a hidden column, name neither the row nor the column.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{ADMIN_EMAIL, Backend, Session, TestApp};
use crate::import::api_import;
use crate::live::Events;
use crate::row_rules::{OPERATOR, PASSWORD, regional_setup, set_rules, user_id};
use gatehouse::identity::row_rules::Action;

both_backends!(
    notices_under_a_read_rule_name_only_rows_inside,
    the_catch_up_after_a_reconnection_keeps_to_the_rule,
    a_token_s_me_is_the_operator_who_made_it,
    clashes_and_refusals_name_no_hidden_row_or_column,
);

/// A token of `role`, made by the signed-in administrator.
async fn token_of(app: &TestApp, name: &str, role: &str) -> String {
    let res = app
        .post_form(
            "/integrations/tokens",
            "/integrations/tokens",
            &[("name", name), ("role", role), ("expires_days", "30")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let marker = "id=\"new-token\">";
    let start = page.find(marker).expect("the new token is shown") + marker.len();
    page[start..start + page[start..].find('<').unwrap()].to_string()
}

fn id_of(app: &TestApp, name: &str) -> String {
    app.scalar(&format!("SELECT id FROM orders WHERE name = '{name}'"))
        .unwrap()
}

fn assert_is(n: &Value, key: &str, action: &str) {
    assert_eq!(n["table"], "orders", "{n}");
    assert_eq!(n["key"], key, "{n}");
    assert_eq!(n["action"], action, "{n}");
}

async fn notices_under_a_read_rule_name_only_rows_inside(backend: Backend) {
    let (app, client) = regional_setup(backend).await;
    let mut events = Events::open(&client, &app.url("/events"), None).await;
    let admin = app.session();
    // Each time a change outside the rule comes first, then one inside: the next notice
    // the EU operator gets is the one inside.
    for (key, owner) in [("2", "x"), ("1", "y")] {
        let res = admin
            .edit(&format!("/data/orders/{key}"), &[("f.owner", owner)])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    assert_is(&events.change().await, "1", "updated");
    for (name, region) in [("Kilo-US", "US"), ("Lima-EU", "EU")] {
        let res = admin
            .post_form(
                "/data/orders/new",
                "/data/orders",
                &[("f.name", name), ("f.region", region)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    assert_is(&events.change().await, &id_of(&app, "Lima-EU"), "created");

    // The API.
    let tok = token_of(&app, "live", "admin").await;
    for key in ["2", "3"] {
        let res = reqwest::Client::new()
            .patch(app.url(&format!("/api/v1/tables/orders/rows/{key}")))
            .bearer_auth(&tok)
            .json(&json!({ "owner": "api" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_is(&events.change().await, "3", "updated");

    // An update that moves a row out of the rule sends it no notice.
    let res = admin.edit("/data/orders/3", &[("f.region", "US")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = admin.edit("/data/orders/1", &[("f.owner", "z")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_is(&events.change().await, "1", "updated");

    // Deletions: the row is gone, its audited values decide.
    for name in ["Kilo-US", "Lima-EU"] {
        let path = format!("/data/orders/{}/delete", id_of(&app, name));
        let res = admin.post_form(&path, &path, &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    let lima = app
        .scalar("SELECT row_key FROM gh_audit WHERE action = 'record.deleted' AND changes LIKE '%Lima-EU%'")
        .unwrap();
    assert_is(&events.change().await, &lima, "deleted");

    // An import names no row: its notice has no key (the list reads again, through the
    // rule), and it carries no values.
    let (status, body) = api_import(&app, &tok, "orders", "", "name,region\nOscar-US,US\n").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let imported = events.change().await;
    assert_is(&imported, "", "imported");
    assert!(!imported.to_string().contains("Oscar"), "{imported}");
}

async fn the_catch_up_after_a_reconnection_keeps_to_the_rule(backend: Backend) {
    let (app, client) = regional_setup(backend).await;
    let admin = app.session();
    let url = app.url("/events");
    let mut events = Events::open(&client, &url, None).await;
    let res = admin.edit("/data/orders/1", &[("f.owner", "a")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let first = events.change().await;
    assert_is(&first, "1", "updated");
    drop(events);
    let last = first["id"].as_str().unwrap().to_string();
    for (key, owner) in [("2", "b"), ("3", "c")] {
        let res = admin
            .edit(&format!("/data/orders/{key}"), &[("f.owner", owner)])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    // The administrator (no rule) catches up with both; the EU operator with the EU row.
    let mut everything = Events::open(&app.client, &url, Some(&last)).await;
    assert_is(&everything.change().await, "2", "updated");
    assert_is(&everything.change().await, "3", "updated");
    let mut again = Events::open(&client, &url, Some(&last)).await;
    assert_is(&again.change().await, "3", "updated");
}

async fn a_token_s_me_is_the_operator_who_made_it(backend: Backend) {
    let (app, _client) = regional_setup(backend).await;
    app.create_role("own", &[("t.orders.r", "on")]).await;
    set_rules(
        &app,
        "own",
        "orders",
        &[Action::Read],
        "owner__eq=$me.email",
    );
    app.sql(&format!(
        "UPDATE orders SET owner = '{ADMIN_EMAIL}' WHERE id = 3"
    ));
    let tok = token_of(&app, "own", "own").await;
    let names = || async {
        let body: Value = reqwest::Client::new()
            .get(app.url("/api/v1/tables/orders/rows"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut names: Vec<String> = body["rows"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|r| r["name"].as_str().unwrap_or_default().to_string())
            .collect();
        names.sort();
        names
    };
    // Made by the administrator: their email.
    assert_eq!(names().await, ["Charlie-EU"]);
    let forget = || {
        app.caches.tokens.forget_all();
        app.caches.rights.forget_all();
    };
    // Made by the EU operator (row 1 is theirs).
    let op = user_id(&app, OPERATOR);
    app.sql(&format!("UPDATE gh_api_tokens SET created_by = '{op}'"));
    forget();
    assert_eq!(names().await, ["Alpha-EU"]);
    // Their maker disabled, or gone: `$me` is no one, no row.
    app.sql(&format!(
        "UPDATE gh_users SET disabled = (1 = 1) WHERE id = '{op}'"
    ));
    forget();
    assert!(names().await.is_empty());
    app.sql("UPDATE gh_api_tokens SET created_by = NULL");
    forget();
    assert!(names().await.is_empty());
}

async fn clashes_and_refusals_name_no_hidden_row_or_column(backend: Backend) {
    let (app, client) = regional_setup(backend).await;
    app.sql("CREATE UNIQUE INDEX orders_name_key ON orders (name)");
    // The EU operator names a new order as the hidden US one is named.
    let eu = Session::of(&app, &client);
    let res = eu
        .post_form(
            "/data/orders/new",
            "/data/orders",
            &[("f.name", "Bravo-US"), ("f.region", "EU")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = res.text().await.unwrap();
    assert!(page.contains("conflict with an existing row"), "{page}");
    assert!(!page.contains("Another row already has"));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM orders").unwrap(), "3");

    // The API: the same value.
    let tok = token_of(&app, "eu", "eu_only").await;
    {
        let body = json!({ "name": "Bravo-US", "region": "EU" });
        let res = reqwest::Client::new()
            .post(app.url("/api/v1/tables/orders/rows"))
            .bearer_auth(&tok)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let problem: Value = res.json().await.unwrap();
        let text = problem.to_string();
        assert_eq!(status, StatusCode::CONFLICT, "{body}: {text}");
        assert!(text.contains("conflict with an existing row"), "{text}");
        assert!(!text.contains("US") && !text.contains("\"name\""), "{text}");
    }

    // A create rule on a column the role does not see refuses without naming it.
    app.create_role(
        "blind",
        &[
            ("t.orders.r", "on"),
            ("t.orders.c", "on"),
            ("h.orders", "owner"),
        ],
    )
    .await;
    set_rules(&app, "blind", "orders", &[Action::Create], "owner__eq=boss");
    let blind = app.operator("blind@example.com", "blind", PASSWORD).await;
    let res = Session::of(&app, &blind)
        .post_form(
            "/data/orders/new",
            "/data/orders",
            &[("f.name", "Papa-EU"), ("f.region", "EU")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = res.text().await.unwrap();
    assert!(page.contains("does not let you create this row"), "{page}");
    assert!(!page.contains("owner") && !page.contains("boss"), "{page}");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM orders").unwrap(), "3");
}
