//! OpenID Connect sign-in against a real, certified provider: panva's `oidc-provider` (npm),
//! started per test by tests/oidc/provider.mjs on a random loopback port with a test client
//! and users. Covers creation with the mapped role, the link kept across sign-ins, a changed
//! group claim changing the role, refused state / audience / nonce / consent / domain /
//! unknown user, "require SSO" blocking the password form, a disabled operator refused, and
//! linked identities on /account.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Session, TestApp, location, new_client};

pub const CLIENT_ID: &str = "gatehouse-test";
pub const CLIENT_SECRET: &str = "a-test-client-secret-that-is-long-enough-0123456789";

/// The running provider; killed when dropped.
pub struct Provider {
    child: Child,
    /// Held open: the provider must never write to a closed pipe.
    _stdout: BufReader<std::process::ChildStdout>,
    pub issuer: String,
    users: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn script() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
    assert!(
        dir.join("node_modules/oidc-provider").exists(),
        "the test OpenID provider is not installed: run `npm ci --prefix tests/oidc` (.ci/run does)"
    );
    dir.join("provider.mjs")
}

impl Provider {
    /// Start the provider for `app` (its callback is the client's redirect URI).
    pub fn start(app: &TestApp, users: Value) -> Provider {
        Provider::start_with(app, users, json!({}))
    }

    /// Start it with more settings (e.g. `{"conform": true}`: scope claims only from the
    /// userinfo endpoint).
    pub fn start_with(app: &TestApp, users: Value, settings: Value) -> Provider {
        let dir = tempfile::tempdir().unwrap();
        let users_path = dir.path().join("users.json");
        std::fs::write(&users_path, users.to_string()).unwrap();
        let mut config = json!({
            "clients": [{
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [app.url("/login/sso/callback")],
            }],
            "users": users_path,
        });
        if let (Some(config), Some(settings)) = (config.as_object_mut(), settings.as_object()) {
            config.extend(settings.clone());
        }
        let config_path = dir.path().join("config.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let mut child = Command::new("node")
            .arg(script())
            .arg(&config_path)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("provider.log")).unwrap())
            .spawn()
            .expect("node (Node.js) runs the test OpenID provider");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let issuer = serde_json::from_str::<Value>(&line)
            .unwrap_or_else(|_| panic!("the provider did not start: {line:?}"))["issuer"]
            .as_str()
            .unwrap()
            .to_string();
        Provider {
            child,
            _stdout: stdout,
            issuer,
            users: users_path,
            _dir: dir,
        }
    }

    /// What the provider wrote to stderr (each ID token's claims among it).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("provider.log")).unwrap_or_default()
    }

    pub fn set_users(&self, users: Value) {
        std::fs::write(&self.users, users.to_string()).unwrap();
    }

    /// How many times discovery, the JWKS, the token and the userinfo endpoints were asked.
    pub async fn counts(&self) -> Value {
        let res = new_client()
            .get(format!("{}/test/counts", self.issuer))
            .send()
            .await
            .unwrap();
        res.json().await.unwrap()
    }

    /// Restart the provider (same address) with a new signing key; its new `kid`.
    pub async fn rotate(&self) -> String {
        let res = new_client()
            .post(format!("{}/test/rotate", self.issuer))
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        body["kid"].as_str().unwrap().to_string()
    }

    /// The next ID token carries these claims instead (validly signed).
    pub async fn tamper(&self, claims: Value) {
        let res = new_client()
            .post(format!("{}/test/tamper", self.issuer))
            .body(claims.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
}

pub fn user(email: &str, groups: &[&str]) -> Value {
    json!({ "email": email, "email_verified": true, "name": "Test Person", "groups": groups })
}

/// The administrator (the app's client) adds the provider through /integrations/sso.
pub async fn add_provider(app: &TestApp, p: &Provider, extra: &[(&str, &str)]) -> String {
    let mut fields = vec![
        ("name", "Test IdP"),
        ("issuer", p.issuer.as_str()),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("scopes", "openid email profile groups"),
        ("default_role", "viewer"),
    ];
    fields.extend_from_slice(extra);
    let res = app
        .post_form("/integrations/sso", "/integrations/sso", &fields)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the provider is added");
    app.scalar("SELECT id FROM gh_sso_providers ORDER BY created_at DESC LIMIT 1")
        .unwrap()
}

/// Absolute URL of a Location that may be relative to `base`.
fn absolute(base: &str, loc: &str) -> String {
    reqwest::Url::parse(base)
        .unwrap()
        .join(loc)
        .unwrap()
        .to_string()
}

/// Follow the flow from the provider button to the provider's answer, signing in as `login`
/// (or denying); returns the callback URL the provider sends the browser to.
pub async fn to_callback(tab: &Session<'_>, provider: &str, login: &str, deny: bool) -> String {
    let start = tab.get(&format!("/login/sso/{provider}")).await;
    assert_eq!(
        start.status(),
        StatusCode::SEE_OTHER,
        "the button redirects to the provider"
    );
    let mut url = location(&start);
    for _ in 0..12 {
        if url.starts_with(&tab.app.url("/login/sso/callback")) {
            return url;
        }
        let res = tab.client.get(&url).send().await.unwrap();
        if res.status().is_redirection() {
            url = absolute(&url, &location(&res));
            continue;
        }
        assert_eq!(res.status(), StatusCode::OK, "the provider's sign-in page");
        let action = if deny { "deny" } else { "login" };
        let res = tab
            .client
            .post(&url)
            .form(&[("login", login), ("action", action)])
            .send()
            .await
            .unwrap();
        assert!(
            res.status().is_redirection(),
            "the provider accepts the sign-in"
        );
        url = absolute(&url, &location(&res));
    }
    panic!("the provider never sent the browser back");
}

/// A whole SSO sign-in in a new browser; the callback's response and the tab.
pub async fn sso<'a>(app: &'a TestApp, provider: &str, login: &str) -> (Response, Session<'a>) {
    let tab = Session::new(app);
    let callback = to_callback(&tab, provider, login, false).await;
    (tab.client.get(&callback).send().await.unwrap(), tab)
}

/// The reason shown on the sign-in page after a refused SSO sign-in.
pub async fn refused(res: Response, tab: &Session<'_>, reason: &str) {
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
    let page = tab.page("/login").await;
    assert!(
        page.contains(reason),
        "the sign-in page says {reason:?}: {page}"
    );
    assert_eq!(
        tab.get("/").await.status(),
        StatusCode::SEE_OTHER,
        "not signed in"
    );
}

pub fn count(app: &TestApp, sql: &str) -> i64 {
    app.scalar(sql).map_or(0, |v| v.parse().unwrap())
}

async fn sign_in_creates_links_and_maps_the_role(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let idp = Provider::start(
        &app,
        json!({ "alice": user("alice@corp.example", &["gh-editors"]) }),
    );
    let id = add_provider(
        &app,
        &idp,
        &[
            ("create_users", "on"),
            ("allowed_domains", "corp.example"),
            ("role_claim", "groups"),
            ("role_map", "gh-editors=editor\ngh-admins=admin"),
        ],
    )
    .await;
    let login = Session::new(&app).page("/login").await;
    assert!(login.contains("Test IdP"), "a button on the sign-in page");

    let (res, tab) = sso(&app, &id, "alice").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/");
    assert_eq!(tab.get("/").await.status(), StatusCode::OK, "signed in");
    let role = "SELECT role FROM gh_users WHERE email = 'alice@corp.example'";
    assert_eq!(
        app.scalar(role).as_deref(),
        Some("editor"),
        "created with the mapped role"
    );
    let uid = app
        .scalar("SELECT id FROM gh_users WHERE email = 'alice@corp.example'")
        .unwrap();
    assert_eq!(count(&app, "SELECT count(*) FROM gh_identities"), 1);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM gh_audit WHERE action = 'user.created_by_sso'"
        ),
        1
    );

    // Second sign-in: the subject identifies her, even with another email at the provider.
    idp.set_users(json!({ "alice": user("alice.new@corp.example", &["gh-editors"]) }));
    let (res, _) = sso(&app, &id, "alice").await;
    assert_eq!(location(&res), "/");
    assert_eq!(
        count(&app, "SELECT count(*) FROM gh_identities"),
        1,
        "the link is kept"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM gh_users"),
        2,
        "no second operator"
    );

    // A changed group claim changes the role at the next sign-in.
    idp.set_users(json!({ "alice": user("alice@corp.example", &["gh-admins"]) }));
    let (res, tab) = sso(&app, &id, "alice").await;
    assert_eq!(location(&res), "/");
    assert_eq!(app.scalar(role).as_deref(), Some("admin"));
    assert_eq!(
        tab.get("/users").await.status(),
        StatusCode::OK,
        "with the new role's rights"
    );

    // /account shows the link, and removes it.
    let account = tab.page("/account").await;
    assert!(
        account.contains(&idp.issuer),
        "the linked identity is listed"
    );
    let link = app.scalar("SELECT id FROM gh_identities").unwrap();
    let res = tab
        .post_form(
            "/account",
            &format!("/account/identities/{link}/remove"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM gh_identities WHERE user_id = '{uid}'")
        ),
        0
    );
}

async fn bad_answers_are_refused_with_a_reason(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let idp = Provider::start(
        &app,
        json!({
            "alice": user("alice@corp.example", &[]),
            "mallory": user("mallory@elsewhere.example", &[]),
        }),
    );
    let id = add_provider(
        &app,
        &idp,
        &[("create_users", "on"), ("allowed_domains", "corp.example")],
    )
    .await;

    // A tampered state.
    let tab = Session::new(&app);
    let callback = to_callback(&tab, &id, "alice", false).await;
    let forged = reqwest::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                "forged".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let mut forged = forged.clone();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let res = tab.client.get(forged).send().await.unwrap();
    refused(res, &tab, "did not match this sign-in (state)").await;

    // A validly signed ID token for another audience, then with another nonce.
    idp.tamper(json!({ "aud": "someone-else" })).await;
    let (res, tab) = sso(&app, &id, "alice").await;
    refused(res, &tab, "audience check failed").await;
    idp.tamper(json!({ "nonce": "not-the-nonce" })).await;
    let (res, tab) = sso(&app, &id, "alice").await;
    refused(res, &tab, "nonce check failed").await;

    // Consent denied at the provider; an email domain not allowed.
    let tab = Session::new(&app);
    let callback = to_callback(&tab, &id, "alice", true).await;
    let res = tab.client.get(&callback).send().await.unwrap();
    refused(res, &tab, "refused the sign-in (access_denied)").await;
    let (res, tab) = sso(&app, &id, "mallory").await;
    refused(res, &tab, "email domain is not allowed").await;

    assert_eq!(
        count(&app, "SELECT count(*) FROM gh_users"),
        1,
        "nobody was created"
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM gh_audit WHERE action = 'sso.failed'"
        ),
        5
    );
    let audit = app.scalar("SELECT changes FROM gh_audit WHERE action = 'sso.failed' ORDER BY created_at DESC LIMIT 1").unwrap();
    assert!(
        audit.contains("127.0.0.1") && !audit.contains(CLIENT_SECRET),
        "{audit}"
    );
}

async fn require_sso_unknown_and_disabled_operators(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let idp = Provider::start(
        &app,
        json!({
            "ada": user(ADMIN_EMAIL, &[]),
            "nobody": user("nobody@corp.example", &[]),
            "eve": { "email": ADMIN_EMAIL, "email_verified": false, "name": "Eve" },
        }),
    );
    let id = add_provider(&app, &idp, &[]).await;

    // Creation off: an unknown operator is refused.
    let (res, tab) = sso(&app, &id, "nobody").await;
    refused(res, &tab, "No operator matches your account").await;
    // An email the provider has not verified links nobody, not even to its owner's account.
    let (res, tab) = sso(&app, &id, "eve").await;
    refused(res, &tab, "No operator matches your account").await;
    assert_eq!(count(&app, "SELECT count(*) FROM gh_identities"), 0);

    // The administrator is linked by verified email; then SSO is required for admins.
    let (res, _) = sso(&app, &id, "ada").await;
    assert_eq!(location(&res), "/");
    let res = app
        .post_form(
            "/integrations/sso",
            "/integrations/sso/roles",
            &[("require_sso", "admin")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let tab = Session::new(&app);
    let res = tab.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("signs in with single sign-on")
    );
    let (res, tab) = sso(&app, &id, "ada").await;
    assert_eq!(
        location(&res),
        "/",
        "the provider still signs the administrator in"
    );
    assert_eq!(tab.get("/").await.status(), StatusCode::OK);

    // A disabled operator is refused.
    app.sql(&format!(
        "UPDATE gh_users SET disabled = TRUE WHERE email = '{ADMIN_EMAIL}'"
    ));
    let (res, tab) = sso(&app, &id, "ada").await;
    refused(res, &tab, "This account is disabled").await;
}

both_backends!(
    sign_in_creates_links_and_maps_the_role,
    bad_answers_are_refused_with_a_reason,
    require_sso_unknown_and_disabled_operators,
);
