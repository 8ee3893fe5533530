//! `--trusted-proxies`: forwarding headers decide the client address (sign-in throttle,
//! sessions list, audit log) and https only when the peer is a trusted proxy.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Session, TestApp};

/// A browser whose every request carries `headers` (as if a proxy, or a liar, added them).
fn client_with(headers: &[(&'static str, &str)]) -> reqwest::Client {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(map)
        .build()
        .unwrap()
}

/// One failed and one good sign-in through `client`; returns the addresses recorded for
/// the failure (throttle) and the session, and whether /account lists `shown`.
async fn sign_in_through(
    app: &TestApp,
    client: &reqwest::Client,
    shown: &str,
) -> (String, String, bool) {
    let tab = Session::of(app, client);
    let bad = tab.sign_in(ADMIN_EMAIL, "not the password").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let failure_ip = app
        .scalar("SELECT ip FROM gh_login_failures ORDER BY created_at DESC LIMIT 1")
        .unwrap();
    let good = tab.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(good.status(), StatusCode::SEE_OTHER);
    let session_ip = app
        .scalar("SELECT ip FROM gh_sessions ORDER BY created_at DESC LIMIT 1")
        .unwrap();
    let account = tab.page("/account").await;
    (failure_ip, session_ip, account.contains(shown))
}

/// The address the audit log records for a refused single sign-on (a callback without a
/// sign-in in progress), through `client`.
async fn audited_ip(app: &TestApp, client: &reqwest::Client) -> String {
    let res = client
        .get(app.url("/login/sso/callback?state=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let changes = app
        .scalar("SELECT changes FROM gh_audit WHERE action = 'sso.failed' ORDER BY created_at DESC LIMIT 1")
        .unwrap();
    let changes: serde_json::Value = serde_json::from_str(&changes).unwrap();
    changes["ip"].as_str().unwrap().to_string()
}

async fn spoofed_headers_ignored_from_untrusted_peer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let liar = client_with(&[
        ("x-forwarded-for", "203.0.113.9"),
        ("forwarded", "for=198.51.100.4;proto=https"),
    ]);
    let (failure, session, listed) = sign_in_through(&app, &liar, "203.0.113.9").await;
    assert_eq!(failure, "127.0.0.1");
    assert_eq!(session, "127.0.0.1");
    assert!(!listed, "/account must not show the spoofed address");
    assert_eq!(audited_ip(&app, &liar).await, "127.0.0.1");

    // Nor does a claimed https make an https origin same-site.
    let tab = Session::of(&app, &liar);
    let token = tab.csrf("/account").await;
    let origin = app.url("").replace("http://", "https://");
    let res = liar
        .post(app.url("/logout"))
        .header("origin", origin.trim_end_matches('/'))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

async fn forwarding_headers_honoured_from_trusted_proxy(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--trusted-proxies", "10.0.0.0/8,127.0.0.1"]).await;
    app.setup_admin().await;
    let proxied = client_with(&[("x-forwarded-for", "203.0.113.9, 10.1.2.3")]);
    let (failure, session, listed) = sign_in_through(&app, &proxied, "203.0.113.9").await;
    assert_eq!(failure, "203.0.113.9");
    assert_eq!(session, "203.0.113.9");
    assert!(listed, "/account lists the client's address");
    assert_eq!(audited_ip(&app, &proxied).await, "203.0.113.9");

    // Forwarded wins over X-Forwarded-For; the client picks only what trusted hops vouch for:
    // a forged leftmost entry is not reached past the nearest untrusted hop.
    let chain = client_with(&[
        (
            "forwarded",
            "for=192.0.2.66, for=\"[2001:db8::7]:4711\";proto=https, for=10.9.9.9",
        ),
        ("x-forwarded-for", "203.0.113.9"),
    ]);
    let (failure, _, _) = sign_in_through(&app, &chain, "2001:db8::7").await;
    assert_eq!(failure, "2001:db8::7");

    // The proxy says the client used https: an https Origin is our own.
    let https = client_with(&[
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-proto", "https"),
    ]);
    let tab = Session::of(&app, &https);
    assert_eq!(
        tab.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let token = tab.csrf("/account").await;
    let origin = app.url("").replace("http://", "https://");
    let res = https
        .post(app.url("/logout"))
        .header("origin", origin.trim_end_matches('/'))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

both_backends!(
    spoofed_headers_ignored_from_untrusted_peer,
    forwarding_headers_honoured_from_trusted_proxy
);
