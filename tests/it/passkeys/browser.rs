//! Passkeys in a real headless Chromium with a WebDriver virtual authenticator (CTAP2,
//! resident keys, user verification): register a passkey, sign out, sign in with the
//! password and the passkey, sign out, sign in with the passkey alone.

use std::time::Duration;

use fantoccini::Locator;
use fantoccini::wd::WebDriverCompatibleCommand;

use crate::common::browser::{browser, click, fill, start_driver, wait_heading, wait_js};
use crate::common::{ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD, Backend, TestApp};

use super::authenticator::PUBLIC_URL;

/// `POST /session/{id}/webauthn/authenticator` (WebAuthn Level 2, §11.3).
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (reqwest::Method, Option<String>) {
        let body = serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserConsenting": true,
            "isUserVerified": true,
        });
        (reqwest::Method::POST, Some(body.to_string()))
    }
}

async fn sign_out(c: &fantoccini::Client) {
    click(c, Locator::Css("form[action='/logout'] button")).await;
    wait_heading(c, "Sign in").await;
}

#[actix_web::test]
async fn an_operator_registers_a_passkey_and_signs_in_with_it_in_a_real_browser() {
    let app = TestApp::spawn_with(Backend::Sqlite, PUBLIC_URL).await;
    app.setup_admin().await;
    // WebAuthn needs a host name (an IP address is no relying party ID): localhost.
    let base = app.base.replace("127.0.0.1", "localhost");
    let driver = start_driver().await;
    let c = browser(&driver).await;
    c.goto(&format!("{base}/login")).await.unwrap();
    wait_heading(&c, "Sign in").await;
    c.issue_cmd(AddVirtualAuthenticator)
        .await
        .expect("a virtual authenticator");

    fill(&c, "email", ADMIN_EMAIL).await;
    fill(&c, "password", ADMIN_PASSWORD).await;
    click(&c, Locator::Css("form[action='/login'] button")).await;
    wait_heading(&c, &format!("Welcome, {ADMIN_NAME}")).await;

    c.goto(&format!("{base}/account/passkeys")).await.unwrap();
    wait_heading(&c, "Passkeys").await;
    fill(&c, "passkey-name", "Virtual key").await;
    click(&c, Locator::Css("input[name='passwordless']")).await;
    click(&c, Locator::Css("form[data-passkey='create'] button")).await;
    wait_js(&c, "document.querySelector('#passkeys') !== null").await;
    let page = c.source().await.unwrap();
    assert!(
        page.contains("Virtual key") && page.contains("Passkey added"),
        "listed"
    );
    assert!(
        !page.contains("data-passkey-error role=\"alert\">"),
        "no error shown"
    );

    // Password, then the passkey.
    sign_out(&c).await;
    fill(&c, "email", ADMIN_EMAIL).await;
    fill(&c, "password", ADMIN_PASSWORD).await;
    click(&c, Locator::Css("form[action='/login'] button")).await;
    wait_heading(&c, "Use your passkey").await;
    click(&c, Locator::Css("#use-passkey")).await;
    wait_heading(&c, &format!("Welcome, {ADMIN_NAME}")).await;

    // The passkey alone.
    sign_out(&c).await;
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#passkey-signin"))
        .await
        .unwrap();
    wait_js(&c, "!document.querySelector('form.passkey-signin').hidden").await;
    click(&c, Locator::Css("#passkey-signin")).await;
    wait_heading(&c, &format!("Welcome, {ADMIN_NAME}")).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/");

    c.close().await.unwrap();
}
