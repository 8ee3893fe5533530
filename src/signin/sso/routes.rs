//! The sign-in through a provider: `/login/sso/{id}` sends the browser to the provider with
//! PKCE, state and nonce (kept sealed in a short-lived cookie), `/login/sso/callback` checks
//! them, verifies the ID token and signs the operator in (the TOTP step still follows unless
//! the role trusts the provider's MFA). Every failure lands on the sign-in page with one line
//! and an audit entry. Also the removal of a linked identity from `/account`.

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;

use super::discovery::Discovery;
use super::flow::{self, Pending};
use super::providers::{self, Provider};
use super::store;
use crate::error::AppError;
use crate::identity::CurrentUser;
use crate::identity::sessions as auth_store;
use crate::identity::users::User;
use crate::signin::routes::{second_step, sign_in, signed_in};
use crate::state::{AppState, app_data};
use crate::web::page;
use crate::web::{client, safe_next};

const FLOW_COOKIE: &str = "gh_sso";
const FLOW_PATH: &str = "/login/sso";
const FLOW_MAX_AGE: i64 = 600;

#[derive(Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// Where the provider sends the browser back. Behind `--public-url`, that URL; on an
/// ephemeral port (`--listen …:0`, as in tests) the address the request came to.
fn redirect_uri(req: &HttpRequest, state: &AppState) -> String {
    let public = &state.config.public_url;
    if public.port() != Some(0) {
        return format!(
            "{}/login/sso/callback",
            public.as_str().trim_end_matches('/')
        );
    }
    let scheme = if client::is_https(req) {
        "https"
    } else {
        "http"
    };
    let host = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("{scheme}://{host}/login/sso/callback")
}

pub async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let next = safe_next(query.next.as_deref());
    let Some((prov, secret)) = load(&state, &id).await? else {
        return fail(
            &req,
            &state,
            &id,
            "",
            "This sign-in provider is not available.",
        )
        .await;
    };
    let (redirect, cache) = (redirect_uri(&req, &state), app_data::<Discovery>(&req)?);
    let (url, pending) = match flow::start(&cache, &prov, secret, &redirect, next).await {
        Ok(started) => started,
        Err(reason) => return fail(&req, &state, &id, "", &reason).await,
    };
    let sealed = serde_json::to_string(&pending)
        .map_err(|e| AppError::internal(e.to_string()))
        .and_then(|j| super::sealer(&state).seal(&j).map_err(AppError::internal))?;
    let cookie = Cookie::build(FLOW_COOKIE, sealed)
        .path(FLOW_PATH)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.secure_cookies())
        .max_age(time::Duration::seconds(FLOW_MAX_AGE))
        .finish();
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", url))
        .cookie(cookie)
        .finish())
}

/// An enabled provider and its client secret, unsealed.
async fn load(state: &AppState, id: &str) -> Result<Option<(Provider, String)>, AppError> {
    let id = id.to_string();
    let prov = state
        .db
        .run(move |conn| Ok(providers::provider(conn, &id)?))
        .await?;
    let Some(prov) = prov.filter(|p| p.enabled) else {
        return Ok(None);
    };
    let secret = super::sealer(state)
        .open(&prov.client_secret_enc)
        .map_err(AppError::internal)?;
    Ok(Some((prov, secret)))
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, AppError> {
    let pending = req
        .cookie(FLOW_COOKIE)
        .and_then(|c| super::sealer(&state).open(c.value()).ok())
        .and_then(|j| serde_json::from_str::<Pending>(&j).ok());
    let provider = pending
        .as_ref()
        .map(|p| p.provider.clone())
        .unwrap_or_default();
    match complete(&req, &state, pending, query.into_inner()).await? {
        Ok((user, next, mfa)) => enter(&req, &state, user, next, mfa).await,
        Err((email, reason)) => fail(&req, &state, &provider, &email, &reason).await,
    }
}

/// Start the operator's session: fully signed in when the role trusts the provider's MFA
/// and the provider did MFA, else at the second step the password would lead to.
async fn enter(
    req: &HttpRequest,
    state: &AppState,
    user: User,
    next: String,
    mfa: bool,
) -> Result<HttpResponse, AppError> {
    let role = user.role.clone();
    let trusts = state
        .db
        .run(move |conn| Ok(providers::options_of(conn, &role)?.1))
        .await?;
    let (stage, location) = if trusts && mfa {
        (auth_store::STAGE_FULL, next)
    } else {
        second_step(state, &user, next).await?
    };
    sign_in(req, state, &user.id, &user.email, stage).await?;
    tracing::info!(user = %user.id, stage, "signed in through SSO");
    crate::metrics::global().signin("succeeded");
    let mut res = signed_in(state, &location);
    res.add_removal_cookie(&flow_removal())
        .map_err(|e| AppError::internal(e.to_string()))?;
    Ok(res)
}

/// The checks of the callback, in order; the operator (with where to go and whether the
/// provider did MFA), or (email if known, reason).
async fn complete(
    req: &HttpRequest,
    state: &AppState,
    pending: Option<Pending>,
    q: CallbackQuery,
) -> Result<Result<(User, String, bool), (String, String)>, AppError> {
    let refuse = |reason: &str| Ok(Err((String::new(), reason.to_string())));
    let Some(pending) = pending.filter(|p| Utc::now().timestamp() - p.started <= FLOW_MAX_AGE)
    else {
        return refuse("The sign-in took too long or was started in another browser. Try again.");
    };
    if q.state.as_deref() != Some(pending.state.as_str()) {
        return refuse("The provider's answer did not match this sign-in (state). Try again.");
    }
    if let Some(error) = q.error {
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect();
        return refuse(&format!("The provider refused the sign-in ({code})."));
    }
    let Some(code) = q.code else {
        return refuse("The provider's answer carried no code. Try again.");
    };
    let Some((prov, secret)) = load(state, &pending.provider).await? else {
        return refuse("This sign-in provider is not available.");
    };
    let (next, cache) = (pending.next.clone(), app_data::<Discovery>(req)?);
    let redirect = redirect_uri(req, state);
    let (verified, amr) = match flow::finish(&cache, &prov, secret, &redirect, pending, code).await
    {
        Ok(v) => v,
        Err(reason) => return refuse(&reason),
    };
    let email = verified.email.clone().unwrap_or_default();
    let resolved = state
        .db
        .run(move |conn| store::resolve(conn, &prov, &verified))
        .await?;
    Ok(match resolved {
        Ok(user) => Ok((user, next, flow::provider_mfa(&amr))),
        Err(reason) => Err((email, reason)),
    })
}

fn flow_removal() -> Cookie<'static> {
    Cookie::build(FLOW_COOKIE, "").path(FLOW_PATH).finish()
}

/// Back to the sign-in page with the reason, and the failure in the audit log.
async fn fail(
    req: &HttpRequest,
    state: &AppState,
    provider: &str,
    email: &str,
    reason: &str,
) -> Result<HttpResponse, AppError> {
    let (p, e, r, ip) = (
        provider.to_string(),
        email.to_string(),
        reason.to_string(),
        client::client_ip(req),
    );
    state
        .db
        .run(move |conn| Ok(store::record_failure(conn, &p, &e, &r, &ip)?))
        .await?;
    crate::metrics::global().signin("failed");
    let mut res = page::done(req, "/login", "error", reason);
    res.add_removal_cookie(&flow_removal())
        .map_err(|e| AppError::internal(e.to_string()))?;
    Ok(res)
}

pub async fn unlink(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let uid = user.id.clone();
    let removed = state
        .db
        .run(move |conn| {
            let me = crate::identity::users::find(conn, &uid)?.ok_or(AppError::NotFound)?;
            store::unlink(conn, &me, &id)
        })
        .await?;
    if !removed {
        return Err(AppError::NotFound);
    }
    Ok(page::done(
        &req,
        "/account",
        "success",
        "The linked identity was removed.",
    ))
}
