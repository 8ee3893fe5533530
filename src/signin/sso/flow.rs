//! The OpenID Connect exchange, through the `openidconnect` crate over the project's own
//! `awc` client (no second HTTP stack in the binary): discovery, the authorization URL with
//! PKCE + state + nonce, the code exchange and the ID token's verification (signature against
//! the provider's JWKS, fetched fresh at each sign-in so a rotated key is picked up; `iss`,
//! `aud`, `exp`, `iat` and `nonce`, with a bounded clock skew).

use std::time::Duration;

use chrono::Utc;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, IdTokenFields, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

use super::store::{Provider, Verified};

/// How far the provider's clock may be from ours.
pub const CLOCK_SKEW: Duration = Duration::from_secs(120);
const TIMEOUT: Duration = Duration::from_secs(10);

/// Every claim of the ID token beyond the standard ones (the role claim is read from here).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Extra(serde_json::Map<String, serde_json::Value>);
impl AdditionalClaims for Extra {}

type Fields = IdTokenFields<
    Extra,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Oidc = Client<
    Extra,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<Fields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What the browser carries (sealed) between the redirect to the provider and the callback.
#[derive(Debug, Serialize, Deserialize)]
pub struct Pending {
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub next: String,
    /// Unix seconds: the flow is refused after ten minutes.
    pub started: i64,
}

/// A failure, as the one-line reason the sign-in page shows (never a token or secret).
pub type Failure = String;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// The HTTP client `openidconnect` calls: awc, no redirects, a timeout.
async fn send(request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let client = awc::Client::builder()
        .timeout(TIMEOUT)
        .disable_redirects()
        .finish();
    let method = awc::http::Method::from_bytes(request.method().as_str().as_bytes())
        .map_err(|e| HttpError(e.to_string()))?;
    let mut req = client.request(method, request.uri().to_string());
    for (name, value) in request.headers() {
        req = req.insert_header((name.as_str(), value.as_bytes()));
    }
    let mut res = req
        .send_body(request.body().clone())
        .await
        .map_err(|e| HttpError(e.to_string()))?;
    let body = res
        .body()
        .limit(1024 * 1024)
        .await
        .map_err(|e| HttpError(e.to_string()))?;
    let mut out = openidconnect::http::Response::builder().status(res.status().as_u16());
    for (name, value) in res.headers() {
        out = out.header(name.as_str(), value.as_bytes());
    }
    out.body(body.to_vec())
        .map_err(|e| HttpError(e.to_string()))
}

async fn client(p: &Provider, secret: String, redirect: &str) -> Result<Oidc, Failure> {
    let issuer = IssuerUrl::new(p.issuer.clone())
        .map_err(|_| "The provider's issuer URL is not valid.".to_string())?;
    let meta = CoreProviderMetadata::discover_async(issuer, &send)
        .await
        .map_err(|e| {
            tracing::warn!(provider = %p.name, error = %e, "SSO discovery failed");
            format!(
                "{} could not be reached. Try again, or sign in with your password.",
                p.name
            )
        })?;
    let redirect = RedirectUrl::new(redirect.to_string()).map_err(|e| e.to_string())?;
    Ok(Client::from_provider_metadata(
        meta,
        ClientId::new(p.client_id.clone()),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(redirect))
}

/// The provider's authorization URL and what to keep until the callback.
pub async fn start(
    p: &Provider,
    secret: String,
    redirect: &str,
    next: String,
) -> Result<(String, Pending), Failure> {
    let client = client(p, secret, redirect).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in p.scopes.split_whitespace().filter(|s| *s != "openid") {
        req = req.add_scope(Scope::new(scope.to_string()));
    }
    let (url, state, nonce) = req.url();
    let pending = Pending {
        provider: p.id.clone(),
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        next,
        started: Utc::now().timestamp(),
    };
    Ok((url.to_string(), pending))
}

/// Exchange the code and verify the ID token; what it vouches for.
pub async fn finish(
    p: &Provider,
    secret: String,
    redirect: &str,
    pending: Pending,
    code: String,
) -> Result<(Verified, Vec<String>), Failure> {
    let client = client(p, secret, redirect).await?;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
        .request_async(&send)
        .await
        .map_err(|e| {
            tracing::info!(provider = %p.name, error = %e, "SSO code exchange refused");
            "The provider did not accept the sign-in (the code may have expired). Try again."
                .to_string()
        })?;
    let id_token = token.id_token().ok_or("The provider sent no ID token.")?;
    let skew = chrono::Duration::from_std(CLOCK_SKEW).unwrap_or_default();
    let verifier = client
        .id_token_verifier()
        .set_time_fn(move || Utc::now() - skew)
        .set_issue_time_verifier_fn(move |iat| {
            let now = Utc::now();
            if iat > now + skew {
                Err("issued in the future".to_string())
            } else if iat < now - chrono::Duration::hours(1) - skew {
                Err("issued too long ago".to_string())
            } else {
                Ok(())
            }
        });
    let claims = id_token
        .claims(&verifier, &Nonce::new(pending.nonce))
        .map_err(|e| {
            tracing::info!(provider = %p.name, error = %e, "SSO ID token refused");
            format!(
                "The ID token from {} did not verify ({}).",
                p.name,
                short_reason(&e.to_string())
            )
        })?;
    let amr: Vec<String> = claims
        .auth_method_refs()
        .map(|v| v.iter().map(|a| a.to_string()).collect())
        .unwrap_or_default();
    let mut amr = amr;
    if let Some(acr) = claims.auth_context_ref() {
        amr.push(format!("acr:{}", acr.as_str()));
    }
    let claim_values = match claims.additional_claims().0.get(p.role_claim.trim()) {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    let verified = Verified {
        issuer: claims.issuer().to_string(),
        subject: claims.subject().to_string(),
        email: claims.email().map(|e| e.to_string()),
        email_verified: claims.email_verified().unwrap_or(false),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string()),
        claim_values,
    };
    Ok((verified, amr))
}

/// The verifier's error without token contents: the kind of check that failed.
fn short_reason(e: &str) -> String {
    let lower = e.to_lowercase();
    [
        "audience",
        "nonce",
        "signature",
        "issuer",
        "expired",
        "issue time",
    ]
    .iter()
    .find(|k| lower.contains(*k))
    .map_or_else(
        || "invalid token".to_string(),
        |k| format!("{k} check failed"),
    )
}

/// Whether the provider's sign-in counts as multi-factor: an RFC 8176 `amr` value of a
/// second factor, or an `acr` that names MFA (e.g. `…:mfa`, Okta/Entra style).
pub fn provider_mfa(amr: &[String]) -> bool {
    amr.iter().any(|a| {
        matches!(a.as_str(), "mfa" | "otp" | "hwk" | "swk" | "sms" | "fido")
            || (a.starts_with("acr:") && a.to_lowercase().contains("mfa"))
    })
}
