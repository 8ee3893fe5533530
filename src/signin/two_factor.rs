//! TOTP two-factor sign-in (RFC 6238, SHA-1, 6 digits, 30 s, via `totp-rs`): enrolment
//! with a QR code rendered here as SVG plus the secret as text, confirmed by a first code;
//! ten single-use recovery codes shown once and stored hashed; the code step of sign-in;
//! enrolment forced at sign-in for roles that require it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine;
use serde::Deserialize;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::audit::{self, Actor};
use crate::db::secrets::Sealer;
use crate::db::secrets::{random_token, sha256_hex};
use crate::db::{self, now};
use crate::error::AppError;
use crate::identity::session::{self, CurrentUser};
use crate::identity::sessions::{STAGE_CODE, STAGE_ENROL, STAGE_FULL};
use crate::identity::users;
use crate::identity::{password, throttle};
use crate::state::AppState;
use crate::web::page::{self, Layout};
use crate::web::{client_ip, flash, safe_next};

const STEP: u64 = 30;

fn totp(secret_b32: &str, email: &str) -> Result<TOTP, AppError> {
    let bytes = Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|e| AppError::internal(format!("stored TOTP secret unreadable: {e:?}")))?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        bytes,
        Some("Gatehouse".into()),
        email.to_string(),
    )
    .map_err(|e| AppError::internal(format!("TOTP: {e}")))
}

fn new_secret() -> String {
    Secret::generate_secret().to_encoded().to_string()
}

/// The time step whose code `code` is (now, or one step either side for clock drift).
fn matching_step(t: &TOTP, code: &str) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let now = u64::try_from(chrono::Utc::now().timestamp()).ok()?;
    [now.saturating_sub(STEP), now, now + STEP]
        .into_iter()
        .find(|time| t.generate(*time) == code)
        .map(|time| (time / STEP) as i64)
}

/// An SVG QR code of the `otpauth://` URL, as a data URI for an `<img>` (no inline markup).
fn qr_data_uri(t: &TOTP) -> Result<String, AppError> {
    let code = qrcode::QrCode::new(t.get_url().as_bytes())
        .map_err(|e| AppError::internal(format!("QR: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

fn recovery_codes() -> Vec<String> {
    (0..10)
        .map(|_| {
            let raw: String = random_token()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(10)
                .collect::<String>()
                .to_lowercase();
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect()
}

fn code_hash(code: &str) -> String {
    sha256_hex(&code.trim().to_lowercase())
}

#[derive(Template)]
#[template(path = "auth/two_factor.html")]
struct TwoFactorPage {
    layout: Layout,
    /// `code`, `enrol`, `account`, `codes`
    mode: &'static str,
    action: &'static str,
    next: String,
    qr: String,
    secret: String,
    enabled: bool,
    codes_left: i64,
    codes: Vec<String>,
    continue_to: String,
    error: Option<String>,
}

impl TwoFactorPage {
    fn new(req: &HttpRequest, mode: &'static str, action: &'static str) -> TwoFactorPage {
        TwoFactorPage {
            layout: Layout::build(req),
            mode,
            action,
            next: "/".into(),
            qr: String::new(),
            secret: String::new(),
            enabled: false,
            codes_left: 0,
            codes: Vec::new(),
            continue_to: "/".into(),
            error: None,
        }
    }
}

async fn pending(req: &HttpRequest, stage: &str) -> Result<CurrentUser, AppError> {
    match session::load_pending(req).await? {
        Some(u) if u.stage == stage => Ok(u),
        _ => Err(AppError::Unauthorized),
    }
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
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
    let (uid, email, ip, typed) = (
        user.id.clone(),
        user.email.clone(),
        client_ip(&req),
        form.code.clone(),
    );
    let key = state.config.secret_key.bytes().to_vec();
    let outcome = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                if let Some(locked) = throttle::check_and_record(conn, &email, &ip, now())? {
                    return Ok(Err(locked.message()));
                }
                let record = users::find(conn, &uid)?.ok_or(AppError::Unauthorized)?;
                let sealed = record.totp_secret.ok_or(AppError::Unauthorized)?;
                let secret = Sealer::new(&key)
                    .open(&sealed)
                    .map_err(AppError::internal)?;
                let ok = match matching_step(&totp(&secret, &record.email)?, &typed) {
                    Some(step) => users::claim_totp_step(conn, &uid, step)?,
                    None => {
                        typed.trim().len() > 6
                            && users::use_recovery_code(conn, &uid, &code_hash(&typed), now())?
                    }
                };
                Ok::<_, AppError>(if ok {
                    Ok(())
                } else {
                    Err("That code is not right, or was used already.".to_string())
                })
            })
        })
        .await?;
    if let Err(message) = outcome {
        let mut p = TwoFactorPage::new(&req, "code", "/login/code");
        p.next = next;
        p.error = Some(message);
        return page::render(StatusCode::UNPROCESSABLE_ENTITY, &p);
    }
    let token =
        crate::signin::routes::sign_in(&req, &state, &user.id, &user.email, STAGE_FULL).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", next))
        .cookie(session::session_cookie(token, &state))
        .cookie(session::removal_cookie(
            crate::web::csrf::ANON_COOKIE,
            &state,
        ))
        .finish())
}

/// Show the QR code and secret being enrolled, making one if there is none yet.
async fn enrolment(state: &AppState, user: &CurrentUser) -> Result<(String, String), AppError> {
    let (uid, email) = (user.id.clone(), user.email.clone());
    let key = state.config.secret_key.bytes().to_vec();
    let secret = state
        .db
        .run(move |conn| {
            // Secrets are stored sealed, like the integrations' credentials.
            let sealer = Sealer::new(&key);
            let record = users::find(conn, &uid)?.ok_or(AppError::Unauthorized)?;
            match record.totp_pending.map(|p| sealer.open(&p)) {
                Some(Ok(s)) => Ok(s),
                _ => {
                    let s = new_secret();
                    users::set_totp_pending(
                        conn,
                        &uid,
                        &sealer.seal(&s).map_err(AppError::internal)?,
                    )?;
                    Ok(s)
                }
            }
        })
        .await?;
    let qr = qr_data_uri(&totp(&secret, &email)?)?;
    Ok((qr, secret))
}

/// Confirm the pending secret with a first code; returns the recovery codes to show once.
async fn confirm(
    state: &AppState,
    user: &CurrentUser,
    typed: String,
) -> Result<Result<Vec<String>, String>, AppError> {
    let (uid, email) = (user.id.clone(), user.email.clone());
    let key = state.config.secret_key.bytes().to_vec();
    let actor = Actor {
        user_id: Some(user.id.clone()),
        email: user.email.clone(),
    };
    state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                let record = users::find(conn, &uid)?.ok_or(AppError::Unauthorized)?;
                let Some(sealed) = record.totp_pending else {
                    return Ok(Err("Start the enrolment again: no code is being set up.".to_string()));
                };
                let secret = Sealer::new(&key).open(&sealed).map_err(AppError::internal)?;
                let Some(step) = matching_step(&totp(&secret, &email)?, &typed) else {
                    return Ok(Err("That code is not right. Check the time on your phone and try the next code.".to_string()));
                };
                let codes = recovery_codes();
                let hashes: Vec<String> = codes.iter().map(|c| code_hash(c)).collect();
                users::enable_totp(conn, &uid, &sealed, step, &hashes)?;
                audit::record(conn, &actor, "user.2fa_enabled", "gh_users", &uid, &serde_json::json!({}))?;
                Ok::<_, AppError>(Ok(codes))
            })
        })
        .await
}

pub async fn enrol_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let user = pending(&req, STAGE_ENROL).await?;
    let (qr, secret) = enrolment(&state, &user).await?;
    let mut p = TwoFactorPage::new(&req, "enrol", "/login/enrol");
    p.qr = qr;
    p.secret = secret;
    page::ok(&p)
}

pub async fn enrol(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let user = pending(&req, STAGE_ENROL).await?;
    match confirm(&state, &user, form.code.clone()).await? {
        Ok(codes) => {
            let token =
                crate::signin::routes::sign_in(&req, &state, &user.id, &user.email, STAGE_FULL)
                    .await?;
            let mut p = TwoFactorPage::new(&req, "codes", "");
            p.codes = codes;
            let mut res = page::ok(&p)?;
            res.add_cookie(&session::session_cookie(token, &state))
                .map_err(AppError::caused_by)?;
            Ok(res)
        }
        Err(message) => {
            let (qr, secret) = enrolment(&state, &user).await?;
            let mut p = TwoFactorPage::new(&req, "enrol", "/login/enrol");
            p.qr = qr;
            p.secret = secret;
            p.error = Some(message);
            page::render(StatusCode::UNPROCESSABLE_ENTITY, &p)
        }
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
        .run(move |conn| {
            let record = users::find(conn, &uid)?.ok_or(AppError::Unauthorized)?;
            Ok((
                record.totp_secret.is_some(),
                users::recovery_codes_left(conn, &uid)?,
            ))
        })
        .await?;
    let mut p = TwoFactorPage::new(req, "account", "/account/2fa");
    p.enabled = enabled;
    p.codes_left = left;
    if !enabled {
        let (qr, secret) = enrolment(state, user).await?;
        p.qr = qr;
        p.secret = secret;
    }
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
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

pub async fn account_disable(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    form: web::Form<DisableForm>,
) -> Result<HttpResponse, AppError> {
    let (uid, role) = (user.id.clone(), user.role.clone());
    let (stored, required) = state
        .db
        .run(move |conn| {
            let record = users::find(conn, &uid)?.ok_or(AppError::Unauthorized)?;
            Ok((
                record.password_hash,
                users::find_role(conn, &role)?.is_some_and(|r| r.require_2fa),
            ))
        })
        .await?;
    if required {
        return account_page(
            &req,
            &state,
            &user,
            Some("Your role requires two-factor sign-in; it cannot be turned off.".into()),
        )
        .await;
    }
    if !password::verify_async(form.password.clone(), Some(stored)).await? {
        return account_page(
            &req,
            &state,
            &user,
            Some("The password is not correct.".into()),
        )
        .await;
    }
    let uid = user.id.clone();
    let actor = Actor {
        user_id: Some(user.id.clone()),
        email: user.email.clone(),
    };
    state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                users::disable_totp(conn, &uid)?;
                audit::record(
                    conn,
                    &actor,
                    "user.2fa_disabled",
                    "gh_users",
                    &uid,
                    &serde_json::json!({}),
                )?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
    Ok(page::see_other(&req, "/account/2fa")
        .cookie(flash::cookie(
            "success",
            "Two-factor sign-in is off.",
            state.config.secure_cookies(),
        ))
        .finish())
}
