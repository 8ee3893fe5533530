//! The operator-facing polish in a real Chromium: the command palette opens with Ctrl+K and
//! navigates (to a table, to a record by key), the list keys move between rows, axe-core
//! (npm, tests/axe) finds no violation on the dashboard, a list, a record page and the open
//! palette in both themes; with `GATEHOUSE_SCREENSHOTS=<dir>` the same pages are saved as
//! PNG (how docs/screenshots/ is made).

use std::time::Duration;

use fantoccini::Locator;
use fantoccini::key::Key;

use crate::common::browser::{
    browser, click, eval, open, sign_in, signed_in, start_driver, wait_heading, wait_js,
};
use crate::common::{Backend, TestApp};

/// Keys typed where the focus is (as a person would), not into a chosen element.
/// The focus can sit for a moment on an element that is not interactable yet (a dialog
/// opening or closing, a list swapped by htmx): try again for up to two seconds.
async fn press(c: &fantoccini::Client, keys: &str) {
    let mut last = None;
    for _ in 0..40 {
        match c.active_element().await.unwrap().send_keys(keys).await {
            Ok(()) => return,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("keys {keys:?} not accepted where the focus is: {last:?}");
}

async fn ctrl_k(c: &fantoccini::Client) {
    let chord = format!("{}k{}", char::from(Key::Control), char::from(Key::Null));
    press(c, &chord).await;
    wait_js(c, "document.getElementById('palette').open").await;
    wait_js(c, "document.activeElement.id === 'palette-input'").await;
}

async fn type_in_palette(c: &fantoccini::Client, text: &str) {
    let input = c.find(Locator::Id("palette-input")).await.unwrap();
    input.send_keys(text).await.unwrap();
    input
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .unwrap();
}

#[actix_web::test]
async fn the_palette_opens_with_ctrl_k_and_navigates_and_list_keys_move() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.setup_admin().await;
    app.demo(20);
    let (_driver, c) = signed_in(&app).await;

    ctrl_k(&c).await;
    type_in_palette(&c, "customers").await;
    wait_heading(&c, "Data / customers").await;

    // "table key" opens a record.
    ctrl_k(&c).await;
    type_in_palette(&c, "orders 3").await;
    wait_heading(&c, "Data / orders / 3").await;

    // Esc closes it and leaves the page as it was.
    ctrl_k(&c).await;
    press(&c, &char::from(Key::Escape).to_string()).await;
    wait_js(&c, "!document.getElementById('palette').open").await;

    // On a list: j, j, k lands on the first row; Enter opens it.
    open(&c, &app, "/data/customers", "Data / customers").await;
    press(&c, "jjk").await;
    let first = eval(
        &c,
        "return document.activeElement === document.querySelector('#rows tbody td.rowlink a')",
    )
    .await;
    assert_eq!(first, serde_json::json!(true));
    let row = eval(&c, "return document.activeElement.getAttribute('href')").await;
    press(&c, "e").await;
    wait_js(&c, &format!("location.pathname === {row}")).await;

    // "/" opens the palette outside a text field; "?" shows the keys; n makes a new row.
    open(&c, &app, "/data/customers", "Data / customers").await;
    press(&c, "?").await;
    wait_js(&c, "document.getElementById('keys-help').open").await;
    press(&c, &char::from(Key::Escape).to_string()).await;
    wait_js(&c, "!document.getElementById('keys-help').open").await;
    press(&c, "n").await;
    wait_heading(&c, "Data / customers / new row").await;
    // Typing in a field is typing: no shortcut fires.
    let field = c.find(Locator::Css("input[name='f.name']")).await.unwrap();
    field.send_keys("j/n?").await.unwrap();
    assert_eq!(
        eval(&c, "return document.getElementById('palette').open").await,
        serde_json::json!(false)
    );
    assert_eq!(field.prop("value").await.unwrap().as_deref(), Some("j/n?"));

    c.close().await.unwrap();
}

/// axe-core's violations on the current page (rule id and the first offending element).
pub(crate) async fn violations(c: &fantoccini::Client) -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/axe/node_modules/axe-core/axe.min.js"
    );
    let axe = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("axe-core is missing ({e}): run `npm ci --prefix tests/axe --no-audit --no-fund`")
    });
    if eval(c, "return typeof window.axe").await != serde_json::json!("object") {
        c.execute(&format!("{axe}\nreturn null;"), vec![])
            .await
            .unwrap();
    }
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' at ' +
                   v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(found).unwrap()
}

async fn choose_theme(c: &fantoccini::Client, app: &TestApp, theme: &str) {
    open(c, app, "/account", "Your account").await;
    click(
        c,
        Locator::Css(&format!("input[name=theme][value={theme}]")),
    )
    .await;
    click(c, Locator::Css("form[action='/account/settings'] button")).await;
    wait_js(c, &format!("document.documentElement.dataset.theme === '{theme}' && document.querySelector('.flash-success')")).await;
}

async fn shoot(c: &fantoccini::Client, name: &str) {
    let Ok(dir) = std::env::var("GATEHOUSE_SCREENSHOTS") else {
        return;
    };
    // Let fonts and the first paint settle (no assertion depends on it).
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let png = c.screenshot().await.unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
}

#[actix_web::test]
async fn axe_finds_no_violation_on_the_main_pages_in_either_theme() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.setup_admin().await;
    app.demo(40);
    let driver = start_driver().await;
    let c = browser(&driver).await;
    c.set_window_size(1280, 860).await.unwrap();
    sign_in(&c, &app).await;

    let mut problems = Vec::new();
    for theme in ["light", "dark"] {
        choose_theme(&c, &app, theme).await;
        for (name, path, heading) in [
            ("dashboard", "/", None),
            ("list", "/data/orders", Some("Data / orders")),
            ("record", "/data/orders/7", Some("Data / orders / 7")),
        ] {
            c.goto(&app.url(path)).await.unwrap();
            match heading {
                Some(h) => wait_heading(&c, h).await,
                None => wait_js(&c, "document.querySelector('main h1')").await,
            }
            for v in violations(&c).await {
                problems.push(format!("{theme} {path}: {v}"));
            }
            shoot(&c, &format!("{name}-{theme}")).await;
        }
        ctrl_k(&c).await;
        c.find(Locator::Id("palette-input"))
            .await
            .unwrap()
            .send_keys("ord")
            .await
            .unwrap();
        for v in violations(&c).await {
            problems.push(format!("{theme} palette: {v}"));
        }
        shoot(&c, &format!("palette-{theme}")).await;
    }
    assert!(
        problems.is_empty(),
        "axe violations:\n{}",
        problems.join("\n")
    );
    c.close().await.unwrap();
}
