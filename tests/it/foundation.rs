//! The foundation, on both backends: first-run setup, sign-in and sign-out, sessions,
//! throttling, CSRF, headers, static files, health and readiness.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::common::{
    self, ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD, Backend, TestApp, csrf_in, location, new_client,
    set_cookie,
};

both_backends!(
    setup_requires_the_token_and_works_once,
    setup_rejects_bad_input_keeping_what_was_typed,
    signing_in_shows_the_layout,
    wrong_credentials_are_refused_without_saying_which_part,
    five_failures_lock_the_account_and_success_resets_the_count,
    twenty_failures_from_one_address_lock_that_address,
    state_changing_requests_need_a_valid_csrf_token,
    cross_site_requests_are_refused_even_with_a_token,
    signing_out_revokes_the_session_cookie,
    idle_sessions_expire,
    sessions_end_at_their_absolute_lifetime,
    sessions_survive_a_restart,
    pages_require_sign_in_and_return_after_it,
    every_response_has_security_headers,
    static_files_have_types_etags_and_caching,
    errors_render_in_the_layout_or_as_toasts,
    oversized_bodies_are_refused,
    health_and_readiness_answer,
    cookies_are_secure_when_the_public_url_is_https,
    parallel_guesses_cannot_slip_past_the_throttle,
    a_token_for_a_planted_anonymous_cookie_does_not_pass_for_a_session,
);

async fn setup_requires_the_token_and_works_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app
        .setup_token
        .clone()
        .expect("setup token on a fresh install");

    assert_eq!(app.get("/setup").await.status(), StatusCode::FORBIDDEN);
    let wrong = app.get("/setup?token=not-the-token").await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert!(wrong.text().await.unwrap().contains("not valid"));

    let page = app.get(&format!("/setup?token={token}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Create the first administrator")
    );

    app.setup_admin().await;
    let home = app.get("/").await.text().await.unwrap();
    assert!(home.contains("Welcome, Ada Admin"));
    assert!(home.contains("Your administrator account is ready"));

    // The same link cannot make a second administrator, from this client or another.
    assert_eq!(
        app.get(&format!("/setup?token={token}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let other = TestApp {
        client: new_client(),
        ..app
    };
    // With the sign-in page's token, as the setup page now answers 404.
    let res = other
        .post_form(
            "/login",
            "/setup",
            &[
                ("token", token.as_str()),
                ("email", "mallory@example.com"),
                ("display_name", "Mallory"),
                ("password", "another long password"),
                ("password_confirm", "another long password"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let users: i64 = gatehouse::identity::users::count(&mut other.db_conn()).unwrap();
    assert_eq!(users, 1);

    // A restart with an operator present issues no new setup token.
    let mut other = other;
    other.restart().await;
    assert!(other.setup_token.is_none());
}

async fn setup_rejects_bad_input_keeping_what_was_typed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.setup_token.clone().unwrap();
    let page = format!("/setup?token={token}");
    let res = app
        .post_form(
            &page,
            "/setup",
            &[
                ("token", &token),
                ("email", "not-an-email"),
                ("display_name", "Grace <b>Hopper</b>"),
                ("password", "short"),
                ("password_confirm", "different"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("Enter an email address"));
    assert!(body.contains("Use at least 12 characters"));
    assert!(body.contains("do not match"));
    assert!(body.contains("value=\"not-an-email\""));
    assert!(
        body.contains("Grace &#60;b&#62;Hopper&#60;/b&#62;")
            || body.contains("Grace &lt;b&gt;Hopper")
    );
    assert!(
        !body.contains("<b>Hopper</b>"),
        "typed HTML must be escaped"
    );
    assert!(
        !body.contains("value=\"short\""),
        "passwords are never echoed"
    );
    assert_eq!(
        gatehouse::identity::users::count(&mut app.db_conn()).unwrap(),
        0
    );

    // A missing field is a form error, not a crash.
    let res = app.post_form(&page, "/setup", &[("token", &token)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn signing_in_shows_the_layout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let res = app.logout().await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
    let login_page = app.get("/login").await.text().await.unwrap();
    assert!(login_page.contains("You have been signed out."));

    // Emails are matched case-insensitively.
    let res = app.login("  ADMIN@example.com ", ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/");
    let session = set_cookie(&res, "gh_session").expect("a session cookie");
    assert!(session.len() >= 40);
    let cookie_line = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("gh_session="))
        .unwrap();
    assert!(cookie_line.contains("HttpOnly"));
    assert!(cookie_line.contains("SameSite=Lax"));
    assert!(
        !cookie_line.contains("Secure"),
        "plain http install: no Secure flag"
    );

    let home = app.get("/").await;
    assert_eq!(home.status(), StatusCode::OK);
    let body = home.text().await.unwrap();
    assert!(body.contains("Gatehouse"));
    assert!(body.contains(ADMIN_NAME));
    for section in ["Data", "Users", "Integrations", "Audit"] {
        assert!(body.contains(section), "nav lists {section}");
    }
    assert!(body.contains(&format!("Gatehouse {}", env!("CARGO_PKG_VERSION"))));
    assert!(body.contains("action=\"/logout\""));
    assert!(!body.contains("<script>"), "no inline script");
}

async fn wrong_credentials_are_refused_without_saying_which_part(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.logout().await;
    let wrong_password = app.login(ADMIN_EMAIL, "not the right password").await;
    assert_eq!(wrong_password.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let a = wrong_password.text().await.unwrap();
    let unknown_user = app
        .login("nobody@example.com", "not the right password")
        .await;
    assert_eq!(unknown_user.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let b = unknown_user.text().await.unwrap();
    assert!(a.contains("The email or password is not correct."));
    assert!(b.contains("The email or password is not correct."));
    assert!(
        b.contains("value=\"nobody@example.com\""),
        "the email is kept"
    );
    assert_eq!(
        app.get("/").await.status(),
        StatusCode::SEE_OTHER,
        "still signed out"
    );
}

async fn five_failures_lock_the_account_and_success_resets_the_count(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.logout().await;

    // Four failures, then a success: the count starts again.
    for _ in 0..4 {
        assert_eq!(
            app.login(ADMIN_EMAIL, "wrong password!!").await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    app.logout().await;
    for _ in 0..4 {
        assert_eq!(
            app.login(ADMIN_EMAIL, "wrong password!!").await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    app.logout().await;

    // Five failures in a row: even the right password is refused for a while.
    for _ in 0..5 {
        assert_eq!(
            app.login(ADMIN_EMAIL, "wrong password!!").await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    let locked = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        locked
            .text()
            .await
            .unwrap()
            .contains("Too many failed sign-in attempts. Try again in 30 seconds")
    );
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
}

async fn twenty_failures_from_one_address_lock_that_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.logout().await;
    for i in 0..20 {
        let res = app
            .login(&format!("user{i}@example.com"), "wrong password!!")
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let res = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn state_changing_requests_need_a_valid_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;

    let no_token = app.post_raw("/logout", &[], HeaderMap::new()).await;
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
    assert!(no_token.text().await.unwrap().contains("Reload the page"));

    let wrong = app
        .post_raw("/logout", &[("csrf_token", "AAAA")], HeaderMap::new())
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);

    // A token from another visitor's cookie is no good either.
    let stranger = new_client();
    let other_page = stranger
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let foreign = csrf_in(&other_page).unwrap();
    let res = app
        .post_raw("/logout", &[("csrf_token", &foreign)], HeaderMap::new())
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/").await.status(),
        StatusCode::OK,
        "still signed in"
    );

    // The header form, as htmx sends it, works.
    let token = app.csrf("/").await;
    let mut headers = HeaderMap::new();
    headers.insert("x-csrf-token", HeaderValue::from_str(&token).unwrap());
    headers.insert("hx-request", HeaderValue::from_static("true"));
    let res = app.post_raw("/logout", &[], headers).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("hx-redirect").unwrap(), "/login");
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);

    // Sign-in itself is protected.
    let res = app
        .post_raw(
            "/login",
            &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
            HeaderMap::new(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

async fn cross_site_requests_are_refused_even_with_a_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let token = app.csrf("/").await;
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        let res = app
            .post_raw("/logout", &[("csrf_token", &token)], headers)
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(
            res.text()
                .await
                .unwrap()
                .contains("Cross-site requests are not accepted")
        );
    }
    // The browser's own same-origin request passes.
    let mut headers = HeaderMap::new();
    headers.insert("origin", HeaderValue::from_str(&app.base).unwrap());
    headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
    let res = app
        .post_raw("/logout", &[("csrf_token", &token)], headers)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn signing_out_revokes_the_session_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.logout().await;
    let res = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let old = set_cookie(&res, "gh_session").unwrap();
    let anon_before = app.csrf("/").await;
    assert!(!anon_before.is_empty());
    assert_eq!(app.logout().await.status(), StatusCode::SEE_OTHER);

    // Replaying the old cookie from another client gets nowhere.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/"))
        .header("cookie", format!("gh_session={old}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
    assert!(location(&replay).starts_with("/login"));

    // A new sign-in issues a different session id.
    let res = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let new = set_cookie(&res, "gh_session").unwrap();
    assert_ne!(old, new);
}

async fn idle_sessions_expire(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &["--session-idle-timeout", "2s", "--session-lifetime", "1h"],
    )
    .await;
    app.setup_admin().await;
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    actix_web::rt::time::sleep(Duration::from_millis(2600)).await;
    let res = app.get("/").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/login"));
}

async fn sessions_end_at_their_absolute_lifetime(backend: Backend) {
    let (idle, lifetime) = (Duration::from_secs(3), Duration::from_secs(5));
    let app = TestApp::spawn_with(
        backend,
        &["--session-idle-timeout", "3s", "--session-lifetime", "5s"],
    )
    .await;
    // The session begins between these two moments. The test's own clock decides what
    // each answer must be: a page if it came back before the lifetime can have run out,
    // the sign-in if it was asked after it surely had; in between, either (a loaded machine
    // stretches requests, and the old fixed count of requests then outlived the session).
    let asked = Instant::now();
    app.setup_admin().await;
    let signed_in = Instant::now();
    let mut last = signed_in;
    loop {
        let start = Instant::now();
        let status = app.get("/").await.status();
        let end = Instant::now();
        // Active more often than the idle timeout, so the session never ends by idling.
        assert!(end - last < idle, "the test was idle for {:?}", end - last);
        last = start;
        if end < asked + lifetime {
            assert_eq!(status, StatusCode::OK, "within the lifetime");
        } else if start > signed_in + lifetime {
            assert_eq!(status, StatusCode::SEE_OTHER, "past the lifetime");
            break;
        } else if status == StatusCode::SEE_OTHER {
            // Ended at about the lifetime: it stays ended.
            assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn sessions_survive_a_restart(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let before = app.base.clone();
    app.restart().await;
    assert_ne!(before, app.base, "a new server on a new port");
    // The client's cookie jar is keyed by host, which is still 127.0.0.1.
    let res = app.get("/").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Welcome, Ada Admin"));
}

async fn pages_require_sign_in_and_return_after_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.logout().await;
    let res = app.get("/?tab=x").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login?next=%2F%3Ftab%3Dx");

    let res = app
        .post_form(
            "/login?next=%2F%3Ftab%3Dx",
            "/login",
            &[
                ("email", ADMIN_EMAIL),
                ("password", ADMIN_PASSWORD),
                ("next", "/?tab=x"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/?tab=x");
    app.logout().await;

    // An open redirect is not offered.
    for evil in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let res = app
            .post_form(
                "/login",
                "/login",
                &[
                    ("email", ADMIN_EMAIL),
                    ("password", ADMIN_PASSWORD),
                    ("next", evil),
                ],
            )
            .await;
        assert_eq!(location(&res), "/", "next={evil}");
        app.logout().await;
    }

    // Signed in, the login page sends you home.
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(location(&app.get("/login").await), "/");
}

async fn every_response_has_security_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    for path in [
        "/",
        "/login",
        "/healthz",
        "/readyz",
        "/static/app.css",
        "/no-such-page",
        "/setup",
    ] {
        let res = app.get(path).await;
        let h = res.headers();
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("CSP on {path}"))
            .to_str()
            .unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert!(!csp.contains("unsafe-inline"), "{path}");
        assert_eq!(
            h.get("x-content-type-options").unwrap(),
            "nosniff",
            "{path}"
        );
        assert_eq!(h.get("referrer-policy").unwrap(), "same-origin", "{path}");
        assert!(h.get("x-request-id").is_some(), "{path}");
    }
    let post = app.post_raw("/logout", &[], HeaderMap::new()).await;
    assert!(post.headers().get("content-security-policy").is_some());
}

async fn static_files_have_types_etags_and_caching(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let css = app.get("/static/app.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(
        css.headers().get("content-type").unwrap(),
        "text/css; charset=utf-8"
    );
    let etag = css
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(etag.starts_with("W/\""), "weak etag: {etag}");
    assert_eq!(
        css.headers().get("cache-control").unwrap(),
        "public, no-cache"
    );

    let again = app
        .get_with("/static/app.css", &[("if-none-match", &etag)])
        .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());

    // Pages link versioned URLs, which may be cached for a year.
    let login = app.get("/login").await.text().await.unwrap();
    let start = login.find("/static/app.css?v=").unwrap();
    let href = &login[start..login[start..].find('"').unwrap() + start];
    let versioned = app.get(href).await;
    assert!(
        versioned
            .headers()
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("immutable")
    );

    let js = app.get("/static/vendor/htmx-2.0.11.min.js").await;
    assert!(
        js.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(
        js.headers()
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("immutable")
    );

    let gz = app
        .get_with(
            "/static/vendor/htmx-2.0.11.min.js",
            &[("accept-encoding", "gzip")],
        )
        .await;
    assert_eq!(gz.headers().get("content-encoding").unwrap(), "gzip");
    let br = app
        .get_with("/static/app.css", &[("accept-encoding", "br")])
        .await;
    assert_eq!(br.headers().get("content-encoding").unwrap(), "br");

    assert_eq!(
        app.get("/static/nope.css").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/static/../Cargo.toml").await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn errors_render_in_the_layout_or_as_toasts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let page = app.get("/no-such-page").await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let request_id = page
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let body = page.text().await.unwrap();
    assert!(body.contains("<title>Not found · Gatehouse</title>"));
    assert!(
        body.contains(ADMIN_NAME),
        "the error page keeps the signed-in layout"
    );
    assert!(body.contains(&request_id));

    let toast = app
        .get_with("/no-such-page", &[("hx-request", "true")])
        .await;
    assert_eq!(toast.status(), StatusCode::NOT_FOUND);
    assert_eq!(toast.headers().get("hx-retarget").unwrap(), "#toasts");
    let body = toast.text().await.unwrap();
    assert!(body.contains("class=\"toast toast-error\""));
    assert!(!body.contains("<html"), "a fragment, not a page");

    let api = app.get("/api/nothing-here").await;
    assert_eq!(
        api.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let problem: serde_json::Value = api.json().await.unwrap();
    assert_eq!(problem["status"], 404);

    // A malformed query is a clear 400, not a crash.
    let anon = new_client();
    let odd = anon.get(app.url("/login?next=%ZZ")).send().await.unwrap();
    assert_eq!(odd.status(), StatusCode::OK);
    let bad = anon
        .get(app.url("/login?next=a&next=b"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("malformed query"));
    // Wrong method on a known address.
    let res = app.get("/logout").await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

async fn oversized_bodies_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let big = "x".repeat(2 * 1024 * 1024);
    let res = app
        .post_form(
            "/login",
            "/login",
            &[("email", big.as_str()), ("password", "x")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        gatehouse::identity::users::count(&mut app.db_conn()).unwrap(),
        0
    );
}

async fn health_and_readiness_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    if backend == Backend::Sqlite {
        return;
    }
    // Take the database away: readiness says so; bring it back: readiness recovers alone.
    let common::TestDb::Postgres { name, .. } = &app.db else {
        unreachable!()
    };
    let mut admin = common::admin_connection();
    diesel::sql_query(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .execute(&mut admin)
        .unwrap();
    diesel::sql_query(format!(
        // Waits until each session has ended: its connection is then found dead at check-out.
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ))
    .execute(&mut admin)
    .unwrap();
    // A page that needs the database says it is unavailable, with a request id and no cause.
    let page = app.get("/").await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    let request_id = page
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let body = page.text().await.unwrap();
    assert!(body.contains("The database is not answering right now"));
    assert!(body.contains(&request_id));
    assert!(
        // (Not "pg_": the page's random CSRF token may contain it.)
        !body.contains("FATAL")
            && !body.contains("terminating connection")
            && !body.contains("administrator command")
            && !body.contains("pg_terminate"),
        "no internal cause shown: {body}"
    );
    let down = app.get("/readyz").await;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(down.text().await.unwrap().contains("database unavailable"));
    assert_eq!(
        app.get("/healthz").await.status(),
        StatusCode::OK,
        "alive while the database is away"
    );

    diesel::sql_query(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .unwrap();
    let mut ready = false;
    for _ in 0..20 {
        if app.get("/readyz").await.status() == StatusCode::OK {
            ready = true;
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(ready, "readiness recovers when the database returns");
}

async fn cookies_are_secure_when_the_public_url_is_https(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--public-url", "https://admin.example.com"]).await;
    let login = app.get("/login").await;
    let anon = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("gh_anon="))
        .expect("an anonymous cookie for the sign-in form");
    assert!(anon.contains("; Secure"), "{anon}");
    assert!(anon.contains("HttpOnly"), "{anon}");
    // The browser's Origin is the public URL's origin: accepted.
    let token = csrf_in(&login.text().await.unwrap()).unwrap();
    let anon_value = anon.split(';').next().unwrap().to_string();
    // (A cookie store would not send a Secure cookie over plain http: send it by hand.)
    let res = reqwest::Client::new()
        .post(app.url("/setup"))
        .header("origin", "https://admin.example.com")
        .header("cookie", anon_value)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("setup link is not valid"),
        "past CSRF, refused by setup"
    );
}

async fn parallel_guesses_cannot_slip_past_the_throttle(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.logout().await;
    let token = app.csrf("/login").await;
    let attempts = (0..12).map(|_| {
        app.client
            .post(app.url("/login"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("email", ADMIN_EMAIL),
                ("password", "wrong guess!!"),
            ])
            .send()
    });
    let results = futures_util::future::join_all(attempts).await;
    let checked = results
        .iter()
        .filter(|r| {
            r.as_ref()
                .map(|r| r.status() == StatusCode::UNPROCESSABLE_ENTITY)
                .unwrap_or(false)
        })
        .count();
    assert!(
        checked <= 5,
        "{checked} guesses were checked; at most 5 may be"
    );
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn a_token_for_a_planted_anonymous_cookie_does_not_pass_for_a_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    // The attacker's own anonymous cookie and its valid token…
    let attacker = new_client();
    let login = attacker.get(app.url("/login")).send().await.unwrap();
    let anon = set_cookie(&login, "gh_anon").unwrap();
    let token = csrf_in(&login.text().await.unwrap()).unwrap();
    // …planted beside the victim's session cookie: refused.
    app.logout().await;
    let res = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let victim_session = set_cookie(&res, "gh_session").expect("sign-in sets a session");
    let res = reqwest::Client::new()
        .post(app.url("/logout"))
        .header(
            "cookie",
            format!("gh_session={victim_session}; gh_anon={anon}"),
        )
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[test]
fn migration_folders_hold_the_same_migrations() {
    let names = |backend: &str| {
        let mut v: Vec<String> = std::fs::read_dir(format!(
            "{}/migrations/{backend}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
        v.sort();
        v
    };
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("postgres"));
    for name in &sqlite {
        for backend in ["sqlite", "postgres"] {
            for file in ["up.sql", "down.sql"] {
                let path = format!(
                    "{}/migrations/{backend}/{name}/{file}",
                    env!("CARGO_MANIFEST_DIR")
                );
                assert!(std::path::Path::new(&path).exists(), "{path} exists");
            }
        }
    }
}

#[actix_web::test]
async fn two_instances_migrating_one_postgres_together_do_not_race() {
    let db = common::TestDb::create(Backend::Postgres);
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || gatehouse::db::migrate::run(&url))
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    let applied: usize = results.iter().map(|r| r.as_ref().unwrap().len()).sum();
    let expected = std::fs::read_dir(format!(
        "{}/migrations/postgres",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .count();
    assert_eq!(applied, expected, "each migration applied exactly once");
}
