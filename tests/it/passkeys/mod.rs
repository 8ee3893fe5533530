//! Passkeys on both backends, answered by a software authenticator (see `authenticator`):
//! registration (audited, other sessions end), the second step of sign-in, passwordless
//! sign-in, removal; challenges single use, bound to their session and expiring; a counter
//! going backwards refused; a role requiring a passkey refusing a TOTP code.

mod authenticator;
mod browser;

use reqwest::StatusCode;
use serde_json::Value;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Session, TestApp, csrf_in, location};
use authenticator::{PUBLIC_URL, SoftKey};

both_backends!(
    a_passkey_is_registered_and_signs_in_as_the_second_step,
    a_replayed_challenge_is_refused,
    a_challenge_of_another_session_is_refused,
    an_expired_challenge_is_refused,
    a_counter_going_backwards_is_refused,
    removing_a_passkey_is_audited_and_ends_other_sessions,
    a_passkey_signs_in_without_a_password_only_when_allowed,
    a_role_requiring_a_passkey_refuses_a_totp_code,
    a_totp_code_may_replace_the_passkey_unless_the_role_requires_one,
);

/// POST to an options endpoint of `tab` with the CSRF token of `page`; the JSON.
async fn options(tab: &Session<'_>, page: &str, action: &str) -> Value {
    let token = tab.csrf(page).await;
    let res = tab
        .client
        .post(tab.app.url(action))
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "options from {action}");
    res.json().await.unwrap()
}

/// Register a passkey for the operator signed in on `tab`; the response.
async fn register(
    tab: &Session<'_>,
    key: &mut SoftKey,
    name: &str,
    passwordless: bool,
) -> reqwest::Response {
    let opts = options(tab, "/account/passkeys", "/account/passkeys/options").await;
    let answer = key.register(&opts["options"]);
    let challenge = opts["challenge"].as_str().unwrap();
    let mut fields = vec![
        ("challenge", challenge),
        ("credential", answer.as_str()),
        ("name", name),
    ];
    if passwordless {
        fields.push(("passwordless", "yes"));
    }
    tab.post_form("/account/passkeys", "/account/passkeys", &fields)
        .await
}

async fn app_with_admin(backend: Backend) -> TestApp {
    let app = TestApp::spawn_with(backend, PUBLIC_URL).await;
    app.setup_admin().await;
    app
}

/// Sign in with the password on a new tab, up to the passkey step.
async fn password_step(app: &TestApp) -> Session<'_> {
    let tab = Session::new(app);
    let res = tab.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&res).starts_with("/login/passkey?next="),
        "{}",
        location(&res)
    );
    tab
}

/// Answer the passkey step of `tab`; the response.
async fn answer_step(tab: &Session<'_>, challenge: &str, answer: &str) -> reqwest::Response {
    tab.post_form(
        "/login/passkey",
        "/login/passkey",
        &[
            ("challenge", challenge),
            ("credential", answer),
            ("next", "/"),
        ],
    )
    .await
}

fn count(app: &TestApp, sql: &str) -> String {
    app.scalar(sql).unwrap_or_default()
}

async fn a_passkey_is_registered_and_signs_in_as_the_second_step(backend: Backend) {
    let app = app_with_admin(backend).await;
    let other = Session::new(&app);
    other.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let mut key = SoftKey::new();
    let res = register(&app.session(), &mut key, "Laptop", false).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "registered");
    let page = app.session().page("/account/passkeys").await;
    assert!(
        page.contains("Laptop") && page.contains("never"),
        "listed, unused"
    );
    assert!(page.contains("1 other session(s) ended"));
    assert_eq!(
        other.get("/data").await.status(),
        StatusCode::SEE_OTHER,
        "the other session ended"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM gh_audit WHERE action = 'user.passkey_added'"
        ),
        "1"
    );
    let stored = count(&app, "SELECT credential FROM gh_passkeys");
    assert!(stored.contains("\"counter\":0"), "{stored}");

    // The password alone now opens only the passkey step.
    let tab = password_step(&app).await;
    assert_eq!(tab.get("/data").await.status(), StatusCode::SEE_OTHER);
    let opts = options(&tab, "/login/passkey", "/login/passkey/options").await;
    let answer = key.assert(&opts["options"]);
    let res = answer_step(&tab, opts["challenge"].as_str().unwrap(), &answer).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/");
    assert_eq!(tab.get("/data").await.status(), StatusCode::OK, "signed in");
    let stored = count(&app, "SELECT credential FROM gh_passkeys");
    assert!(stored.contains("\"counter\":1"), "counter stored: {stored}");
    assert!(
        !tab.page("/account/passkeys").await.contains("never"),
        "last use shown"
    );
}

async fn a_replayed_challenge_is_refused(backend: Backend) {
    let app = app_with_admin(backend).await;
    let mut key = SoftKey::new();
    // A registration answer sent twice: the second finds its challenge spent.
    let opts = options(
        &app.session(),
        "/account/passkeys",
        "/account/passkeys/options",
    )
    .await;
    let answer = key.register(&opts["options"]);
    let fields = [
        ("challenge", opts["challenge"].as_str().unwrap()),
        ("credential", answer.as_str()),
        ("name", "Key"),
    ];
    let first = app
        .post_form("/account/passkeys", "/account/passkeys", &fields)
        .await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let again = app
        .post_form("/account/passkeys", "/account/passkeys", &fields)
        .await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.text().await.unwrap().contains("already used"));

    // A sign-in answer sent twice: the second is refused and signs nothing in.
    let tab = password_step(&app).await;
    let opts = options(&tab, "/login/passkey", "/login/passkey/options").await;
    let answer = key.assert(&opts["options"]);
    let challenge = opts["challenge"].as_str().unwrap();
    let spy = password_step(&app).await;
    assert_eq!(
        answer_step(&tab, challenge, &answer).await.status(),
        StatusCode::SEE_OTHER
    );
    let replay = answer_step(&spy, challenge, &answer).await;
    assert_eq!(replay.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(replay.text().await.unwrap().contains("already used"));
    assert_eq!(spy.get("/data").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM gh_webauthn_challenges"),
        "0"
    );
}

async fn a_challenge_of_another_session_is_refused(backend: Backend) {
    let app = app_with_admin(backend).await;
    let mut key = SoftKey::new();
    register(&app.session(), &mut key, "Key", true).await;
    let (mine, theirs) = (password_step(&app).await, password_step(&app).await);
    let opts = options(&mine, "/login/passkey", "/login/passkey/options").await;
    let answer = key.assert(&opts["options"]);
    let challenge = opts["challenge"].as_str().unwrap();
    let res = answer_step(&theirs, challenge, &answer).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("belongs to another sign-in")
    );
    assert_eq!(theirs.get("/data").await.status(), StatusCode::SEE_OTHER);
    // A second-step challenge does not serve a passwordless sign-in either.
    let stranger = Session::new(&app);
    let res = stranger
        .post_form(
            "/login",
            "/login/passkey/direct",
            &[("challenge", challenge), ("credential", &answer)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stranger.get("/data").await.status(), StatusCode::SEE_OTHER);
    // Left alone by the refusals: its own session still completes the step.
    assert_eq!(
        answer_step(&mine, challenge, &answer).await.status(),
        StatusCode::SEE_OTHER
    );
}

async fn an_expired_challenge_is_refused(backend: Backend) {
    let app = app_with_admin(backend).await;
    let mut key = SoftKey::new();
    register(&app.session(), &mut key, "Key", false).await;
    let tab = password_step(&app).await;
    let opts = options(&tab, "/login/passkey", "/login/passkey/options").await;
    let answer = key.assert(&opts["options"]);
    let id = opts["challenge"].as_str().unwrap();
    let old = (chrono::Utc::now() - chrono::Duration::minutes(6)).naive_utc();
    app.sql(&format!(
        "UPDATE gh_webauthn_challenges SET created_at = '{}' WHERE id = '{id}'",
        old.format("%Y-%m-%d %H:%M:%S")
    ));
    let res = answer_step(&tab, id, &answer).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("expired"));
    assert_eq!(tab.get("/data").await.status(), StatusCode::SEE_OTHER);
}

async fn a_counter_going_backwards_is_refused(backend: Backend) {
    let app = app_with_admin(backend).await;
    let mut key = SoftKey::new();
    register(&app.session(), &mut key, "Key", false).await;
    for _ in 0..2 {
        let tab = password_step(&app).await;
        let opts = options(&tab, "/login/passkey", "/login/passkey/options").await;
        let answer = key.assert(&opts["options"]);
        let res = answer_step(&tab, opts["challenge"].as_str().unwrap(), &answer).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    // A clone of the authenticator still at counter 1.
    let tab = password_step(&app).await;
    let opts = options(&tab, "/login/passkey", "/login/passkey/options").await;
    let answer = key.assert_with_counter(&opts["options"], 1);
    let res = answer_step(&tab, opts["challenge"].as_str().unwrap(), &answer).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("not accepted"));
    assert_eq!(tab.get("/data").await.status(), StatusCode::SEE_OTHER);
}

async fn removing_a_passkey_is_audited_and_ends_other_sessions(backend: Backend) {
    let app = app_with_admin(backend).await;
    let mut key = SoftKey::new();
    register(&app.session(), &mut key, "Old phone", false).await;
    let other = Session::new(&app);
    other.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let id = count(&app, "SELECT id FROM gh_passkeys");
    let action = format!("/account/passkeys/{id}/remove");
    let unconfirmed = app.post_form("/account/passkeys", &action, &[]).await;
    assert_eq!(unconfirmed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM gh_passkeys"), "1");
    let res = app
        .post_form("/account/passkeys", &action, &[("confirm", "yes")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM gh_passkeys"), "0");
    let changes = count(
        &app,
        "SELECT changes FROM gh_audit WHERE action = 'user.passkey_removed'",
    );
    assert!(changes.contains("Old phone"), "{changes}");
    assert_eq!(
        other.get("/data").await.status(),
        StatusCode::SEE_OTHER,
        "other session ended"
    );
    assert_eq!(
        app.get("/data").await.status(),
        StatusCode::OK,
        "this one kept"
    );
    // Another operator's passkey (or one gone) is not found.
    let again = app
        .post_form("/account/passkeys", &action, &[("confirm", "yes")])
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    // An administrator's two-factor reset removes an operator's passkeys (a lost device).
    register(&app.session(), &mut SoftKey::new(), "Lost", false).await;
    let me = count(&app, "SELECT id FROM gh_users");
    let res = app
        .post_form(
            &format!("/users/{me}"),
            &format!("/users/{me}/reset-2fa"),
            &[],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM gh_passkeys"), "0");
}

async fn a_passkey_signs_in_without_a_password_only_when_allowed(backend: Backend) {
    let app = app_with_admin(backend).await;
    let (mut allowed, mut second_only) = (SoftKey::new(), SoftKey::new());
    register(&app.session(), &mut allowed, "Laptop", true).await;
    register(&app.session(), &mut second_only, "Key", false).await;
    let login = Session::new(&app).page("/login").await;
    assert!(login.contains("Sign in with a passkey"));
    for (key, signs_in) in [(&mut second_only, false), (&mut allowed, true)] {
        let tab = Session::new(&app);
        let opts = options(&tab, "/login", "/login/passkey/direct/options").await;
        assert_eq!(
            opts["options"]["publicKey"]["allowCredentials"],
            serde_json::json!([])
        );
        let answer = key.assert(&opts["options"]);
        let res = tab
            .post_form(
                "/login",
                "/login/passkey/direct",
                &[
                    ("challenge", opts["challenge"].as_str().unwrap()),
                    ("credential", &answer),
                ],
            )
            .await;
        if signs_in {
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
            assert_eq!(tab.get("/data").await.status(), StatusCode::OK);
        } else {
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
            assert!(res.text().await.unwrap().contains("without a password"));
            assert_eq!(tab.get("/data").await.status(), StatusCode::SEE_OTHER);
        }
    }
}

fn totp_code(secret: &str) -> String {
    let bytes = Secret::Encoded(secret.to_string()).to_bytes().unwrap();
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        Some("Gatehouse".into()),
        ADMIN_EMAIL.into(),
    )
    .unwrap()
    .generate_current()
    .unwrap()
}

/// Turn TOTP on for the administrator; the secret and the recovery codes.
async fn enable_totp(app: &TestApp) -> (String, Vec<String>) {
    let page = app.session().page("/account/2fa").await;
    let marker = "id=\"totp-secret\">";
    let start = page.find(marker).unwrap() + marker.len();
    let secret = page[start..start + page[start..].find('<').unwrap()].to_string();
    let res = app
        .post_form(
            "/account/2fa",
            "/account/2fa",
            &[("code", &totp_code(&secret))],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "TOTP on");
    let body = res.text().await.unwrap();
    let codes = body
        .match_indices("<li><code>")
        .map(|(i, _)| {
            let rest = &body[i + 10..];
            rest[..rest.find('<').unwrap()].to_string()
        })
        .collect();
    (secret, codes)
}

async fn a_totp_code_may_replace_the_passkey_unless_the_role_requires_one(backend: Backend) {
    let app = app_with_admin(backend).await;
    let (_, codes) = enable_totp(&app).await;
    register(&app.session(), &mut SoftKey::new(), "Key", false).await;
    let tab = password_step(&app).await;
    assert!(tab.page("/login/passkey").await.contains("Use a code"));
    let res = tab
        .post_form(
            "/login/passkey",
            "/login/passkey/code",
            &[("next", "/data")],
        )
        .await;
    assert_eq!(location(&res), "/login/code?next=%2Fdata");
    let res = tab
        .post_form(
            "/login/code",
            "/login/code",
            &[("code", &codes[0]), ("next", "/data")],
        )
        .await;
    assert_eq!(location(&res), "/data");
    assert_eq!(tab.get("/data").await.status(), StatusCode::OK);

    app.sql("UPDATE gh_roles SET require_passkey = TRUE WHERE name = 'admin'");
    let tab = password_step(&app).await;
    assert!(!tab.page("/login/passkey").await.contains("Use a code"));
    let res = tab
        .post_form("/login/passkey", "/login/passkey/code", &[])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(tab.get("/data").await.status(), StatusCode::SEE_OTHER);
}

async fn a_role_requiring_a_passkey_refuses_a_totp_code(backend: Backend) {
    let app = app_with_admin(backend).await;
    let (secret, _) = enable_totp(&app).await;
    let form = app.session().page("/roles/admin").await;
    assert!(
        form.contains("name=\"require_passkey\""),
        "the role form offers it"
    );
    let res = app
        .post_form("/roles/admin", "/roles/admin", &[("require_passkey", "on")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let tab = Session::new(&app);
    let res = tab.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(location(&res), "/login/passkey/enrol", "TOTP is not enough");
    let code = tab
        .post_form(
            "/login/passkey/enrol",
            "/login/code",
            &[("code", &totp_code(&secret))],
        )
        .await;
    // Refused as for anyone not at the code step: back to the sign-in page.
    assert_eq!(code.status(), StatusCode::SEE_OTHER);
    assert!(location(&code).starts_with("/login"), "{}", location(&code));
    assert_eq!(tab.get("/data").await.status(), StatusCode::SEE_OTHER);

    // Registering a first passkey at that step signs in.
    let mut key = SoftKey::new();
    let opts = options(&tab, "/login/passkey/enrol", "/login/passkey/enrol/options").await;
    let answer = key.register(&opts["options"]);
    let res = tab
        .post_form(
            "/login/passkey/enrol",
            "/login/passkey/enrol",
            &[
                ("challenge", opts["challenge"].as_str().unwrap()),
                ("credential", &answer),
                ("name", "Phone"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(tab.get("/data").await.status(), StatusCode::OK);
    // The last passkey of a role that requires one stays.
    let id = count(&app, "SELECT id FROM gh_passkeys");
    let page = tab.page("/account/passkeys").await;
    let token = csrf_in(&page).unwrap();
    let res = tab
        .post_with_token(
            &format!("/account/passkeys/{id}/remove"),
            &token,
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM gh_passkeys"), "1");
}
