//! Messages a newcomer meets (issue 9, newcomer 5): a setup link that was used or is from
//! an earlier start, and an API token that is missing, unknown, revoked or expired, each
//! says which and what to do next.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Backend, TestApp};

both_backends!(
    a_used_or_stale_setup_link_says_so_and_what_to_do_next,
    a_refused_api_token_says_whether_it_is_missing_unknown_revoked_or_expired,
);

async fn a_used_or_stale_setup_link_says_so_and_what_to_do_next(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.setup_token.clone().expect("a setup token");

    // A link from an earlier start (or mistyped).
    let res = app.get("/setup?token=from-an-earlier-start").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body = res.text().await.unwrap();
    assert!(body.contains("not valid or has expired"), "{body}");
    assert!(body.contains("gatehouse user create"), "{body}");

    // The link after setup: a page that says so, not a bare "does not exist".
    app.setup_admin().await;
    app.logout().await;
    let res = app.get(&format!("/setup?token={token}")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let body = res.text().await.unwrap();
    assert!(body.contains("Setup is already done"), "{body}");
    assert!(body.contains("This setup link has been used"));
    assert!(body.contains("href=\"/login\""));
    assert!(body.contains("gatehouse user reset-password --email EMAIL --password-stdin"));
    assert!(!body.contains("The page you asked for does not exist"));
}

/// Create a token through the page, as an administrator does; returns its value.
async fn new_token(app: &TestApp) -> String {
    let res = app
        .post_form(
            "/integrations/tokens",
            "/integrations/tokens",
            &[
                ("name", "nightly-report"),
                ("role", "viewer"),
                ("expires_days", "30"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let marker = "id=\"new-token\">";
    let start = page.find(marker).expect("the new token is shown") + marker.len();
    page[start..start + page[start..].find('<').unwrap()].to_string()
}

/// The status, the `WWW-Authenticate` header and the problem's detail of `GET /api/v1/tables`.
async fn refusal(app: &TestApp, authorization: Option<&str>) -> (StatusCode, String, String) {
    let mut req = reqwest::Client::new().get(app.url("/api/v1/tables"));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let body: Value = res.json().await.unwrap();
    (
        status,
        challenge,
        body["detail"].as_str().unwrap().to_string(),
    )
}

async fn a_refused_api_token_says_whether_it_is_missing_unknown_revoked_or_expired(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let value = new_token(&app).await;
    let ok = reqwest::Client::new()
        .get(app.url("/api/v1/tables"))
        .bearer_auth(&value)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    let (status, challenge, detail) = refusal(&app, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.starts_with("Bearer"));
    assert!(detail.contains("needs an API token"), "{detail}");

    for wrong in [
        "Bearer ghp_not-a-real-token",
        "Bearer abc",
        "Basic YWxhZGRpbjpvcGVu",
    ] {
        let (status, _, detail) = refusal(&app, Some(wrong)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong}");
        let expected = if wrong.starts_with("Basic") {
            "needs an API token"
        } else {
            "not known"
        };
        assert!(detail.contains(expected), "{wrong}: {detail}");
    }

    // Expired, then revoked: the holder of the whole value learns which, and nothing about
    // the token itself (its name, role or dates).
    let bearer = format!("Bearer {value}");
    app.sql("UPDATE gh_api_tokens SET expires_at = '2020-01-01 00:00:00'");
    // A token seen in the last two seconds is served from a short cache.
    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;
    let (status, _, detail) = refusal(&app, Some(&bearer)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(detail.contains("has expired"), "{detail}");
    app.sql("UPDATE gh_api_tokens SET revoked_at = '2021-01-01 00:00:00'");
    let (status, _, detail) = refusal(&app, Some(&bearer)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(detail.contains("has been revoked"), "{detail}");
    for secret in ["nightly-report", "viewer", "2020", "2021", &value[..12]] {
        assert!(!detail.contains(secret), "{secret} in {detail}");
    }
}
