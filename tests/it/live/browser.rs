//! Two Chromium sessions on the same list: a save in one appears in the other without a
//! reload (the row flashes), a new row waits behind the "new rows" bar, a deleted row greys
//! out; an open record form shows who changed the row meanwhile.

use fantoccini::Locator;
use reqwest::StatusCode;

use super::people;
use crate::common::Backend;
use crate::common::browser::{browser, click, eval, open, sign_in, start_driver, wait_js};

/// Wait until the page in `c` listens to its live stream.
async fn listening(c: &fantoccini::Client) {
    wait_js(
        c,
        "document.getElementById('live').hasAttribute('data-live-open')",
    )
    .await;
}

#[actix_web::test]
async fn a_save_in_one_browser_appears_in_the_other_without_reload() {
    let app = people(Backend::Sqlite, &[]).await;
    app.sql("INSERT INTO people (id, name) VALUES (2, 'Bea'), (3, 'Cy');");
    let (driver_a, driver_b) = (start_driver().await, start_driver().await);
    let (a, b) = (browser(&driver_a).await, browser(&driver_b).await);
    sign_in(&a, &app).await;
    sign_in(&b, &app).await;
    for c in [&a, &b] {
        open(c, &app, "/data/people", "Data / people").await;
    }
    eval(&a, "window.__still = 'the same page'; return null").await;
    listening(&a).await;

    // B edits Ann through the record form.
    open(&b, &app, "/data/people/1", "Data / people / 1").await;
    let name = b.find(Locator::Css("input[name='f.name']")).await.unwrap();
    name.clear().await.unwrap();
    name.send_keys("Annabel").await.unwrap();
    click(&b, Locator::Css("form.record-form button[type='submit']")).await;
    wait_js(
        &a,
        "document.querySelector('#rows tr[data-key=\"1\"]').textContent.includes('Annabel')",
    )
    .await;
    assert_eq!(
        eval(&a, "return window.__still").await,
        serde_json::json!("the same page"),
        "no reload"
    );

    // A new row: the list does not shift, a bar offers it.
    let res = app
        .post_form("/data/people/new", "/data/people", &[("f.name", "Di")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    wait_js(
        &a,
        "document.getElementById('live-bar').textContent.includes('1 new row')",
    )
    .await;
    assert_eq!(
        eval(
            &a,
            "return document.querySelectorAll('#rows tr[data-key]').length"
        )
        .await,
        serde_json::json!(3)
    );
    click(&a, Locator::Css("#live-bar button")).await;
    wait_js(
        &a,
        "document.querySelectorAll('#rows tr[data-key]').length === 4",
    )
    .await;

    // A deleted row greys out.
    let res = app
        .post_form("/data/people/3/delete", "/data/people/3/delete", &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    wait_js(
        &a,
        "document.querySelector('#rows tr[data-key=\"3\"]').classList.contains('live-gone')",
    )
    .await;

    // A's open record form hears that someone saved the row meanwhile.
    open(&a, &app, "/data/people/2", "Data / people / 2").await;
    listening(&a).await;
    let res = app.edit("/data/people/2", &[("f.name", "Beatrix")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    wait_js(
        &a,
        "document.getElementById('live-banner').textContent.includes('Changed by admin@example.com')",
    )
    .await;
    let banner = eval(
        &a,
        "return document.getElementById('live-banner').textContent",
    )
    .await;
    assert!(
        banner.as_str().unwrap().contains("review changes"),
        "{banner}"
    );
    a.close().await.unwrap();
    b.close().await.unwrap();
}
