//! Two-factor sign-in on both backends: enrolment, sign-in with a code, a reused or wrong
//! code refused, recovery codes single-use, enrolment forced by a role, reset by an admin.

use reqwest::StatusCode;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::common::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Session, TestApp, location, new_client, set_cookie,
};

both_backends!(
    an_operator_enrols_and_signs_in_with_a_code_once,
    a_role_can_require_two_factor_and_an_admin_can_reset_it,
);

fn code_for(secret: &str, email: &str) -> String {
    let bytes = Secret::Encoded(secret.to_string()).to_bytes().unwrap();
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        Some("Gatehouse".into()),
        email.to_string(),
    )
    .unwrap()
    .generate_current()
    .unwrap()
}

fn secret_in(page: &str) -> String {
    let marker = "id=\"totp-secret\">";
    let start = page.find(marker).expect("the secret is shown as text") + marker.len();
    page[start..start + page[start..].find('<').unwrap()].to_string()
}

fn codes_in(page: &str) -> Vec<String> {
    page.match_indices("<li><code>")
        .map(|(i, _)| {
            let rest = &page[i + 10..];
            rest[..rest.find('<').unwrap()].to_string()
        })
        .collect()
}

async fn an_operator_enrols_and_signs_in_with_a_code_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let page = app.get("/account/2fa").await.text().await.unwrap();
    assert!(
        page.contains("data:image/svg+xml;base64,"),
        "a QR code rendered as SVG"
    );
    let secret = secret_in(&page);
    let wrong = app
        .post_form("/account/2fa", "/account/2fa", &[("code", "000000")])
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .post_form(
            "/account/2fa",
            "/account/2fa",
            &[("code", &code_for(&secret, ADMIN_EMAIL))],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let codes = codes_in(&res.text().await.unwrap());
    assert_eq!(codes.len(), 10);
    let stored = app
        .scalar("SELECT code_hash FROM gh_recovery_codes LIMIT 1")
        .unwrap();
    assert!(!codes.contains(&stored), "recovery codes are stored hashed");
    app.logout().await;

    // The password alone no longer signs in.
    let client = new_client();
    let tab = Session::of(&app, &client);
    let res = tab.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/login/code"));
    let pending = set_cookie(&res, "gh_session").expect("a session for the code step");
    assert_eq!(
        client.get(app.url("/")).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let bad = tab
        .post_form("/login/code", "/login/code", &[("code", "123456")])
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // The code of the current time step was used at enrolment: it does not work again.
    let reused = tab
        .post_form(
            "/login/code",
            "/login/code",
            &[("code", &code_for(&secret, ADMIN_EMAIL))],
        )
        .await;
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reused.text().await.unwrap().contains("used already"));

    // A recovery code works, once; passing the step (a privilege change) gives a new key
    // and ends the half-signed-in session.
    let res = tab
        .post_form("/login/code", "/login/code", &[("code", &codes[0])])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let full = set_cookie(&res, "gh_session").expect("a new session cookie");
    assert_ne!(full, pending, "a new key after the second step");
    let half = "SELECT count(*) FROM gh_sessions WHERE stage <> 'full'";
    assert_eq!(app.scalar(half).as_deref(), Some("0"));
    assert_eq!(
        client.get(app.url("/")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let again = Session::new(&app);
    again.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let res = again
        .post_form("/login/code", "/login/code", &[("code", &codes[0])])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = again
        .post_form("/login/code", "/login/code", &[("code", &codes[1])])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn a_role_can_require_two_factor_and_an_admin_can_reset_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let pw = "wobbly giraffe paints violet harbours";
    let res = app
        .post_form(
            "/users/new",
            "/users",
            &[
                ("email", "ed@example.com"),
                ("display_name", "Ed"),
                ("role", "editor"),
                ("password", pw),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app
        .post_form("/roles/editor", "/roles/editor", &[("require_2fa", "on")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let ed = new_client();
    let ed_tab = Session::of(&app, &ed);
    let res = ed_tab.sign_in("ed@example.com", pw).await;
    assert_eq!(location(&res), "/login/enrol");
    assert_eq!(
        ed.get(app.url("/data")).send().await.unwrap().status(),
        StatusCode::SEE_OTHER,
        "not signed in yet"
    );
    let page = ed
        .get(app.url("/login/enrol"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = secret_in(&page);
    let res = ed_tab
        .post_form(
            "/login/enrol",
            "/login/enrol",
            &[("code", &code_for(&secret, "ed@example.com"))],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(codes_in(&res.text().await.unwrap()).len(), 10);
    assert_eq!(
        ed.get(app.url("/data")).send().await.unwrap().status(),
        StatusCode::OK,
        "signed in after enrolling"
    );

    // Lost phone: the administrator resets it; the editor must enrol again.
    let id = app
        .scalar("SELECT id FROM gh_users WHERE email = 'ed@example.com'")
        .unwrap();
    let res = app
        .post_form(
            &format!("/users/{id}"),
            &format!("/users/{id}/reset-2fa"),
            &[],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        ed.get(app.url("/data")).send().await.unwrap().status(),
        StatusCode::SEE_OTHER,
        "sessions ended"
    );
    let res = Session::new(&app).sign_in("ed@example.com", pw).await;
    assert_eq!(location(&res), "/login/enrol");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_audit WHERE action = 'user.2fa_reset'")
            .as_deref(),
        Some("1")
    );
}
