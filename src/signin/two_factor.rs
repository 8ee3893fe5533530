//! TOTP two-factor sign-in (see `totp`): enrolment with a QR code rendered here as SVG plus
//! the secret as text, confirmed by a first code; ten single-use recovery codes shown once
//! and stored hashed; the code step of sign-in; enrolment forced at sign-in for roles that
//! require it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::audit::Actor;
use crate::db::secrets::Sealer;
use crate::error::AppError;
use crate::identity::password;
use crate::identity::session::CurrentUser;
use crate::identity::sessions::{STAGE_CODE, STAGE_ENROL, STAGE_FULL};
use crate::signin::routes::sign_in;
use crate::signin::step::{self, NextQuery, passed, pending};
use crate::signin::store::{self, Refusal};
use crate::signin::totp::{qr_data_uri, totp};
use crate::signin::views::TwoFactorPage;
use crate::state::AppState;
use crate::web::page;
use crate::web::{client_ip, safe_next};

fn sealer(state: &AppState) -> Sealer {
    Sealer::new(state.config.secret_key.bytes())
}

pub async fn code_form(
    req: HttpRequest,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    pending(&req, STAGE_CODE).await?;
    let mut p = TwoFactorPage::new(&req, "code", "/login/code");
    p.next = safe_next(q.next.as_deref());
    page::ok(&p)
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    next: Option<String>,
}

pub async fn code(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let user = pending(&req, STAGE_CODE).await?;
    let next = safe_next(form.next.as_deref());
    let (uid, email, ip) = (user.id.clone(), user.email.clone(), client_ip(&req));
    let (typed, sealer) = (form.code.clone(), sealer(&state));
    let outcome = state
        .db
        .run(move |conn| store::check_code(conn, &sealer, &uid, &email, &ip, &typed))
        .await?;
    if let Err(message) = outcome {
        let mut p = TwoFactorPage::new(&req, "code", "/login/code");
        p.next = next;
        p.error = Some(message);
        return page::render(StatusCode::UNPROCESSABLE_ENTITY, &p);
    }
    passed(&req, &state, &user, &next).await
}

/// The QR code and secret being enrolled, making one if there is none yet.
async fn enrolment(state: &AppState, user: &CurrentUser) -> Result<(String, String), AppError> {
    let (uid, sealer) = (user.id.clone(), sealer(state));
    let secret = state
        .db
        .run(move |conn| store::pending_secret(conn, &sealer, &uid))
        .await?;
    let qr = qr_data_uri(&totp(&secret, &user.email)?)?;
    Ok((qr, secret))
}

/// The enrolment page (`/login/enrol`), with the reason the last code was refused.
async fn enrol_page(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let (qr, secret) = enrolment(state, user).await?;
    let mut p = TwoFactorPage::new(req, "enrol", "/login/enrol");
    p.qr = qr;
    p.secret = secret;
    let status = step::status(&error);
    p.error = error;
    page::render(status, &p)
}

/// Confirm the pending secret with a first code; returns the recovery codes to show once.
async fn confirm(
    state: &AppState,
    user: &CurrentUser,
    typed: String,
) -> Result<Result<Vec<String>, Refusal>, AppError> {
    let (uid, email, sealer) = (user.id.clone(), user.email.clone(), sealer(state));
    let actor = Actor::from(user);
    state
        .db
        .run(move |conn| store::confirm_two_factor(conn, &sealer, &uid, &email, &typed, &actor))
        .await
}

pub async fn enrol_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let user = pending(&req, STAGE_ENROL).await?;
    enrol_page(&req, &state, &user, None).await
}

pub async fn enrol(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let user = pending(&req, STAGE_ENROL).await?;
    match confirm(&state, &user, form.code.clone()).await? {
        Ok(codes) => {
            // The session middleware sets the new session's cookie on this page.
            sign_in(&req, &state, &user.id, &user.email, STAGE_FULL).await?;
            let mut p = TwoFactorPage::new(&req, "codes", "");
            p.codes = codes;
            page::ok(&p)
        }
        Err(message) => enrol_page(&req, &state, &user, Some(message)).await,
    }
}

async fn account_page(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let uid = user.id.clone();
    let (enabled, left) = state
        .db
        .run(move |conn| store::two_factor_status(conn, &uid))
        .await?;
    let mut p = TwoFactorPage::new(req, "account", "/account/2fa");
    p.enabled = enabled;
    p.codes_left = left;
    if !enabled {
        let (qr, secret) = enrolment(state, user).await?;
        p.qr = qr;
        p.secret = secret;
    }
    let status = step::status(&error);
    p.error = error;
    page::render(status, &p)
}

pub async fn account_form(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    account_page(&req, &state, &user, None).await
}

pub async fn account_enable(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    match confirm(&state, &user, form.code.clone()).await? {
        Ok(codes) => {
            let mut p = TwoFactorPage::new(&req, "codes", "");
            p.codes = codes;
            p.continue_to = "/account/2fa".into();
            page::ok(&p)
        }
        Err(message) => account_page(&req, &state, &user, Some(message)).await,
    }
}

#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    password: String,
}

/// Why two-factor may not be turned off: the role requires it, or the password is wrong.
async fn disable_refusal(
    state: &AppState,
    user: &CurrentUser,
    password: String,
) -> Result<Option<&'static str>, AppError> {
    let (uid, role) = (user.id.clone(), user.role.clone());
    let (stored, required) = state
        .db
        .run(move |conn| store::password_and_rule(conn, &uid, &role))
        .await?;
    Ok(if required {
        Some("Your role requires two-factor sign-in; it cannot be turned off.")
    } else if !password::verify_async(password, Some(stored)).await? {
        Some("The password is not correct.")
    } else {
        None
    })
}

pub async fn account_disable(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    form: web::Form<DisableForm>,
) -> Result<HttpResponse, AppError> {
    if let Some(refusal) = disable_refusal(&state, &user, form.password.clone()).await? {
        return account_page(&req, &state, &user, Some(refusal.into())).await;
    }
    let (uid, actor) = (user.id.clone(), Actor::from(&user));
    state
        .db
        .run(move |conn| store::disable_two_factor(conn, &uid, &actor))
        .await?;
    Ok(page::done(
        &req,
        "/account/2fa",
        "success",
        "Two-factor sign-in is off.",
    ))
}
