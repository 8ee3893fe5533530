//! Sessions on actix-session (issue 12, "Sessions through actix-session"): the cookie holds
//! only a random key, signed, and the table its MAC; a tampered or unsigned cookie counts
//! for nothing; a flash message travels in the signed cookie (a visitor not signed in has no
//! row at all; another instance shows it at once); a signed-in page view writes nothing.

use reqwest::StatusCode;

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestApp, location, set_cookie};

both_backends!(
    the_cookie_holds_a_signed_random_key_and_the_table_its_mac,
    a_tampered_or_unsigned_cookie_counts_for_nothing,
    a_message_for_a_visitor_travels_in_the_cookie_and_stores_nothing,
    visitors_who_do_not_sign_in_store_no_session,
    a_message_set_on_one_instance_shows_on_another_at_once,
    a_signed_in_page_view_writes_nothing_to_the_session,
);

/// The session cookie a response sets, percent-decoded: signature (44 characters of
/// base64) then key.
fn session_cookie(res: &reqwest::Response) -> String {
    let raw = set_cookie(res, "gh_session").expect("a session cookie");
    percent_encoding::percent_decode_str(&raw)
        .decode_utf8()
        .expect("utf-8")
        .into_owned()
}

async fn get_with_cookie(app: &TestApp, value: &str) -> reqwest::Response {
    let cookie: String =
        percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).collect();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/"))
        .header("cookie", format!("gh_session={cookie}"))
        .send()
        .await
        .unwrap()
}

async fn the_cookie_holds_a_signed_random_key_and_the_table_its_mac(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.logout().await;
    let res = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&res);
    assert!(cookie.len() > 44, "{cookie}");
    let key = &cookie[44..];
    let id = app.state.keys.session_id(key);
    let stored = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM gh_sessions WHERE id = '{id}' AND user_id IS NOT NULL"
        ))
        .unwrap();
    assert_eq!(stored, "1", "the row's id is the MAC of the cookie's key");
    assert!(
        !cookie.contains(&id),
        "the cookie does not carry the row id"
    );
    let keys = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM gh_sessions WHERE id = '{key}'"
        ))
        .unwrap();
    assert_eq!(keys, "0", "the key itself is stored nowhere");
    // The same cookie, replayed as it was, is signed in.
    let home = get_with_cookie(&app, &cookie).await;
    assert_eq!(home.status(), StatusCode::OK);
}

async fn a_tampered_or_unsigned_cookie_counts_for_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.logout().await;
    let res = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let cookie = session_cookie(&res);
    let (signature, key) = cookie.split_at(44);
    // The key alone, without its signature.
    let unsigned = get_with_cookie(&app, key).await;
    assert_eq!(unsigned.status(), StatusCode::SEE_OTHER);
    assert!(location(&unsigned).starts_with("/login"));
    // The signature with another key.
    let mut other = key.to_string();
    let last = if other.ends_with('A') { "B" } else { "A" };
    other.replace_range(other.len() - 1.., last);
    let forged = get_with_cookie(&app, &format!("{signature}{other}")).await;
    assert_eq!(forged.status(), StatusCode::SEE_OTHER);
    assert!(location(&forged).starts_with("/login"));
}

async fn a_message_for_a_visitor_travels_in_the_cookie_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let res = app.logout().await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&res);
    let count = |sql: &str| app.scalar(sql).unwrap();
    assert_eq!(
        count("SELECT COUNT(*) FROM gh_sessions"),
        "0",
        "signing out ended the operator's session, and the message made no row"
    );
    assert!(
        cookie[44..].starts_with('.'),
        "no key, only the carried message: {cookie}"
    );

    let page = app.get("/login").await.text().await.unwrap();
    assert!(page.contains("You have been signed out."));
    let again = app.get("/login").await.text().await.unwrap();
    assert!(!again.contains("You have been signed out."), "shown once");
    assert_eq!(count("SELECT COUNT(*) FROM gh_sessions"), "0");

    // The message cannot be forged: a cookie whose carried part was changed is ignored.
    let forged = format!(
        "{}.{}",
        &cookie[..44],
        "eyJmbGFzaCI6eyJraW5kIjoiZXJyb3IiLCJtZXNzYWdlIjoiRm9yZ2VkIn19"
    );
    let res = get_with_cookie(&app, &forged).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // The same browser signs in (its form's token was bound to its cookies), with a new key.
    let res = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/");
    assert_ne!(session_cookie(&res), cookie);
    assert_eq!(
        count("SELECT COUNT(*) FROM gh_sessions WHERE user_id IS NOT NULL AND stage = 'full'"),
        "1"
    );
    assert_eq!(count("SELECT COUNT(*) FROM gh_sessions"), "1");
}

/// Visitors who are not signed in store nothing: failed sign-ins, the throttle's refusals,
/// sign-in pages; a session row begins only with a sign-in stage.
async fn visitors_who_do_not_sign_in_store_no_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.logout().await;
    let visitor = crate::common::Session::new(&app);
    for _ in 0..8 {
        let res = visitor
            .sign_in(ADMIN_EMAIL, "not the password at all")
            .await;
        assert_ne!(res.status(), StatusCode::SEE_OTHER, "refused");
    }
    let page = visitor.page("/login").await;
    assert!(page.contains("Sign in"), "{page}");
    for path in ["/login", "/", "/login/reset", "/account"] {
        visitor.get(path).await;
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_sessions").unwrap(),
        "0",
        "no row for anyone not signed in"
    );
    let res = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let body = res.text().await.unwrap_or_default();
    let throttled = app.scalar("SELECT COUNT(*) FROM gh_sessions").unwrap();
    assert_eq!(
        throttled, "0",
        "the throttled account got no session: {body}"
    );
}

/// A message set on one instance is shown by whichever instance serves the next request,
/// even one that cached the session a moment before (the message is in the cookie).
async fn a_message_set_on_one_instance_shows_on_another_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let other = app.twin().await;
    // The other instance has the session in its two-second cache.
    let res = app.client.get(other.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post_form("/account", "/account/sessions/end-others", &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = app
        .client
        .get(other.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("other session(s) ended."), "{page}");
    let again = app.get("/account").await.text().await.unwrap();
    assert!(!again.contains("other session(s) ended."), "shown once");
}

async fn a_signed_in_page_view_writes_nothing_to_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    // The first page shows (and removes) the welcome message: one write.
    let first = app.get("/").await.text().await.unwrap();
    assert!(first.contains("Welcome to Gatehouse."));
    let row = || {
        app.scalar("SELECT CAST(last_seen_at AS TEXT) || '|' || data FROM gh_sessions")
            .unwrap()
    };
    let before = row();
    assert!(before.ends_with("|{}"), "{before}");
    for _ in 0..5 {
        let res = app.get("/").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(!res.text().await.unwrap().contains("Welcome to Gatehouse."));
    }
    assert_eq!(row(), before, "last-seen is written at most once a minute");
}

/// Storing the session is part of the request: when the database refuses the write (here
/// another process holds SQLite's write lock past the busy timeout), signing out answers
/// 503 with the reason, like any refused write, and the session stays as it was.
#[actix_web::test]
async fn a_refused_session_write_answers_with_its_reason() {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.setup_admin().await;
    app.get("/").await;
    let path = app.db.url().trim_start_matches("sqlite://").to_string();
    let mut other = diesel::SqliteConnection::establish(&path).unwrap();
    other.batch_execute("BEGIN IMMEDIATE;").unwrap();
    let res = app.logout().await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = res.text().await.unwrap();
    assert!(page.contains("The database is busy"), "{page}");
    other.batch_execute("ROLLBACK;").unwrap();
    let home = app.get("/").await;
    assert_eq!(home.status(), StatusCode::OK, "still signed in");
}
