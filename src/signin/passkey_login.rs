//! Signing in with a passkey: as the second step after the password (`/login/passkey`),
//! as a forced enrolment for a role that requires a passkey (`/login/passkey/enrol`), and
//! without a password from `/login` (a discoverable credential the operator allowed to).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::audit::Actor;
use crate::error::AppError;
use crate::identity::session::CurrentUser;
use crate::identity::sessions::{STAGE_CODE, STAGE_FULL, STAGE_PASSKEY, STAGE_PASSKEY_ENROL};
use crate::signin::passkey_store as store;
use crate::signin::passkeys::{RegisterForm, cookie_binding, relying_party, session_binding};
use crate::signin::routes::{login_failed, sign_in, signed_in};
use crate::signin::step::{self, NextQuery, passed, pending};
use crate::signin::views::PasskeyStepPage;
use crate::state::AppState;
use crate::web::page;
use crate::web::safe_next;

fn step_page(
    req: &HttpRequest,
    mode: &'static str,
    next: String,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let status = step::status(&error);
    page::render(status, &PasskeyStepPage::new(req, mode, next, error))
}

/// Whether the operator at the passkey step may use their TOTP code instead.
async fn code_allowed(state: &AppState, user: &CurrentUser) -> Result<bool, AppError> {
    let (uid, role) = (user.id.clone(), user.role.clone());
    state
        .db
        .run(move |conn| store::code_allowed(conn, &uid, &role))
        .await
}

pub async fn step_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    let user = pending(&req, STAGE_PASSKEY).await?;
    let mut page = PasskeyStepPage::new(&req, "step", safe_next(q.next.as_deref()), None);
    page.use_code = code_allowed(&state, &user).await?;
    page::ok(&page)
}

#[derive(Deserialize)]
pub struct NextForm {
    next: Option<String>,
}

/// From the passkey step to the TOTP code step (the passkey is not at hand), for an
/// operator with TOTP whose role does not require a passkey.
pub async fn use_code(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<NextForm>,
) -> Result<HttpResponse, AppError> {
    let user = pending(&req, STAGE_PASSKEY).await?;
    let next = safe_next(form.next.as_deref());
    if !code_allowed(&state, &user).await? {
        let refusal = "Your role requires a passkey: a code is not enough.".to_string();
        return step_page(&req, "step", next, Some(refusal));
    }
    sign_in(&req, &state, &user.id, &user.email, STAGE_CODE).await?;
    let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    Ok(signed_in(&state, &format!("/login/code?next={next}")))
}

pub async fn step_options(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let user = pending(&req, STAGE_PASSKEY).await?;
    let (rp, binding) = (relying_party(&state)?, session_binding(&user));
    let options = state
        .db
        .run(move |conn| store::begin_second_step(conn, &rp, &binding))
        .await?;
    Ok(HttpResponse::Ok().json(options))
}

#[derive(Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    challenge: String,
    #[serde(default)]
    credential: String,
    next: Option<String>,
}

pub async fn step(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<AnswerForm>,
) -> Result<HttpResponse, AppError> {
    let user = pending(&req, STAGE_PASSKEY).await?;
    let next = safe_next(form.next.as_deref());
    let (rp, binding) = (relying_party(&state)?, session_binding(&user));
    let form = form.into_inner();
    let outcome = state
        .db
        .run(move |conn| {
            store::finish_second_step(conn, &rp, &binding, &form.challenge, &form.credential)
        })
        .await?;
    if let Err(refusal) = outcome {
        return step_page(&req, "step", next, Some(refusal));
    }
    tracing::info!(user = %user.id, "passkey accepted");
    passed(&req, &state, &user, &next).await
}

pub async fn enrol_form(req: HttpRequest) -> Result<HttpResponse, AppError> {
    pending(&req, STAGE_PASSKEY_ENROL).await?;
    step_page(&req, "enrol", "/".into(), None)
}

pub async fn enrol_options(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let user = pending(&req, STAGE_PASSKEY_ENROL).await?;
    let (rp, binding) = (relying_party(&state)?, session_binding(&user));
    let options = state
        .db
        .run(move |conn| store::begin_registration(conn, &rp, &user, &binding))
        .await?;
    Ok(HttpResponse::Ok().json(options))
}

/// The first passkey of an operator whose role requires one: registered, then signed in
/// (every other session of theirs ends).
pub async fn enrol(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RegisterForm>,
) -> Result<HttpResponse, AppError> {
    let user = pending(&req, STAGE_PASSKEY_ENROL).await?;
    let registration = match form.into_inner().registration() {
        Ok(r) => r,
        Err(refusal) => return step_page(&req, "enrol", "/".into(), Some(refusal)),
    };
    let (rp, binding, actor) = (
        relying_party(&state)?,
        session_binding(&user),
        Actor::from(&user),
    );
    let outcome = state
        .db
        .run(move |conn| {
            store::finish_registration(conn, &rp, &binding, None, &actor, registration)
        })
        .await?;
    if let Err(refusal) = outcome {
        return step_page(&req, "enrol", "/".into(), Some(refusal));
    }
    passed(&req, &state, &user, "/").await
}

/// Options for a passwordless sign-in from `/login`, bound to the browser's cookie.
pub async fn direct_options(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (rp, binding) = (relying_party(&state)?, cookie_binding(&req)?);
    let options = state
        .db
        .run(move |conn| store::begin_passwordless(conn, &rp, &binding))
        .await?;
    Ok(HttpResponse::Ok().json(options))
}

pub async fn direct(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<AnswerForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let (rp, binding) = (relying_party(&state)?, cookie_binding(&req)?);
    let outcome = state
        .db
        .run(move |conn| {
            store::finish_passwordless(conn, &rp, &binding, &form.challenge, &form.credential)
        })
        .await?;
    let user = match outcome {
        Ok(user) => user,
        Err(refusal) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return login_failed(&req, &state, status, (String::new(), next), refusal).await;
        }
    };
    if super::sso::requires_sso(&state, &user.role).await? {
        let refusal = "Your role signs in with single sign-on: use the provider's button below.";
        let status = StatusCode::FORBIDDEN;
        return login_failed(&req, &state, status, (user.email, next), refusal.into()).await;
    }
    sign_in(&req, &state, &user.id, &user.email, STAGE_FULL).await?;
    tracing::info!(user = %user.id, "signed in with a passkey, without a password");
    Ok(signed_in(&state, &next))
}
