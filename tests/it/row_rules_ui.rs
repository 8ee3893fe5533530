//! The row-rule editor (`/roles/{name}/rules/{table}`), its preview, and operator
//! attributes (`/users/{id}`), on both backends; and the editor in a real Chromium, with
//! axe-core finding no violation on it.

use fantoccini::Locator;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::common::browser::{click, open, signed_in, text_of, wait_js};
use crate::common::{Backend, Session, TestApp, location};

const RULES: &str = "/roles/regional/rules/deals";
const PASSWORD: &str = "a long enough password";

/// An administrator, a table of deals in two regions, and the custom role `regional`.
async fn app_with_deals(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(
        "CREATE TABLE deals (id INTEGER PRIMARY KEY, title TEXT NOT NULL, region TEXT NOT NULL, amount INTEGER);
         INSERT INTO deals (id, title, region, amount) VALUES
           (1, 'Alpha', 'EU', 10), (2, 'Beta', 'EU', 20), (3, 'Gamma', 'US', 30);",
    );
    app.create_role("regional", &[("t.deals.r", "on"), ("t.deals.u", "on")])
        .await;
    app
}

fn count(app: &TestApp, sql: &str) -> i64 {
    app.scalar(sql).and_then(|v| v.parse().ok()).unwrap_or(-1)
}

fn saved_rules(app: &TestApp) -> i64 {
    count(
        app,
        "SELECT COUNT(*) FROM gh_role_rules WHERE role = 'regional'",
    )
}

fn user_id(app: &TestApp, email: &str) -> String {
    app.scalar(&format!("SELECT id FROM gh_users WHERE email = '{email}'"))
        .expect("the operator exists")
}

async fn the_editor_saves_and_reloads_a_rule(backend: Backend) {
    let app = app_with_deals(backend).await;
    let res = app
        .post_form(
            RULES,
            RULES,
            &[
                ("read.all", "region__eq=$me.region\n\n"),
                ("read.any", ""),
                ("update.all", "region__eq=$me.region"),
                ("update.any", "amount__lt=100\ntitle__startswith=A"),
                ("update.allow_move_out", "on"),
                ("create.all", ""),
                ("delete.all", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), RULES);
    assert_eq!(saved_rules(&app), 2, "read and update have a rule");
    let page = app.session().page(RULES).await;
    assert!(page.contains("Row rules saved."), "{page}");
    assert!(page.contains(">region__eq=$me.region</textarea>"), "{page}");
    assert!(
        page.contains(">amount__lt=100\ntitle__startswith=A</textarea>"),
        "the any-of group reloads"
    );
    assert!(page.contains("name=\"update.allow_move_out\" value=\"on\" checked"));
    let audited = count(
        &app,
        "SELECT COUNT(*) FROM gh_audit WHERE action = 'role.rule_changed' AND row_key = 'regional'",
    );
    assert_eq!(audited, 2, "one entry per action changed");
    // The rights matrix says which actions have a rule.
    let role = app.session().page("/roles/regional").await;
    assert!(role.contains(">read, update</a>"), "{role}");

    // Emptying a rule removes it.
    let res = app
        .post_form(RULES, RULES, &[("read.all", "region__eq=$me.region")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(saved_rules(&app), 1);
}

async fn invalid_rules_are_refused_naming_the_line_and_nothing_is_saved(backend: Backend) {
    let app = app_with_deals(backend).await;
    for (field, text, expected) in [
        (
            "read.all",
            "region__eq=EU\nnope__eq=1",
            "Line 2 of &#34;all of&#34; (nope__eq=1): deals has no column",
        ),
        (
            "update.any",
            "region__like=EU",
            "Line 1 of &#34;any of&#34;",
        ),
        (
            "delete.all",
            "amount__gt=many",
            "Line 1 of &#34;all of&#34;",
        ),
        ("create.all", "region", "Line 1 of &#34;all of&#34;"),
    ] {
        // A valid rule on another action is not saved either.
        let valid = if field.starts_with("read") {
            "update.all"
        } else {
            "read.all"
        };
        let res = app
            .post_form(
                RULES,
                RULES,
                &[(valid, "region__eq=$me.region"), (field, text)],
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {text}"
        );
        let body = res.text().await.unwrap();
        assert!(body.contains(expected), "{field}: {text}: {body}");
        assert!(body.contains("Nothing was saved"), "{body}");
        // The error is tied to its field, and what was typed is kept.
        let id = field.replace('.', "-");
        assert!(body.contains(&format!("aria-describedby=\"rule-syntax {id}-error\"")));
        assert!(body.contains(&format!("id=\"{id}-error\"")));
        assert!(body.contains(text), "what was typed is kept");
        assert_eq!(saved_rules(&app), 0, "nothing was saved");
    }
    // Built-in roles have no rules; unknown roles and tables are 404.
    let res = app.session().get("/roles/editor/rules/deals").await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(
        app.session()
            .get("/roles/nobody/rules/deals")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.session()
            .get("/roles/regional/rules/nothing")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

async fn a_non_administrator_gets_403_on_the_editor(backend: Backend) {
    let app = app_with_deals(backend).await;
    let client = app.operator("eve@example.com", "regional", PASSWORD).await;
    let eve = Session::of(&app, &client);
    assert_eq!(eve.get(RULES).await.status(), StatusCode::FORBIDDEN);
    let token = eve.csrf("/account").await;
    let preview = format!("{RULES}/preview");
    for action in [RULES, preview.as_str()] {
        let res = eve
            .post_with_token(action, &token, &[("read.all", "")])
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{action}");
    }
    let me = format!("/users/{}/attributes", user_id(&app, "eve@example.com"));
    let res = eve
        .post_with_token(&me, &token, &[("key", "region"), ("value", "US")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(saved_rules(&app), 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM gh_user_attributes"), 0);
}

async fn attributes_are_added_edited_validated_and_removed(backend: Backend) {
    let app = app_with_deals(backend).await;
    app.operator("alice@example.com", "regional", PASSWORD)
        .await;
    let page = format!("/users/{}", user_id(&app, "alice@example.com"));
    let action = format!("{page}/attributes");
    let attrs = "SELECT COUNT(*) FROM gh_user_attributes";

    let res = app
        .post_form(
            &page,
            &action,
            &[
                ("key", "region"),
                ("value", " EU "),
                ("key", "team"),
                ("value", "north"),
                ("key", ""),
                ("value", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(count(&app, attrs), 2);
    let body = app.session().page(&page).await;
    assert!(body.contains("value=\"region\""), "{body}");
    assert!(
        body.contains("value=\"EU\""),
        "the value is trimmed: {body}"
    );

    // Invalid rows: a bad key, a duplicate, an empty value, a long value; nothing changes.
    let long = "x".repeat(201);
    for (key, value, expected) in [
        ("Region!", "EU", "is not an attribute name"),
        ("email", "x@example.com", "choose another name"),
        ("team", "south", "team appears twice"),
        ("floor", "", "a value, or tick"),
        ("floor", long.as_str(), "at most 200 characters"),
    ] {
        let res = app
            .post_form(
                &page,
                &action,
                &[
                    ("key", "region"),
                    ("value", "US"),
                    ("key", "team"),
                    ("value", "north"),
                    ("key", key),
                    ("value", value),
                ],
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{key}={value}"
        );
        let body = res.text().await.unwrap();
        assert!(body.contains(expected), "{key}: {body}");
        assert!(
            body.contains("aria-invalid=\"true\" aria-describedby=\"attr-error-3\""),
            "{body}"
        );
        assert_eq!(
            app.scalar("SELECT value FROM gh_user_attributes WHERE key = 'region'")
                .as_deref(),
            Some("EU"),
            "nothing was saved"
        );
    }

    // Edit one, remove the other (row 2 ticked).
    let res = app
        .post_form(
            &page,
            &action,
            &[
                ("key", "region"),
                ("value", "US"),
                ("key", "team"),
                ("value", "north"),
                ("remove", "2"),
                ("key", ""),
                ("value", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(count(&app, attrs), 1);
    assert_eq!(
        app.scalar("SELECT value FROM gh_user_attributes WHERE key = 'region'")
            .as_deref(),
        Some("US")
    );
    let audited = count(
        &app,
        "SELECT COUNT(*) FROM gh_audit WHERE action = 'user.attributes_changed'",
    );
    assert_eq!(audited, 2);
}

/// The preview's row for `email`: the number it shows.
fn shown_count(body: &str, email: &str) -> String {
    let cell = format!("<td>{email}</td><td class=\"num\">");
    let start = body
        .find(&cell)
        .unwrap_or_else(|| panic!("{email} in {body}"))
        + cell.len();
    body[start..start + body[start..].find('<').unwrap()].to_string()
}

async fn the_preview_counts_rows_per_operator_under_the_draft(backend: Backend) {
    let app = app_with_deals(backend).await;
    app.operator("alice@example.com", "regional", PASSWORD)
        .await;
    app.operator("bob@example.com", "regional", PASSWORD).await;
    for (email, region) in [("alice@example.com", "EU"), ("bob@example.com", "US")] {
        let page = format!("/users/{}", user_id(&app, email));
        let res = app
            .post_form(
                &page,
                &format!("{page}/attributes"),
                &[("key", "region"), ("value", region)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    let token = app.csrf(RULES).await;
    let mut htmx = HeaderMap::new();
    htmx.insert("HX-Request", HeaderValue::from_static("true"));
    htmx.insert("X-CSRF-Token", HeaderValue::from_str(&token).unwrap());
    let preview = format!("{RULES}/preview");
    let res = app
        .post_raw(
            &preview,
            &[("read.all", "region__eq=$me.region")],
            htmx.clone(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(!body.contains("<html"), "htmx gets the fragment only");
    assert_eq!(shown_count(&body, "alice@example.com"), "2");
    assert_eq!(shown_count(&body, "bob@example.com"), "1");

    // The any-of group, and $me.email, which neither matches: only the constant does.
    let res = app
        .post_raw(
            &preview,
            &[("read.any", "title__eq=$me.email\namount__gte=20")],
            htmx.clone(),
        )
        .await;
    let body = res.text().await.unwrap();
    assert_eq!(shown_count(&body, "alice@example.com"), "2");
    // No rule: every row.
    let body = app
        .post_raw(&preview, &[], htmx.clone())
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(shown_count(&body, "bob@example.com"), "3");
    // A broken draft says why instead of counting.
    let body = app
        .post_raw(&preview, &[("read.all", "nope__eq=1")], htmx)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("cannot be counted") && body.contains("Line 1"),
        "{body}"
    );
    // Without htmx, the whole page comes back with the preview and the draft kept.
    let res = app
        .post_form(RULES, &preview, &[("read.all", "region__eq=$me.region")])
        .await;
    let body = res.text().await.unwrap();
    assert!(body.contains("<html"));
    assert_eq!(shown_count(&body, "bob@example.com"), "1");
    assert_eq!(saved_rules(&app), 0, "a preview saves nothing");
}

async fn every_form_requires_the_csrf_token(backend: Backend) {
    let app = app_with_deals(backend).await;
    let attributes = format!("/users/{}/attributes", user_id(&app, "admin@example.com"));
    let preview = format!("{RULES}/preview");
    for (action, fields) in [
        (RULES, vec![("read.all", "region__eq=EU")]),
        (preview.as_str(), vec![("read.all", "region__eq=EU")]),
        (
            attributes.as_str(),
            vec![("key", "region"), ("value", "EU")],
        ),
    ] {
        let res = app.post_raw(action, &fields, HeaderMap::new()).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{action}");
        let res = app
            .session()
            .post_with_token(action, "not-the-token", &fields)
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{action}");
    }
    assert_eq!(saved_rules(&app), 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM gh_user_attributes"), 0);
}

async fn a_rule_on_a_dropped_column_is_flagged_to_administrators(backend: Backend) {
    let app = app_with_deals(backend).await;
    let res = app
        .post_form(RULES, RULES, &[("read.all", "amount__gt=5")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        !app.session()
            .page("/roles")
            .await
            .contains("let no row through")
    );
    app.sql("ALTER TABLE deals DROP COLUMN amount;");
    let roles = app.session().page("/roles").await;
    assert!(
        roles.contains("Row rules that let no row through"),
        "{roles}"
    );
    assert!(
        roles.contains("role regional on deals names amount"),
        "{roles}"
    );
    let page = app.session().page(RULES).await;
    assert!(
        page.contains("This rule names amount, which deals no longer has"),
        "{page}"
    );
    assert!(
        page.contains(">amount__gt=5</textarea>"),
        "the rule is shown to be corrected"
    );
    // Saved as it is, it is refused; corrected, the notice goes.
    let res = app
        .post_form(RULES, RULES, &[("read.all", "amount__gt=5")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .post_form(RULES, RULES, &[("read.all", "region__eq=EU")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        !app.session()
            .page("/roles")
            .await
            .contains("let no row through")
    );
}

async fn a_saved_rule_and_a_changed_attribute_hold_at_the_next_request(backend: Backend) {
    let app = app_with_deals(backend).await;
    let client = app
        .operator("alice@example.com", "regional", PASSWORD)
        .await;
    let alice = Session::of(&app, &client);
    let page = format!("/users/{}", user_id(&app, "alice@example.com"));
    let attributes = format!("{page}/attributes");
    let res = app
        .post_form(&page, &attributes, &[("key", "region"), ("value", "EU")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        alice.page("/data/deals").await.contains("Gamma"),
        "no rule yet"
    );

    let res = app
        .post_form(RULES, RULES, &[("read.all", "region__eq=$me.region")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let list = alice.page("/data/deals").await;
    assert!(list.contains("Alpha") && !list.contains("Gamma"), "{list}");

    let res = app
        .post_form(&page, &attributes, &[("key", "region"), ("value", "US")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let list = alice.page("/data/deals").await;
    assert!(list.contains("Gamma") && !list.contains("Alpha"), "{list}");
}

both_backends!(
    a_saved_rule_and_a_changed_attribute_hold_at_the_next_request,
    a_rule_on_a_dropped_column_is_flagged_to_administrators,
    the_editor_saves_and_reloads_a_rule,
    invalid_rules_are_refused_naming_the_line_and_nothing_is_saved,
    a_non_administrator_gets_403_on_the_editor,
    attributes_are_added_edited_validated_and_removed,
    the_preview_counts_rows_per_operator_under_the_draft,
    every_form_requires_the_csrf_token,
);

#[actix_web::test]
async fn an_administrator_writes_previews_and_saves_a_rule_in_a_real_browser() {
    let app = app_with_deals(Backend::Sqlite).await;
    app.operator("alice@example.com", "regional", PASSWORD)
        .await;
    let alice = format!("/users/{}", user_id(&app, "alice@example.com"));
    let (_driver, c) = signed_in(&app).await;

    // The attribute, through the operator's page.
    open(&c, &app, &alice, "Users / alice@example.com").await;
    let key = c.find(Locator::Id("attr-key-1")).await.unwrap();
    key.send_keys("region").await.unwrap();
    let value = c.find(Locator::Id("attr-value-1")).await.unwrap();
    value.send_keys("EU").await.unwrap();
    click(&c, Locator::Css("form.attributes-form button")).await;
    wait_js(
        &c,
        "document.body.textContent.includes('Attributes saved.')",
    )
    .await;

    open(&c, &app, RULES, "Roles / regional / row rules on deals").await;
    let mut problems = crate::looks::violations(&c).await;
    c.find(Locator::Id("read-all"))
        .await
        .unwrap()
        .send_keys("region__eq=$me.region")
        .await
        .unwrap();
    click(&c, Locator::Id("preview-button")).await;
    wait_js(&c, "document.querySelector('#rule-preview table')").await;
    let shown = text_of(&c, Locator::Css("#rule-preview tbody")).await;
    assert_eq!(shown.trim(), "alice@example.com 2");
    problems.extend(crate::looks::violations(&c).await);
    assert_eq!(saved_rules(&app), 0, "the preview saved nothing");

    click(&c, Locator::Css("#rules-form button.primary")).await;
    wait_js(&c, "document.body.textContent.includes('Row rules saved.')").await;
    assert_eq!(saved_rules(&app), 1);
    let kept = c
        .find(Locator::Id("read-all"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("region__eq=$me.region"));
    assert!(
        problems.is_empty(),
        "axe violations:\n{}",
        problems.join("\n")
    );
    c.close().await.unwrap();
}
