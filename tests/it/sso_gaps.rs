//! Single sign-on's remaining guarantees, against the real `oidc-provider` of tests/oidc:
//! the provider's discovery document and keys fetched again once their maximum age passed;
//! the sign-in page's buttons cached, yet a change made here shown at once; disabling,
//! deleting or demoting an SSO-linked administrator refused when no other administrator
//! could sign in; and no password set on /account by an operator whose role requires SSO,
//! who is shown no password form there and for whom no reset link is offered or made.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Session, TestApp, location};
use crate::sso::{Provider, add_provider, count, refused, sso, to_callback, user};

both_backends!(
    provider_metadata_is_fetched_again_once_its_maximum_age_passed,
    sign_in_buttons_are_cached_and_a_change_here_shows_at_once,
    an_sso_linked_administrator_stays_while_no_other_could_sign_in,
    an_operator_whose_role_requires_sso_cannot_set_a_password,
    sso_only_operators_are_offered_no_password_form_nor_reset_link,
    an_expired_code_and_an_unreachable_provider_are_refused_with_a_reason,
);

async fn signs_in(app: &TestApp, id: &str, login: &str) {
    let (res, tab) = sso(app, id, login).await;
    assert_eq!(location(&res), "/");
    assert_eq!(tab.get("/").await.status(), StatusCode::OK, "signed in");
}

/// With a maximum age of zero every sign-in finds the cache expired (no waiting needed);
/// the default hour is covered by `sso_admin` (a second sign-in fetches nothing).
async fn provider_metadata_is_fetched_again_once_its_maximum_age_passed(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--sso-metadata-max-age", "0s"]).await;
    app.setup_admin().await;
    let idp = Provider::start(&app, json!({ "ada": user(ADMIN_EMAIL, &[]) }));
    let id = add_provider(&app, &idp, &[]).await;
    // The redirect to the provider and the callback each find the cache expired.
    signs_in(&app, &id, "ada").await;
    let c = idp.counts().await;
    assert_eq!(
        (c["discovery"].as_i64(), c["jwks"].as_i64()),
        (Some(2), Some(2))
    );
    signs_in(&app, &id, "ada").await;
    let c = idp.counts().await;
    assert_eq!(
        (c["discovery"].as_i64(), c["jwks"].as_i64()),
        (Some(4), Some(4)),
        "expired: the document and the keys are fetched again"
    );
}

async fn sign_in_buttons_are_cached_and_a_change_here_shows_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let idp = Provider::start(&app, json!({ "ada": user(ADMIN_EMAIL, &[]) }));
    let visitor = Session::new(&app);
    assert!(!visitor.page("/login").await.contains("Test IdP"));
    let id = add_provider(&app, &idp, &[]).await;
    assert!(
        visitor.page("/login").await.contains("Test IdP"),
        "added here: the button shows at once"
    );
    // Renamed behind this instance's back (as another instance would): the cached buttons
    // serve the next renders without asking the database.
    app.sql(&format!(
        "UPDATE gh_sso_providers SET name = 'Renamed IdP' WHERE id = '{id}'"
    ));
    let page = visitor.page("/login").await;
    assert!(page.contains("Test IdP") && !page.contains("Renamed IdP"));
    // Disabled here: gone at once.
    let status = format!("/integrations/sso/{id}/status");
    let res = app
        .post_form("/integrations/sso", &status, &[("enabled", "no")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = visitor.page("/login").await;
    assert!(!page.contains("IdP"), "no button for a disabled provider");
}

/// The administrator signed in with a password; Bob, an administrator the provider created
/// (no password), is linked. Once the admin role requires SSO, only Bob can sign in: he
/// cannot be disabled, deleted or demoted on /users until the first administrator links
/// their own account.
async fn an_sso_linked_administrator_stays_while_no_other_could_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let idp = Provider::start(
        &app,
        json!({
            "ada": user(ADMIN_EMAIL, &[]),
            "bob": user("bob@corp.example", &["gh-admins"]),
        }),
    );
    let id = add_provider(
        &app,
        &idp,
        &[
            ("create_users", "on"),
            ("role_claim", "groups"),
            ("role_map", "gh-admins=admin"),
        ],
    )
    .await;
    signs_in(&app, &id, "bob").await;
    let bob = app
        .scalar("SELECT id FROM gh_users WHERE email = 'bob@corp.example'")
        .unwrap();
    let res = app
        .post_form(
            "/integrations/sso",
            "/integrations/sso/roles",
            &[("require_sso", "admin")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "Bob can still sign in");

    let refused = "no other administrator could sign in";
    let res = app
        .post_form("/users", &format!("/users/{bob}/disable"), &[])
        .await;
    let page = app.get(&location(&res)).await.text().await.unwrap();
    assert!(page.contains(refused), "{page}");
    let res = app
        .post_form(
            "/users",
            &format!("/users/{bob}/delete"),
            &[("confirm", "yes")],
        )
        .await;
    let page = app.get(&location(&res)).await.text().await.unwrap();
    assert!(page.contains(refused), "{page}");
    let res = app
        .post_form(
            &format!("/users/{bob}"),
            &format!("/users/{bob}"),
            &[
                ("email", "bob@corp.example"),
                ("display_name", "Bob"),
                ("role", "viewer"),
            ],
        )
        .await;
    let page = res.text().await.unwrap();
    assert!(page.contains(refused), "{page}");
    let sql = format!(
        "SELECT count(*) FROM gh_users WHERE id = '{bob}' AND role = 'admin' AND disabled = FALSE"
    );
    assert_eq!(
        count(&app, &sql),
        1,
        "Bob is still an enabled administrator"
    );

    // Once the first administrator is linked too, Bob may go.
    signs_in(&app, &id, "ada").await;
    let res = app
        .post_form("/users", &format!("/users/{bob}/disable"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let sql = format!("SELECT count(*) FROM gh_users WHERE id = '{bob}' AND disabled = TRUE");
    assert_eq!(count(&app, &sql), 1);
}

async fn an_operator_whose_role_requires_sso_cannot_set_a_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let idp = Provider::start(&app, json!({ "ada": user(ADMIN_EMAIL, &[]) }));
    let id = add_provider(&app, &idp, &[]).await;
    signs_in(&app, &id, "ada").await;
    let res = app
        .post_form(
            "/integrations/sso",
            "/integrations/sso/roles",
            &[("require_sso", "admin")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let hash = "SELECT password_hash FROM gh_users WHERE email = 'admin@example.com'";
    let before = app.scalar(hash);
    let res = app
        .post_form(
            "/account",
            "/account/password",
            &[
                ("current", ADMIN_PASSWORD),
                ("new", "a brand new password that is long"),
                ("confirm", "a brand new password that is long"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("signs in through single sign-on only"),
        "{page}"
    );
    assert_eq!(app.scalar(hash), before, "the password is unchanged");
}

/// Once the admin role requires SSO, /account shows a pointer to the provider instead of
/// the password form, and /users/{id} offers no reset link; asking for one anyway is
/// refused with a reason and an audit entry, and no reset token is stored.
async fn sso_only_operators_are_offered_no_password_form_nor_reset_link(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let idp = Provider::start(&app, json!({ "ada": user(ADMIN_EMAIL, &[]) }));
    let id = add_provider(&app, &idp, &[]).await;
    signs_in(&app, &id, "ada").await;
    let uid = app
        .scalar(&format!(
            "SELECT id FROM gh_users WHERE email = '{ADMIN_EMAIL}'"
        ))
        .unwrap();
    let (form, button) = ("action=\"/account/password\"", "/reset-link\"");
    let users_page = format!("/users/{uid}");
    assert!(
        app.get("/account")
            .await
            .text()
            .await
            .unwrap()
            .contains(form)
    );
    assert!(
        app.get(&users_page)
            .await
            .text()
            .await
            .unwrap()
            .contains(button)
    );
    let res = app
        .post_form(
            "/integrations/sso",
            "/integrations/sso/roles",
            &[("require_sso", "admin")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let page = app.get("/account").await.text().await.unwrap();
    assert!(!page.contains(form), "no password form: {page}");
    assert!(
        page.contains("change it at your identity provider"),
        "{page}"
    );
    let page = app.get(&users_page).await.text().await.unwrap();
    assert!(!page.contains(button), "no reset-link button: {page}");
    assert!(page.contains("no reset link can be made"), "{page}");

    let res = app
        .post_form(&users_page, &format!("/users/{uid}/reset-link"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let page = res.text().await.unwrap();
    assert!(page.contains("no reset link was made"), "{page}");
    assert!(!page.contains("/reset?token="), "{page}");
    let resets = format!("SELECT count(*) FROM gh_password_resets WHERE user_id = '{uid}'");
    assert_eq!(count(&app, &resets), 0, "nothing stored");
    let audited = format!(
        "SELECT count(*) FROM gh_audit WHERE action = 'user.reset_link_refused' AND row_key = '{uid}'"
    );
    assert_eq!(count(&app, &audited), 1, "the refusal is audited");
}

/// A code the provider no longer knows (it restarted, as after a real restart: its codes
/// are gone) and a provider gone between its sign-in page and the callback each land on
/// the sign-in page with one line and an `sso.failed` audit entry.
async fn an_expired_code_and_an_unreachable_provider_are_refused_with_a_reason(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let idp = Provider::start(&app, json!({ "ada": user(ADMIN_EMAIL, &[]) }));
    let id = add_provider(&app, &idp, &[]).await;
    let tab = Session::new(&app);
    let callback = to_callback(&tab, &id, "ada", false).await;
    idp.rotate().await;
    let res = tab.client.get(&callback).send().await.unwrap();
    refused(res, &tab, "the code may have expired").await;

    let tab = Session::new(&app);
    let callback = to_callback(&tab, &id, "ada", false).await;
    drop(idp);
    let res = tab.client.get(&callback).send().await.unwrap();
    refused(res, &tab, "Test IdP could not be reached").await;
    let failed = "SELECT count(*) FROM gh_audit WHERE action = 'sso.failed'";
    assert_eq!(count(&app, failed), 2);
}
