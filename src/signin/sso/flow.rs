//! The OpenID Connect exchange, through the `openidconnect` crate over the project's own
//! `awc` client (no second HTTP stack in the binary): the authorization URL with PKCE +
//! state + nonce, the code exchange and the ID token's verification (signature against the
//! provider's JWKS, cached by `discovery` and fetched again on an unknown `kid`; `iss`,
//! `aud`, `exp`, `iat` and `nonce`, with a bounded clock skew), then the userinfo endpoint
//! for what the ID token lacks.

use std::time::Duration;

use chrono::Utc;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessToken, AdditionalClaims, AuthorizationCode, ClaimsVerificationError, Client, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IdToken, IdTokenClaims, IdTokenFields, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError, StandardErrorResponse,
    StandardTokenResponse, TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};

use super::discovery::{Discovery, send};
use super::providers::Provider;
use super::store::Verified;

/// How far the provider's clock may be from ours.
pub const CLOCK_SKEW: Duration = Duration::from_secs(120);

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

fn new_client(
    meta: CoreProviderMetadata,
    p: &Provider,
    secret: String,
    redirect: &str,
) -> Result<Oidc, Failure> {
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
    cache: &Discovery,
    p: &Provider,
    secret: String,
    redirect: &str,
    next: String,
) -> Result<(String, Pending), Failure> {
    let client = new_client(cache.metadata(p).await?, p, secret, redirect)?;
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

type Token =
    IdToken<Extra, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;
type Claims = IdTokenClaims<Extra, CoreGenderClaim>;
type Profile = UserInfoClaims<Extra, CoreGenderClaim>;

/// Exchange the code and verify the ID token (its keys fetched again once when it names a
/// key the cache does not hold); read the userinfo endpoint when the ID token lacks the
/// email or the role claim. What the provider vouches for, and its `amr` (+ `acr:…`).
pub async fn finish(
    cache: &Discovery,
    p: &Provider,
    secret: String,
    redirect: &str,
    pending: Pending,
    code: String,
) -> Result<(Verified, Vec<String>), Failure> {
    let meta = cache.metadata(p).await?;
    let client = new_client(meta.clone(), p, secret.clone(), redirect)?;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
        .request_async(&send)
        .await
        .map_err(|e| {
            tracing::info!(provider = %p.name, error = %e, "SSO code exchange refused");
            if matches!(e, openidconnect::RequestTokenError::Request(_)) {
                format!(
                    "{} could not be reached. Try again, or sign in with your password.",
                    p.name
                )
            } else {
                "The provider did not accept the sign-in (the code may have expired). Try again."
                    .to_string()
            }
        })?;
    let id_token = token.id_token().ok_or("The provider sent no ID token.")?;
    let mut verified = verify(&client, id_token, &pending.nonce);
    if matches!(
        verified,
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey
        ))
    ) {
        let meta = cache.refresh_keys(p, meta).await?;
        let client = new_client(meta, p, secret, redirect)?;
        verified = verify(&client, id_token, &pending.nonce);
    }
    let claims = verified.map_err(|e| {
        tracing::info!(provider = %p.name, error = %e, "SSO ID token refused");
        format!(
            "The ID token from {} did not verify ({}).",
            p.name,
            short_reason(&e.to_string())
        )
    })?;
    let profile = if needs_profile(p, &claims) && client.user_info_url().is_some() {
        Some(profile(&client, p, token.access_token().clone(), &claims).await?)
    } else {
        None
    };
    Ok((vouched(p, &claims, profile.as_ref()), methods(&claims)))
}

/// The ID token's claims, checked: signature, `iss`, `aud`, `exp`, `iat` (bounded skew),
/// `nonce`.
fn verify(client: &Oidc, token: &Token, nonce: &str) -> Result<Claims, ClaimsVerificationError> {
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
    token
        .claims(&verifier, &Nonce::new(nonce.to_string()))
        .cloned()
}

/// Whether the ID token lacks what the userinfo endpoint may add: the email, or the
/// provider's role claim.
fn needs_profile(p: &Provider, claims: &Claims) -> bool {
    let claim = p.role_claim.trim();
    claims.email().is_none()
        || (!claim.is_empty() && !claims.additional_claims().0.contains_key(claim))
}

/// The userinfo endpoint's claims for the token's subject (the crate refuses another).
async fn profile(
    client: &Oidc,
    p: &Provider,
    access: AccessToken,
    claims: &Claims,
) -> Result<Profile, Failure> {
    let refused = |e: String| {
        tracing::warn!(provider = %p.name, error = %e, "SSO userinfo refused");
        format!(
            "Your profile could not be read from {} (userinfo). Try again.",
            p.name
        )
    };
    client
        .user_info(access, Some(claims.subject().clone()))
        .map_err(|e| refused(e.to_string()))?
        .request_async(&send)
        .await
        .map_err(|e| refused(e.to_string()))
}

fn role_values(extra: &Extra, claim: &str) -> Option<Vec<String>> {
    Some(match extra.0.get(claim)? {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    })
}

/// What the provider vouches for: the ID token's claims, completed by the userinfo
/// endpoint's where the ID token has none.
fn vouched(p: &Provider, claims: &Claims, profile: Option<&Profile>) -> Verified {
    let claim = p.role_claim.trim();
    let (email, email_verified) = match (claims.email(), profile) {
        (Some(e), _) => (
            Some(e.to_string()),
            claims.email_verified().unwrap_or(false),
        ),
        (None, Some(u)) => (
            u.email().map(|e| e.to_string()),
            u.email_verified().unwrap_or(false),
        ),
        (None, None) => (None, false),
    };
    let name = claims
        .name()
        .or_else(|| profile.and_then(|u| u.name()))
        .and_then(|n| n.get(None))
        .map(|n| n.to_string());
    let claim_values = role_values(claims.additional_claims(), claim)
        .or_else(|| profile.and_then(|u| role_values(u.additional_claims(), claim)))
        .unwrap_or_default();
    Verified {
        issuer: claims.issuer().to_string(),
        subject: claims.subject().to_string(),
        email,
        email_verified,
        name,
        claim_values,
    }
}

/// The token's `amr` values, and its `acr` as `acr:<value>`.
fn methods(claims: &Claims) -> Vec<String> {
    let mut amr: Vec<String> = claims
        .auth_method_refs()
        .map(|v| v.iter().map(|a| a.to_string()).collect())
        .unwrap_or_default();
    if let Some(acr) = claims.auth_context_ref() {
        amr.push(format!("acr:{}", acr.as_str()));
    }
    amr
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
