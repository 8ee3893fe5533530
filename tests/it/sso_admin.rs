//! Single sign-on, administered and hardened, against the real `oidc-provider` of
//! tests/oidc: providers edited (the secret kept unless retyped), disabled and enabled; the
//! provider's keys cached and fetched again after a key rotation; the provider's MFA
//! trusted per role, both ways; the userinfo endpoint read for claims the ID token lacks;
//! "require SSO" never locking every administrator out (and the CLI break-glass); and no
//! password set by reset or invitation links for operators whose role requires SSO.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Session, TestApp, location};
use crate::sso::{
    CLIENT_ID, CLIENT_SECRET, Provider, add_provider, count, refused, sso, to_callback, user,
};

const LOCKOUT: &str = "no administrator could sign in any more";

async fn body(res: reqwest::Response) -> String {
    res.text().await.unwrap()
}

async fn signs_in(app: &TestApp, id: &str, login: &str) -> String {
    let (res, tab) = sso(app, id, login).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = location(&res);
    if to == "/" {
        assert_eq!(tab.get("/").await.status(), StatusCode::OK, "signed in");
    }
    to
}

async fn providers_are_edited_disabled_and_enabled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let idp = Provider::start(&app, json!({ "ada": user(ADMIN_EMAIL, &[]) }));
    let id = add_provider(&app, &idp, &[]).await;
    let sealed_sql = format!("SELECT client_secret_enc FROM gh_sso_providers WHERE id = '{id}'");
    let first_seal = app.scalar(&sealed_sql).unwrap();
    let edit = format!("/integrations/sso/{id}");

    let page = body(app.get(&edit).await).await;
    assert!(page.contains(&idp.issuer) && page.contains("openid email profile groups"));
    assert!(!page.contains(CLIENT_SECRET), "the secret is never shown");

    let form = |name: &'static str, issuer: &str, secret: &'static str| {
        vec![
            ("name", name.to_string()),
            ("issuer", issuer.to_string()),
            ("client_id", CLIENT_ID.to_string()),
            ("client_secret", secret.to_string()),
            ("scopes", "openid email profile groups".to_string()),
            ("default_role", "viewer".to_string()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let (app, edit) = (&app, edit.clone());
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form(&edit, &edit, &fields).await
        }
    };

    // Renamed with the secret left empty: the stored secret is kept and still works.
    let res = post(form("Corporate login", &idp.issuer, "")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.scalar(&sealed_sql).unwrap(), first_seal, "secret kept");
    assert!(
        Session::new(&app)
            .page("/login")
            .await
            .contains("Corporate login")
    );
    assert_eq!(signs_in(&app, &id, "ada").await, "/");
    let audit = app
        .scalar("SELECT changes FROM gh_audit WHERE action = 'sso.provider_updated'")
        .unwrap();
    assert!(
        audit.contains("Corporate login") && !audit.contains(CLIENT_SECRET),
        "{audit}"
    );

    // A bad edit is refused with what was typed, and nothing stored.
    let res = post(form("Renamed again", "not a url", "")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = body(res).await;
    assert!(page.contains("The issuer must be") && page.contains("Renamed again"));
    let name_sql = format!("SELECT name FROM gh_sso_providers WHERE id = '{id}'");
    assert_eq!(app.scalar(&name_sql).as_deref(), Some("Corporate login"));

    // A new secret typed replaces it: a wrong one makes the provider refuse the code.
    let res = post(form("Corporate login", &idp.issuer, "a-wrong-secret")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_ne!(app.scalar(&sealed_sql).unwrap(), first_seal);
    let (res, tab) = sso(&app, &id, "ada").await;
    refused(res, &tab, "did not accept the sign-in").await;
    post(form("Corporate login", &idp.issuer, CLIENT_SECRET)).await;
    assert_eq!(signs_in(&app, &id, "ada").await, "/");

    // Disabled: no button, no new flow, and a flow already under way is refused.
    let tab = Session::new(&app);
    let callback = to_callback(&tab, &id, "ada", false).await;
    let status = format!("/integrations/sso/{id}/status");
    let res = app
        .post_form("/integrations/sso", &status, &[("enabled", "no")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        !Session::new(&app)
            .page("/login")
            .await
            .contains("Corporate login")
    );
    let res = tab.client.get(&callback).send().await.unwrap();
    refused(res, &tab, "This sign-in provider is not available").await;
    let fresh = Session::new(&app);
    let res = fresh.get(&format!("/login/sso/{id}")).await;
    refused(res, &fresh, "This sign-in provider is not available").await;

    // Enabled again: it works.
    let res = app
        .post_form("/integrations/sso", &status, &[("enabled", "yes")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(signs_in(&app, &id, "ada").await, "/");
    for action in ["sso.provider_disabled", "sso.provider_enabled"] {
        let sql = format!("SELECT count(*) FROM gh_audit WHERE action = '{action}'");
        assert_eq!(count(&app, &sql), 1, "{action} audited");
    }
}

async fn signing_keys_are_cached_and_fetched_again_after_a_rotation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let idp = Provider::start(&app, json!({ "ada": user(ADMIN_EMAIL, &[]) }));
    let id = add_provider(&app, &idp, &[]).await;

    assert_eq!(signs_in(&app, &id, "ada").await, "/");
    let c = idp.counts().await;
    assert_eq!(
        (c["discovery"].as_i64(), c["jwks"].as_i64()),
        (Some(1), Some(1))
    );

    // A second sign-in asks the provider for neither its configuration nor its keys.
    assert_eq!(signs_in(&app, &id, "ada").await, "/");
    let c = idp.counts().await;
    assert_eq!(
        (c["discovery"].as_i64(), c["jwks"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(c["token"].as_i64(), Some(2));
    assert_eq!(c["userinfo"].as_i64(), Some(0), "the ID token had it all");

    // The provider restarts with a new key: the unknown kid fetches the keys once more.
    assert_eq!(idp.rotate().await, "test-key-2");
    assert_eq!(signs_in(&app, &id, "ada").await, "/");
    let c = idp.counts().await;
    assert_eq!(
        (c["discovery"].as_i64(), c["jwks"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(signs_in(&app, &id, "ada").await, "/");
    assert_eq!(idp.counts().await["jwks"].as_i64(), Some(2));
}

async fn the_providers_mfa_counts_only_where_the_role_trusts_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    // New operators get the default role, viewer; it requires two-factor sign-in.
    app.sql("UPDATE gh_roles SET require_2fa = TRUE WHERE name = 'viewer'");
    let person = |email: &str, extra: serde_json::Value| {
        let mut u = user(email, &[]);
        u.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        u
    };
    let idp = Provider::start(
        &app,
        json!({
            "otp": person("otp@corp.example", json!({ "amr": ["pwd", "otp"] })),
            "acr": person("acr@corp.example", json!({ "acr": "urn:gatehouse:test:mfa" })),
            "pwd": person("pwd@corp.example", json!({ "amr": ["pwd"] })),
        }),
    );
    let id = add_provider(&app, &idp, &[("create_users", "on")]).await;

    // The role does not trust the provider: its two-factor requirement still asks for TOTP.
    assert_eq!(signs_in(&app, &id, "otp").await, "/login/enrol");

    let res = app
        .post_form(
            "/integrations/sso",
            "/integrations/sso/roles",
            &[("trust_mfa", "viewer")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Trusted: an amr of a second factor, or an acr naming MFA, is enough …
    assert_eq!(signs_in(&app, &id, "otp").await, "/", "{}", idp.log());
    assert_eq!(signs_in(&app, &id, "acr").await, "/");
    // … a password alone at the provider is not.
    assert_eq!(signs_in(&app, &id, "pwd").await, "/login/enrol");
}

async fn the_userinfo_endpoint_supplies_the_email_and_role_claim(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    // The provider keeps scope claims (email, groups) out of the ID token.
    let idp = Provider::start_with(
        &app,
        json!({ "alice": user("alice@corp.example", &["gh-editors"]) }),
        json!({ "conform": true }),
    );
    let id = add_provider(
        &app,
        &idp,
        &[
            ("create_users", "on"),
            ("role_claim", "groups"),
            ("role_map", "gh-editors=editor"),
        ],
    )
    .await;
    assert_eq!(signs_in(&app, &id, "alice").await, "/");
    let role = "SELECT role FROM gh_users WHERE email = 'alice@corp.example'";
    assert_eq!(app.scalar(role).as_deref(), Some("editor"));
    assert_eq!(idp.counts().await["userinfo"].as_i64(), Some(1));

    idp.set_users(json!({ "alice": user("alice@corp.example", &[]) }));
    assert_eq!(signs_in(&app, &id, "alice").await, "/");
    assert_eq!(
        app.scalar(role).as_deref(),
        Some("editor"),
        "no mapped value leaves the role as it is"
    );
}

async fn require_sso_never_locks_every_administrator_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let idp = Provider::start(&app, json!({ "ada": user(ADMIN_EMAIL, &[]) }));
    let id = add_provider(&app, &idp, &[]).await;
    let roles = "/integrations/sso/roles";
    let required = "SELECT count(*) FROM gh_sso_roles WHERE require_sso = TRUE";

    // No administrator is linked to a provider yet: refused, nothing stored.
    let res = app
        .post_form("/integrations/sso", roles, &[("require_sso", "admin")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(res).await.contains(LOCKOUT));
    assert_eq!(count(&app, required), 0);

    // Once the administrator has signed in through the provider, it is allowed.
    let (res, tab) = sso(&app, &id, "ada").await;
    assert_eq!(location(&res), "/");
    let res = app
        .post_form("/integrations/sso", roles, &[("require_sso", "admin")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(count(&app, required), 1);

    // Then the only provider cannot be disabled or deleted, nor the only link removed.
    let status = format!("/integrations/sso/{id}/status");
    let res = app
        .post_form("/integrations/sso", &status, &[("enabled", "no")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(res).await.contains(LOCKOUT));
    let delete = format!("/integrations/sso/{id}/delete");
    let res = app
        .post_form("/integrations/sso", &delete, &[("confirm", "yes")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let enabled = "SELECT count(*) FROM gh_sso_providers WHERE enabled = TRUE";
    assert_eq!(count(&app, enabled), 1);
    let link = app.scalar("SELECT id FROM gh_identities").unwrap();
    let res = tab
        .post_form(
            "/account",
            &format!("/account/identities/{link}/remove"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(count(&app, "SELECT count(*) FROM gh_identities"), 1);

    // Break glass from the server: password sign-in allowed again.
    let denied = Session::new(&app)
        .sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["sso", "allow-passwords", "--role", "admin"])
        .args(["--database-url", app.db.url()])
        .args(["--secret-key", &"k".repeat(64)])
        .env_remove("GATEHOUSE_DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("password sign-in allowed again for: admin"),
        "{stdout}"
    );
    assert_eq!(count(&app, required), 0);
    let res = Session::new(&app)
        .sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let sql = "SELECT count(*) FROM gh_audit WHERE action = 'sso.passwords_allowed'";
    assert_eq!(count(&app, sql), 1);
}

async fn operators_who_must_use_sso_get_no_password_from_links(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let idp = Provider::start(&app, json!({ "ada": user(ADMIN_EMAIL, &[]) }));
    let id = add_provider(&app, &idp, &[]).await;
    let (_, tab) = sso(&app, &id, "ada").await;
    let uid = app
        .scalar(&format!(
            "SELECT id FROM gh_users WHERE email = '{ADMIN_EMAIL}'"
        ))
        .unwrap();
    // A reset link made before the role required SSO (as an invitation would be).
    let page = body(
        tab.post_form(
            &format!("/users/{uid}"),
            &format!("/users/{uid}/reset-link"),
            &[],
        )
        .await,
    )
    .await;
    let start = page.find("/reset?token=").expect("a reset link");
    let link: String = page[start..].chars().take_while(|c| *c != '<').collect();
    let res = app
        .post_form(
            "/integrations/sso",
            "/integrations/sso/roles",
            &[("require_sso", "admin")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // "Forgot your password?" answers as for anyone; the mail points to the provider.
    let said = "If that address belongs to an operator";
    for email in [ADMIN_EMAIL, "nobody@example.com"] {
        let anyone = Session::new(&app);
        let res = anyone
            .post_form("/forgot", "/forgot", &[("email", email)])
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(body(res).await.contains(said));
    }
    let mail = app
        .scalar(&format!(
            "SELECT body FROM gh_mail_queue WHERE to_addr = '{ADMIN_EMAIL}'"
        ))
        .unwrap();
    assert!(
        mail.contains("single sign-on") && !mail.contains("token="),
        "{mail}"
    );

    // The link made earlier cannot set a password any more.
    let hash_sql = format!("SELECT password_hash FROM gh_users WHERE id = '{uid}'");
    let before = app.scalar(&hash_sql);
    let anyone = Session::new(&app);
    let res = anyone.get(&link).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(body(res).await.contains("single sign-on provider"));
    let token = link.trim_start_matches("/reset?token=");
    let new = "a brand new long password";
    let res = anyone
        .post_form(
            "/forgot",
            "/reset",
            &[("token", token), ("new", new), ("confirm", new)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.scalar(&hash_sql), before, "no password was set");

    // No new reset link is made for them, and an invitation into the role carries none.
    let res = tab
        .post_form(
            &format!("/users/{uid}"),
            &format!("/users/{uid}/reset-link"),
            &[],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(
        body(res)
            .await
            .contains("signs in only through single sign-on")
    );
    let res = tab
        .post_form(
            "/users/new",
            "/users",
            &[
                ("email", "grace@example.com"),
                ("display_name", "Grace"),
                ("role", "admin"),
                ("invite", "1"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let mail = app
        .scalar("SELECT body FROM gh_mail_queue WHERE to_addr = 'grace@example.com'")
        .unwrap();
    assert!(
        mail.contains("/login") && !mail.contains("token="),
        "{mail}"
    );
    let resets = "SELECT count(*) FROM gh_password_resets r JOIN gh_users u ON u.id = r.user_id WHERE u.email = 'grace@example.com'";
    assert_eq!(count(&app, resets), 0);
}

#[test]
fn the_providers_mfa_is_read_from_amr_and_acr() {
    use gatehouse::signin::sso::flow::provider_mfa;
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(provider_mfa(&v(&["pwd", "otp"])));
    assert!(provider_mfa(&v(&["mfa"])));
    assert!(provider_mfa(&v(&["hwk"])));
    assert!(provider_mfa(&v(&["pwd", "acr:urn:example:MFA"])));
    assert!(!provider_mfa(&v(&["pwd"])));
    assert!(!provider_mfa(&v(&["acr:urn:example:pwd"])));
    assert!(!provider_mfa(&[]));
}

both_backends!(
    providers_are_edited_disabled_and_enabled,
    signing_keys_are_cached_and_fetched_again_after_a_rotation,
    the_providers_mfa_counts_only_where_the_role_trusts_it,
    the_userinfo_endpoint_supplies_the_email_and_role_claim,
    require_sso_never_locks_every_administrator_out,
    operators_who_must_use_sso_get_no_password_from_links,
);
