//! Sign-in, sign-out and the first-run setup page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::db::secrets::{random_token, sha256_hex};
use crate::db::{self, now};
use crate::error::AppError;
use crate::identity::session::SessionCache;
use crate::identity::session::{self, MaybeUser, SESSION_COOKIE};
use crate::identity::sessions::{self as auth_store, NewSession};
use crate::identity::users::{self as users, CreateUserError, NewUser};
use crate::identity::{password, throttle};
use crate::signin::views::{LoginPage, SetupErrors, SetupPage};
use crate::state::{AppState, app_data};
use crate::web::page::{self, Page};
use crate::web::{client_ip, csrf, flash, safe_next};

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_form(
    Page(layout): Page,
    user: MaybeUser,
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

enum Attempt {
    Locked(throttle::Locked),
    Checked { user: Option<users::User> },
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let email = users::normalize_email(&form.email);
    let ip = client_ip(&req);
    let next = safe_next(form.next.as_deref());

    let (e, i) = (email.clone(), ip.clone());
    let attempt = state
        .db
        .run(move |conn| {
            // The attempt is counted as a failure before the password is checked (and the
            // count cleared if it succeeds), in the transaction that checks the count: a
            // burst of parallel guesses cannot all slip past the limit.
            db::write_tx(conn, |conn| {
                if let Some(locked) = throttle::check_and_record(conn, &e, &i, now())? {
                    return Ok(Attempt::Locked(locked));
                }
                Ok::<_, AppError>(Attempt::Checked {
                    user: users::find_by_email(conn, &e)?,
                })
            })
        })
        .await?;
    let user = match attempt {
        Attempt::Locked(locked) => {
            return login_failed(
                &req,
                StatusCode::TOO_MANY_REQUESTS,
                email,
                next,
                locked.message(),
            );
        }
        Attempt::Checked { user } => user,
    };

    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = password::verify_async(form.password, stored).await?;

    let user = match user {
        Some(u) if verified && !u.disabled => u,
        Some(u) if verified && u.disabled => {
            return login_failed(
                &req,
                StatusCode::FORBIDDEN,
                email,
                next,
                "This account is disabled. Ask an administrator to re-enable it.".into(),
            );
        }
        _ => {
            tracing::info!(%ip, "sign-in failed");
            return login_failed(
                &req,
                StatusCode::UNPROCESSABLE_ENTITY,
                email,
                next,
                "The email or password is not correct.".into(),
            );
        }
    };

    // With two-factor enrolled, or required by the role, the password opens only the
    // second step: a session that can do nothing but that step.
    let role = user.role.clone();
    let requires = state
        .db
        .run(move |conn| Ok(users::find_role(conn, &role)?.is_some_and(|r| r.require_2fa)))
        .await?;
    let (stage, location) = if user.totp_secret.is_some() {
        (
            auth_store::STAGE_CODE,
            format!(
                "/login/code?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            ),
        )
    } else if requires {
        (auth_store::STAGE_ENROL, "/login/enrol".to_string())
    } else {
        (auth_store::STAGE_FULL, next)
    };
    let token = sign_in(&req, &state, &user.id, &user.email, stage).await?;
    tracing::info!(user = %user.id, stage, "password accepted");
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .cookie(session::session_cookie(token, &state))
        .cookie(session::removal_cookie(csrf::ANON_COOKIE, &state))
        .finish())
}

fn login_failed(
    req: &HttpRequest,
    status: StatusCode,
    email: String,
    next: String,
    message: String,
) -> Result<HttpResponse, AppError> {
    let layout = crate::web::page::Layout::build(req);
    page::render(
        status,
        &LoginPage {
            layout,
            email,
            next,
            error: Some(message),
        },
    )
}

/// Start a new session (a new id: sign-in never reuses a cookie the browser already had)
/// and return the cookie value.
pub async fn sign_in(
    req: &HttpRequest,
    state: &AppState,
    user_id: &str,
    email: &str,
    stage: &'static str,
) -> Result<String, AppError> {
    let sessions = app_data::<SessionCache>(req)?;
    let token = random_token();
    let id = state.keys.session_id(&token);
    let ip = client_ip(req);
    let user_agent: String = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    let (user_id, email, policy) = (user_id.to_string(), email.to_string(), state.policy());
    // The browser's previous session, if it had one, ends here: never two at once.
    let previous = req
        .cookie(SESSION_COOKIE)
        .map(|c| state.keys.session_id(c.value()));
    if let Some(p) = &previous {
        sessions.forget(p);
    }
    state
        .db
        .run(move |conn| {
            let now = now();
            db::write_tx(conn, |conn| {
                if let Some(p) = &previous {
                    auth_store::delete_session(conn, p)?;
                }
                auth_store::create_session(
                    conn,
                    NewSession {
                        id: &id,
                        user_id: &user_id,
                        ip: &ip,
                        user_agent: &user_agent,
                        stage,
                    },
                    now,
                )?;
                if stage == auth_store::STAGE_FULL {
                    throttle::reset_account(conn, &email, now)?;
                }
                auth_store::purge_expired(conn, policy, now)?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
    Ok(token)
}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    sessions: web::Data<SessionCache>,
) -> Result<HttpResponse, AppError> {
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        let id = state.keys.session_id(cookie.value());
        sessions.forget(&id);
        state
            .db
            .run(move |conn| Ok(auth_store::delete_session(conn, &id)?))
            .await?;
    }
    Ok(page::see_other(&req, "/login")
        .cookie(session::removal_cookie(SESSION_COOKIE, &state))
        .cookie(flash::cookie(
            "success",
            "You have been signed out.",
            state.config.secure_cookies(),
        ))
        .finish())
}

#[derive(Deserialize)]
pub struct SetupQuery {
    #[serde(default)]
    token: String,
}

/// Whether setup may go on with this token: refused once an operator exists.
async fn setup_allowed(state: &AppState, token: &str) -> Result<(), AppError> {
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
        return Err(AppError::NotFound);
    }
    if token.is_empty() || !matches {
        return Err(AppError::Forbidden(
            "This setup link is not valid. Use the /setup URL printed in the server log at the latest start."
                .into(),
        ));
    }
    Ok(())
}

pub async fn setup_form(
    Page(layout): Page,
    state: web::Data<AppState>,
    query: web::Query<SetupQuery>,
) -> Result<HttpResponse, AppError> {
    setup_allowed(&state, &query.token).await?;
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
        display_name: if name.is_empty() {
            Some("Enter the name other operators will see.".into())
        } else if name.chars().count() > 100 {
            Some("Use at most 100 characters.".into())
        } else {
            None
        },
        password: password::check_strength(&form.password, &[&form.email, &form.display_name])
            .err(),
        password_confirm: (form.password != form.password_confirm)
            .then(|| "The two passwords do not match.".to_string()),
        form: None,
    }
}

pub async fn setup(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    setup_allowed(&state, &form.token).await?;
    let mut errors = validate_setup(&form);
    if !errors.any() {
        let hash = password::hash_async(form.password.clone()).await?;
        let (token_hash, email, name) = (
            sha256_hex(&form.token),
            form.email.clone(),
            form.display_name.clone(),
        );
        let created = state
            .db
            .run(move |conn| {
                db::write_tx(conn, |conn| {
                    // Taking the token and checking for operators in one transaction: of two
                    // racing submissions exactly one creates the administrator.
                    if !auth_store::consume_setup_token(conn, &token_hash)?
                        || users::count(conn)? > 0
                    {
                        return Ok(None);
                    }
                    let new = NewUser {
                        email: &email,
                        display_name: &name,
                        password_hash: &hash,
                        role: "admin",
                    };
                    match users::insert(conn, new, now()) {
                        Ok(user) => Ok(Some(user)),
                        Err(CreateUserError::EmailTaken) => Ok(None),
                        Err(CreateUserError::Db(e)) => Err(AppError::from(e)),
                    }
                })
            })
            .await?;
        if let Some(user) = created {
            tracing::info!(user = %user.id, "first administrator created");
            let token =
                sign_in(&req, &state, &user.id, &user.email, auth_store::STAGE_FULL).await?;
            return Ok(HttpResponse::SeeOther()
                .insert_header(("Location", "/"))
                .cookie(session::session_cookie(token, &state))
                .cookie(session::removal_cookie(csrf::ANON_COOKIE, &state))
                .cookie(flash::cookie(
                    "success",
                    "Welcome to Gatehouse. Your administrator account is ready.",
                    state.config.secure_cookies(),
                ))
                .finish());
        }
        errors.form = Some("Setup has already been completed. Sign in instead.".into());
    }
    let layout = crate::web::page::Layout::build(&req);
    page::render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &SetupPage {
            layout,
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
