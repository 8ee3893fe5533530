//! Sign-in, sign-out and the first-run setup page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::db::now;
use crate::db::secrets::{random_token, sha256_hex};
use crate::error::AppError;
use crate::identity::session;
use actix_session::SessionExt;

use crate::identity::password;
use crate::identity::session::MaybeUser;
use crate::identity::session_store;
use crate::identity::sessions as auth_store;
use crate::identity::users::{self, NewUser, User};
use crate::metrics;
use crate::signin::store::{self, Attempt};
use crate::signin::views::{LoginPage, SetupDonePage, SetupErrors, SetupPage};
use crate::state::AppState;
use crate::web::page::{self, Layout, Page};
use crate::web::{client_ip, csrf, flash, safe_next};

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_form(
    req: HttpRequest,
    Page(layout): Page,
    user: MaybeUser,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(query.next.as_deref());
    if user.0.is_some() {
        return Ok(HttpResponse::SeeOther()
            .insert_header(("Location", next))
            .finish());
    }
    page::ok(&LoginPage {
        layout,
        providers: super::sso::buttons(&req, &state).await,
        email: String::new(),
        next,
        error: None,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// Check the password of a counted attempt: the operator, or the status and message of
/// the refusal.
async fn check_password(
    req: &HttpRequest,
    state: &AppState,
    email: &str,
    password: String,
) -> Result<Result<User, (StatusCode, String)>, AppError> {
    let (e, ip) = (email.to_string(), client_ip(req));
    let i = ip.clone();
    let user = match state
        .db
        .run(move |conn| store::attempt(conn, &e, &i))
        .await?
    {
        Attempt::Locked(locked) => {
            metrics::global().signin("throttled");
            return Ok(Err((StatusCode::TOO_MANY_REQUESTS, locked.message())));
        }
        Attempt::Checked { user } => user,
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = password::verify_async(password, stored).await?;
    let accepted = verified && user.as_ref().is_some_and(|u| !u.disabled);
    metrics::global().signin(if accepted { "succeeded" } else { "failed" });
    Ok(match user {
        Some(u) if verified && !u.disabled => Ok(u),
        Some(u) if verified && u.disabled => Err((
            StatusCode::FORBIDDEN,
            "This account is disabled. Ask an administrator to re-enable it.".into(),
        )),
        _ => {
            tracing::info!(%ip, "sign-in failed");
            Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                "The email or password is not correct.".into(),
            ))
        }
    })
}

/// With a passkey or two-factor enrolled, or required by the role, the password opens only the second
/// step: a session that can do nothing but that step. Returns the stage and where to go.
pub(crate) async fn second_step(
    state: &AppState,
    user: &User,
    next: String,
) -> Result<(&'static str, String), AppError> {
    let (role, uid) = (user.role.clone(), user.id.clone());
    let (requires, passkey) = state
        .db
        .run(move |conn| {
            Ok(super::passkey_store::second_factor_rules(
                conn, &uid, &role,
            )?)
        })
        .await?;
    Ok(if passkey.has {
        let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        (
            auth_store::STAGE_PASSKEY,
            format!("/login/passkey?next={next}"),
        )
    } else if passkey.required {
        (
            auth_store::STAGE_PASSKEY_ENROL,
            "/login/passkey/enrol".to_string(),
        )
    } else if user.totp_secret.is_some() {
        let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        (auth_store::STAGE_CODE, format!("/login/code?next={next}"))
    } else if requires {
        (auth_store::STAGE_ENROL, "/login/enrol".to_string())
    } else {
        (auth_store::STAGE_FULL, next)
    })
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let email = users::normalize_email(&form.email);
    let next = safe_next(form.next.as_deref());
    let user = match check_password(&req, &state, &email, form.password).await? {
        Ok(user) => user,
        Err((status, message)) => {
            return login_failed(&req, &state, status, (email, next), message).await;
        }
    };
    if super::sso::requires_sso(&state, &user.role).await? {
        let message = "Your role signs in with single sign-on: use the provider's button below.";
        return login_failed(
            &req,
            &state,
            StatusCode::FORBIDDEN,
            (email, next),
            message.into(),
        )
        .await;
    }
    let (stage, location) = second_step(&state, &user, next).await?;
    sign_in(&req, &state, &user.id, &user.email, stage).await?;
    tracing::info!(user = %user.id, stage, "password accepted");
    Ok(signed_in(&state, &location))
}

/// The redirect after a step of sign-in (the session middleware sets the new session's
/// cookie), the anonymous cookie (which bound the sign-in form's CSRF token) removed.
pub fn signed_in(state: &AppState, location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location.to_string()))
        .cookie(session::removal_cookie(csrf::ANON_COOKIE, state))
        .finish()
}

pub(crate) async fn login_failed(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    (email, next): (String, String),
    message: String,
) -> Result<HttpResponse, AppError> {
    page::render(
        status,
        &LoginPage {
            layout: Layout::build(req),
            providers: super::sso::buttons(req, state).await,
            email,
            next,
            error: Some(message),
        },
    )
}

/// Start a new session for `user_id` at `stage`: a new key (`renew`: sign-in never reuses
/// a cookie the browser already had; the browser's previous session is deleted) with
/// nothing of the old state. A full sign-in clears the account's failure count.
pub async fn sign_in(
    req: &HttpRequest,
    state: &AppState,
    user_id: &str,
    email: &str,
    stage: &'static str,
) -> Result<(), AppError> {
    let user_agent: String = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    let session = req.get_session();
    session.renew();
    session.clear();
    let entries = [
        (session_store::USER_ID, user_id.to_string()),
        (session_store::STAGE, stage.to_string()),
        (session_store::IP, client_ip(req)),
        (session_store::USER_AGENT, user_agent),
    ];
    for (key, value) in entries {
        session.insert(key, value).map_err(AppError::caused_by)?;
    }
    if stage == auth_store::STAGE_FULL {
        let email = email.to_string();
        state
            .db
            .run(move |conn| store::signed_in(conn, &email))
            .await?;
    }
    Ok(())
}

/// End this browser's session (its row is deleted by the session middleware).
pub async fn logout(req: HttpRequest) -> Result<HttpResponse, AppError> {
    Ok(signed_out(&req, "You have been signed out."))
}

/// To the sign-in page with a message: the session ends, and a new one (no operator)
/// carries the message.
pub fn signed_out(req: &HttpRequest, message: &str) -> HttpResponse {
    let session = req.get_session();
    session.renew();
    session.clear();
    page::done(req, "/login", "success", message)
}

#[derive(Deserialize)]
pub struct SetupQuery {
    #[serde(default)]
    token: String,
}

/// Whether setup may go on with this token: refused once an operator exists.
/// Whether the setup link may still be used: `Ok(false)` once an administrator exists
/// (the link was used, or another way made one); an error page for a link that is not the
/// current one (each start prints a new link).
async fn setup_allowed(state: &AppState, token: &str) -> Result<bool, AppError> {
    let hash = sha256_hex(token);
    let (users_exist, matches) = state
        .db
        .run(move |conn| {
            Ok((
                users::count(conn)? > 0,
                auth_store::setup_token_matches(conn, &hash)?,
            ))
        })
        .await?;
    if users_exist {
        return Ok(false);
    }
    if token.is_empty() || !matches {
        return Err(AppError::Forbidden(
            "This setup link is not valid or has expired: each start of Gatehouse prints a new one and the old one stops working. Use the /setup URL printed in the server log at the latest start, or create the administrator on the server with: gatehouse user create --email EMAIL --name NAME --admin --password-stdin"
                .into(),
        ));
    }
    Ok(true)
}

/// A setup link after setup: 404 as for any page that is gone, saying what to do instead.
fn setup_done(layout: Layout) -> Result<HttpResponse, AppError> {
    page::render(StatusCode::NOT_FOUND, &SetupDonePage { layout })
}

pub async fn setup_form(
    Page(layout): Page,
    state: web::Data<AppState>,
    query: web::Query<SetupQuery>,
) -> Result<HttpResponse, AppError> {
    if !setup_allowed(&state, &query.token).await? {
        return setup_done(layout);
    }
    page::ok(&SetupPage {
        layout,
        token: query.token.clone(),
        email: String::new(),
        display_name: String::new(),
        errors: SetupErrors::default(),
    })
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

fn validate_setup(form: &SetupForm) -> SetupErrors {
    let name = form.display_name.trim();
    SetupErrors {
        email: users::check_email(form.email.trim()).err(),
        display_name: users::check_display_name(name).err(),
        password: password::check_strength(&form.password, &[&form.email, &form.display_name])
            .err(),
        password_confirm: (form.password != form.password_confirm)
            .then(|| "The two passwords do not match.".to_string()),
        form: None,
    }
}

/// Create the first administrator of a valid setup form; `None` when setup was completed
/// meanwhile.
async fn create_admin(state: &AppState, form: &SetupForm) -> Result<Option<User>, AppError> {
    let hash = password::hash_async(form.password.clone()).await?;
    let (token_hash, email, name) = (
        sha256_hex(&form.token),
        form.email.clone(),
        form.display_name.clone(),
    );
    state
        .db
        .run(move |conn| {
            let new = NewUser {
                email: &email,
                display_name: &name,
                password_hash: &hash,
                role: "admin",
            };
            store::create_first_admin(conn, &token_hash, new)
        })
        .await
}

pub async fn setup(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    if !setup_allowed(&state, &form.token).await? {
        return setup_done(Layout::build(&req));
    }
    let mut errors = validate_setup(&form);
    if !errors.any() {
        if let Some(user) = create_admin(&state, &form).await? {
            tracing::info!(user = %user.id, "first administrator created");
            sign_in(&req, &state, &user.id, &user.email, auth_store::STAGE_FULL).await?;
            let welcome = "Welcome to Gatehouse. Your administrator account is ready.";
            flash::set(&req, "success", welcome);
            return Ok(signed_in(&state, "/"));
        }
        errors.form = Some("Setup has already been completed. Sign in instead.".into());
    }
    page::render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &SetupPage {
            layout: Layout::build(&req),
            token: form.token,
            email: form.email,
            display_name: form.display_name,
            errors,
        },
    )
}

/// At start: when no operator exists, make a new one-time setup token and log its URL.
/// Returns the token so the caller (the log, a test) can hand it to the operator.
pub fn announce_setup(state: &AppState) -> Result<Option<String>, AppError> {
    let mut conn = state.db.conn()?;
    if users::count(&mut conn)? > 0 {
        auth_store::clear_setup_token(&mut conn)?;
        return Ok(None);
    }
    let token = random_token();
    auth_store::replace_setup_token(&mut conn, &sha256_hex(&token), now())?;
    let base = state.config.public_url.as_str().trim_end_matches('/');
    tracing::warn!(
        "no operator exists yet: open {base}/setup?token={token} to create the first administrator"
    );
    Ok(Some(token))
}
