//! End to end in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! driven over WebDriver): complete setup, sign out, sign in, see the home page.

use std::time::Duration;

use fantoccini::Locator;

use crate::common::browser::{
    browser, click, eval, fill, open, signed_in, start_driver, text_of, wait_heading, wait_js,
};
use crate::common::{ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD, Backend, TestApp};

#[actix_web::test]
async fn an_operator_sets_up_signs_out_and_signs_in_again_in_a_real_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let driver = start_driver().await;
    let c = browser(&driver).await;

    let token = app.setup_token.clone().unwrap();
    c.goto(&app.url(&format!("/setup?token={token}")))
        .await
        .unwrap();
    wait_heading(&c, "Create the first administrator").await;
    fill(&c, "email", ADMIN_EMAIL).await;
    fill(&c, "display_name", ADMIN_NAME).await;
    fill(&c, "password", ADMIN_PASSWORD).await;
    fill(&c, "password_confirm", ADMIN_PASSWORD).await;
    click(
        &c,
        Locator::Css("form[action='/setup'] button[type=submit]"),
    )
    .await;
    wait_heading(&c, &format!("Welcome, {ADMIN_NAME}")).await;
    assert!(
        c.source()
            .await
            .unwrap()
            .contains("Your administrator account is ready")
    );

    // Our scripts ran under the Content-Security-Policy: htmx is loaded.
    let htmx = c
        .execute("return typeof window.htmx", vec![])
        .await
        .unwrap();
    assert_eq!(htmx, serde_json::json!("object"));

    click(&c, Locator::Css("form[action='/logout'] button")).await;
    wait_heading(&c, "Sign in").await;
    assert!(
        c.source()
            .await
            .unwrap()
            .contains("You have been signed out.")
    );

    fill(&c, "email", ADMIN_EMAIL).await;
    fill(&c, "password", "a wrong password!").await;
    click(&c, Locator::Css("form[action='/login'] button")).await;
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".form-error"))
        .await
        .unwrap();

    let password = c.find(Locator::Id("password")).await.unwrap();
    password.clear().await.unwrap();
    password.send_keys(ADMIN_PASSWORD).await.unwrap();
    click(&c, Locator::Css("form[action='/login'] button")).await;
    wait_heading(&c, &format!("Welcome, {ADMIN_NAME}")).await;
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/");

    c.close().await.unwrap();
}

#[actix_web::test]
async fn an_operator_filters_edits_creates_and_deletes_rows_in_a_real_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.setup_admin().await;
    app.demo(30);
    app.sql("CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);");
    let (_driver, c) = signed_in(&app).await;

    // Filtering swaps the table in place: the page (and this marker) survives.
    open(&c, &app, "/data/customers", "Data / customers").await;
    eval(&c, "window.__marker = 42; return null").await;
    fill(&c, "q", "lovelace").await;
    wait_js(&c, "location.search.includes('q=lovelace')").await;
    wait_js(&c, "[...document.querySelectorAll('#rows tbody tr')].every(r => r.textContent.toLowerCase().includes('lovelace'))").await;
    assert_eq!(
        eval(&c, "return window.__marker").await,
        serde_json::json!(42),
        "no full reload"
    );
    let rows = eval(
        &c,
        "return document.querySelectorAll('#rows tbody tr').length",
    )
    .await;
    assert!(rows.as_u64().unwrap() >= 1);

    // Open the first match and edit it.
    click(&c, Locator::Css("#rows tbody tr td.rowlink a")).await;
    wait_js(&c, "document.querySelector('main h1') && document.querySelector('main h1').textContent.startsWith('Data / customers / ')").await;
    let path = c.current_url().await.unwrap().path().to_string();
    let city = c.find(Locator::Css("input[name='f.city']")).await.unwrap();
    city.clear().await.unwrap();
    city.send_keys("Reykjavik").await.unwrap();
    click(&c, Locator::Css("form.record-form button[type=submit]")).await;
    wait_js(&c, "document.body.textContent.includes('Changes saved.')").await;
    let id = path.rsplit('/').next().unwrap();
    assert_eq!(
        app.scalar(&format!("SELECT city FROM customers WHERE id = {id}"))
            .as_deref(),
        Some("Reykjavik")
    );

    // Create a row.
    open(&c, &app, "/data/tags/new", "Data / tags / new row").await;
    c.find(Locator::Css("input[name='f.name']"))
        .await
        .unwrap()
        .send_keys("urgent")
        .await
        .unwrap();
    click(&c, Locator::Css("form.record-form button[type=submit]")).await;
    wait_js(&c, "document.body.textContent.includes('Row created.')").await;
    assert_eq!(
        app.scalar("SELECT name FROM tags").as_deref(),
        Some("urgent")
    );

    // Delete it, through the confirmation.
    click(&c, Locator::Css("a.button.danger")).await;
    wait_heading(&c, "Delete this row of tags?").await;
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM tags").as_deref(),
        Some("1")
    );
    click(&c, Locator::Css("form button.danger")).await;
    wait_js(&c, "document.body.textContent.includes('Row deleted.')").await;
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM tags").as_deref(),
        Some("0")
    );

    c.close().await.unwrap();
}

#[actix_web::test]
async fn an_administrator_creates_a_viewer_who_cannot_edit_in_a_real_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.setup_admin().await;
    app.demo(10);
    let (_driver, c) = signed_in(&app).await;

    open(&c, &app, "/users/new", "Users / new operator").await;
    fill(&c, "email", "viewer@example.com").await;
    fill(&c, "display_name", "Vera Viewer").await;
    c.find(Locator::Css(
        "select#role option[value='viewer'], select#role option",
    ))
    .await
    .unwrap();
    eval(
        &c,
        "document.getElementById('role').value = 'viewer'; return null",
    )
    .await;
    fill(&c, "password", "wobbly giraffe paints violet harbours").await;
    click(&c, Locator::Css("form.record-form button[type=submit]")).await;
    wait_js(
        &c,
        "document.body.textContent.includes('can now sign in with the temporary password')",
    )
    .await;

    click(&c, Locator::Css("form[action='/logout'] button")).await;
    wait_heading(&c, "Sign in").await;
    fill(&c, "email", "viewer@example.com").await;
    fill(&c, "password", "wobbly giraffe paints violet harbours").await;
    click(&c, Locator::Css("form[action='/login'] button")).await;
    wait_heading(&c, "Welcome, Vera Viewer").await;
    assert!(
        !c.source().await.unwrap().contains("href=\"/users\""),
        "no Users in the viewer's navigation"
    );

    open(&c, &app, "/data/orders", "Data / orders").await;
    let source = c.source().await.unwrap();
    assert!(!source.contains("New row") && !source.contains("Delete selected"));
    c.goto(&app.url("/data/orders/1")).await.unwrap();
    wait_js(&c, "document.querySelector('main h1') && document.querySelector('main h1').textContent.startsWith('Data / orders / 1')").await;
    let source = c.source().await.unwrap();
    assert!(source.contains("Your role lets you read this table"));
    assert!(!source.contains("Save changes") && !source.contains("Delete…"));
    assert_eq!(
        eval(
            &c,
            "return document.querySelectorAll('form.record-form input[name^=\"f.\"]').length"
        )
        .await,
        serde_json::json!(0),
        "no editable fields"
    );
    c.close().await.unwrap();
}

/// Issue 9.5: after an htmx sort (the rows swapped in place), typing in the search box
/// keeps the sort: the toolbar carries the current query, not the one the page opened with.
#[actix_web::test]
async fn a_live_search_after_an_htmx_sort_keeps_the_sort_in_a_real_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.setup_admin().await;
    app.sql(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER NOT NULL);
         INSERT INTO items VALUES (1, 'apple a', 3), (2, 'apple b', 1), (3, 'banana', 5), (4, 'apple c', 2);",
    );
    let (_driver, c) = signed_in(&app).await;
    open(&c, &app, "/data/items", "Data / items").await;
    eval(&c, "window.__marker = 7; return null").await;
    let names = "[...document.querySelectorAll('#rows tbody tr')].map(r => (r.textContent.match(/apple \\w|banana/) || ['?'])[0]).join(',')";
    let click_price = "[...document.querySelectorAll('#rows thead a')].find(a => a.textContent.trim().startsWith('price')).click(); return null";

    // Sort by price, then by price descending, each an htmx swap of the rows.
    eval(&c, click_price).await;
    wait_js(
        &c,
        "new URLSearchParams(location.search).get('sort') === 'price'",
    )
    .await;
    wait_js(&c, &format!("{names} === 'apple b,apple c,apple a,banana'")).await;
    eval(&c, click_price).await;
    wait_js(
        &c,
        "new URLSearchParams(location.search).get('sort') === '-price'",
    )
    .await;
    wait_js(&c, &format!("{names} === 'banana,apple a,apple c,apple b'")).await;

    // A live search now keeps that order and says so in the address.
    fill(&c, "q", "apple").await;
    wait_js(
        &c,
        "new URLSearchParams(location.search).get('q') === 'apple'",
    )
    .await;
    let search = eval(&c, "return location.search").await;
    assert!(
        search.as_str().unwrap().contains("sort=-price"),
        "the address keeps the sort: {search}"
    );
    wait_js(&c, &format!("{names} === 'apple a,apple c,apple b'")).await;
    assert_eq!(
        eval(&c, "return window.__marker").await,
        serde_json::json!(7),
        "no full reload"
    );

    // The filter panel (a plain form outside the rows) keeps the search and the sort too.
    eval(
        &c,
        "document.querySelector('details.panel').open = true; return null",
    )
    .await;
    c.find(Locator::Css("form.filter-form input[name='price__gte']"))
        .await
        .unwrap()
        .send_keys("2")
        .await
        .unwrap();
    click(&c, Locator::Css("form.filter-form button[type=submit]")).await;
    wait_js(
        &c,
        "new URLSearchParams(location.search).get('price__gte') === '2'",
    )
    .await;
    let search = eval(&c, "return location.search").await;
    let search = search.as_str().unwrap();
    assert!(
        search.contains("sort=-price") && search.contains("q=apple"),
        "the filter keeps the search and the sort: {search}"
    );
    wait_js(&c, &format!("{names} === 'apple a,apple c'")).await;
    c.close().await.unwrap();
}

#[actix_web::test]
async fn an_administrator_creates_a_table_and_adds_a_row_in_a_real_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.setup_admin().await;
    let (_driver, c) = signed_in(&app).await;

    open(&c, &app, "/data", "Data").await;
    click(&c, Locator::LinkText("New table")).await;
    wait_heading(&c, "Data / new table").await;
    fill(&c, "table-name", "visits").await;
    fill(&c, "c0-name", "guest").await;
    fill(&c, "c1-name", "nights").await;
    click(&c, Locator::Css("#c1-type option[value='integer']")).await;
    click(&c, Locator::Css("form.record-form button[type=submit]")).await;
    wait_heading(&c, "Confirm: create table visits").await;
    let sql = text_of(&c, Locator::Css("pre.sql")).await;
    assert!(sql.contains("CREATE TABLE \"visits\""), "{sql}");
    assert!(sql.contains("\"nights\" INTEGER"), "{sql}");
    click(&c, Locator::Css("form.record-form button[type=submit]")).await;
    wait_heading(&c, "Data / visits").await;

    click(&c, Locator::LinkText("New row")).await;
    wait_heading(&c, "Data / visits / new row").await;
    c.find(Locator::Css("input[name='f.guest']"))
        .await
        .unwrap()
        .send_keys("Ada")
        .await
        .unwrap();
    c.find(Locator::Css("input[name='f.nights']"))
        .await
        .unwrap()
        .send_keys("3")
        .await
        .unwrap();
    click(&c, Locator::Css("form.record-form button[type=submit]")).await;
    wait_js(&c, "document.body.textContent.includes('Row created.')").await;
    assert_eq!(
        app.scalar("SELECT guest || ':' || nights FROM visits")
            .as_deref(),
        Some("Ada:3")
    );
    c.close().await.unwrap();
}

#[actix_web::test]
async fn a_table_chart_renders_as_svg_with_a_title_in_a_real_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.setup_admin().await;
    app.demo(30);
    let (_driver, c) = signed_in(&app).await;

    // From the list's chart tab, grouped by status (the enum column).
    open(&c, &app, "/data/orders", "Data / orders").await;
    click(&c, Locator::Css("a[href='/data/orders/chart']")).await;
    wait_heading(&c, "Data / orders / chart").await;
    let title = eval(
        &c,
        "return document.querySelector('svg.chart > title').textContent",
    )
    .await;
    assert_eq!(title, serde_json::json!("orders by status"));
    // Drawn, with one bar per status, labelled for assistive technology.
    let drawn = eval(
        &c,
        "const s = document.querySelector('svg.chart'); const b = s.getBoundingClientRect(); \
         return [b.width > 100 && b.height > 50, s.getAttribute('role'), \
         document.getElementById(s.getAttribute('aria-labelledby').split(' ')[0]) !== null]",
    )
    .await;
    assert_eq!(drawn, serde_json::json!([true, "img", true]));
    // Over time, by month of created_at.
    click(&c, Locator::Css("#chart-by option[value='created_at']")).await;
    click(&c, Locator::Css("form.toolbar button")).await;
    wait_js(
        &c,
        "document.querySelector('svg.chart > title') && \
         document.querySelector('svg.chart > title').textContent == 'orders per day of created_at'",
    )
    .await;
    assert_eq!(
        eval(
            &c,
            "return document.querySelectorAll('svg.chart polyline, svg.chart path').length > 0"
        )
        .await,
        serde_json::json!(true)
    );
}

#[actix_web::test]
async fn an_administrator_runs_a_select_in_the_sql_console_in_a_real_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.setup_admin().await;
    app.sql(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, stars REAL);
         INSERT INTO notes (body, stars) VALUES ('first note', 4.5), ('second note', NULL);",
    );
    let (_driver, c) = signed_in(&app).await;

    open(&c, &app, "/sql", "SQL console").await;
    eval(&c, "window.__marker = 7; return null").await;
    let editor = c.find(Locator::Id("sql")).await.unwrap();
    editor
        .send_keys("SELECT body, stars FROM notes ORDER BY id")
        .await
        .unwrap();
    // Ctrl+Enter runs it (WebDriver: Control down, Enter, then release all modifiers).
    editor.send_keys("\u{E009}\u{E007}\u{E000}").await.unwrap();
    wait_js(&c, "document.querySelector('#sql-result table') !== null").await;
    let cells = eval(
        &c,
        "return [...document.querySelectorAll('#sql-result tbody td')].map(td => td.textContent.trim() + (td.classList.contains('num') ? '|num' : ''))",
    )
    .await;
    assert_eq!(
        cells,
        serde_json::json!(["first note", "4.5|num", "second note", "NULL|num"])
    );
    assert_eq!(
        eval(&c, "return window.__marker").await,
        serde_json::json!(7),
        "the result was swapped in, the page not reloaded"
    );
    // The statement is in the history once the page is opened again.
    c.goto(&app.url("/sql")).await.unwrap();
    wait_js(
        &c,
        "document.body.textContent.includes('SELECT body, stars FROM notes')",
    )
    .await;

    c.close().await.unwrap();
}

/// Single sign-on in the browser: the provider button on the sign-in page, the real
/// provider's page (tests/oidc/provider.mjs), and back to Gatehouse signed in.
#[actix_web::test]
async fn an_operator_signs_in_with_the_provider_button_in_a_real_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.setup_admin().await;
    let ada = serde_json::json!({ "ada": { "email": ADMIN_EMAIL, "email_verified": true } });
    let idp = crate::sso::Provider::start(&app, ada);
    crate::sso::add_provider(&app, &idp, &[]).await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    open(&c, &app, "/login", "Sign in").await;
    click(&c, Locator::LinkText("Test IdP")).await;
    c.wait().for_element(Locator::Id("login")).await.unwrap();
    fill(&c, "login", "ada").await;
    click(&c, Locator::Css("button[value=login]")).await;
    wait_heading(&c, &format!("Welcome, {ADMIN_NAME}")).await;
    c.close().await.unwrap();
}
