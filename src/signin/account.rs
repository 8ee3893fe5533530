//! `/account`: change your own password (other sessions end), see your sessions and end
//! them; and `/reset`, where a one-time link from an administrator sets a new password.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::audit::{self, Actor};
use crate::db::secrets::sha256_hex;
use crate::db::{self, now};
use crate::error::AppError;
use crate::identity::session::SESSION_COOKIE;
use crate::identity::session::SessionCache;
use crate::identity::sessions::{self as auth_store, SessionInfo};
use crate::identity::users;
use crate::identity::{CurrentUser, password};
use crate::state::AppState;
use crate::web::flash;
use crate::web::page::{self, Layout, Page};

#[derive(Template)]
#[template(path = "auth/account.html")]
struct AccountPage {
    layout: Layout,
    user: CurrentUser,
    sessions: Vec<SessionInfo>,
    error: Option<String>,
}

async fn render_account(
    req: &HttpRequest,
    user: CurrentUser,
    state: &AppState,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let uid = user.id.clone();
    let sessions = state
        .db
        .run(move |conn| Ok(auth_store::sessions_of(conn, &uid)?))
        .await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page::render(
        status,
        &AccountPage {
            layout: Layout::build(req),
            user,
            sessions,
            error,
        },
    )
}

pub async fn show(
    req: HttpRequest,
    user: CurrentUser,
    _page: Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    render_account(&req, user, &state, None).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

pub async fn change_password(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    form: web::Form<PasswordForm>,
    sessions: web::Data<SessionCache>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let uid = user.id.clone();
    let stored = state
        .db
        .run(move |conn| Ok(users::find(conn, &uid)?.map(|u| u.password_hash)))
        .await?;
    if !password::verify_async(form.current.clone(), stored).await? {
        return render_account(
            &req,
            user,
            &state,
            Some("The current password is not correct.".into()),
        )
        .await;
    }
    if form.new != form.confirm {
        return render_account(
            &req,
            user,
            &state,
            Some("The two new passwords do not match.".into()),
        )
        .await;
    }
    if let Err(m) = password::check_strength(&form.new, &[&user.email, &user.display_name]) {
        return render_account(&req, user, &state, Some(m)).await;
    }
    let hash = password::hash_async(form.new).await?;
    let (uid, keep) = (user.id.clone(), user.session_id.clone());
    let actor = Actor {
        user_id: Some(user.id.clone()),
        email: user.email.clone(),
    };
    let ended = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                users::set_password(conn, &uid, &hash, now())?;
                let ended = auth_store::delete_other_sessions(conn, &uid, &keep)?;
                audit::record(
                    conn,
                    &actor,
                    "user.password_changed",
                    "gh_users",
                    &uid,
                    &serde_json::json!({ "sessions_ended": ended }),
                )?;
                Ok::<_, AppError>(ended)
            })
        })
        .await?;
    sessions.forget_user(&user.id);
    let message = format!("Password changed. {ended} other session(s) ended.");
    Ok(page::see_other(&req, "/account")
        .cookie(flash::cookie(
            "success",
            &message,
            state.config.secure_cookies(),
        ))
        .finish())
}

pub async fn end_session(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    sessions: web::Data<SessionCache>,
) -> Result<HttpResponse, AppError> {
    let (uid, sid) = (user.id.clone(), id.into_inner());
    let ended = state
        .db
        .run(move |conn| Ok(auth_store::delete_session_of(conn, &uid, &sid)?))
        .await?;
    if ended == 0 {
        return Err(AppError::NotFound);
    }
    sessions.forget_user(&user.id);
    Ok(page::see_other(&req, "/account")
        .cookie(flash::cookie(
            "success",
            "Session ended.",
            state.config.secure_cookies(),
        ))
        .finish())
}

pub async fn end_others(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    sessions: web::Data<SessionCache>,
) -> Result<HttpResponse, AppError> {
    let (uid, keep) = (user.id.clone(), user.session_id.clone());
    let ended = state
        .db
        .run(move |conn| Ok(auth_store::delete_other_sessions(conn, &uid, &keep)?))
        .await?;
    sessions.forget_user(&user.id);
    Ok(page::see_other(&req, "/account")
        .cookie(flash::cookie(
            "success",
            &format!("{ended} other session(s) ended."),
            state.config.secure_cookies(),
        ))
        .finish())
}

#[derive(Template)]
#[template(path = "auth/reset.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct ResetQuery {
    #[serde(default)]
    token: String,
}

pub async fn reset_form(
    Page(layout): Page,
    state: web::Data<AppState>,
    q: web::Query<ResetQuery>,
) -> Result<HttpResponse, AppError> {
    let hash = sha256_hex(&q.token);
    let valid = state
        .db
        .run(move |conn| Ok(users::reset_user(conn, &hash, now())?.is_some()))
        .await?;
    if !valid {
        return Err(AppError::Forbidden("This reset link is not valid: it was used already, has expired, or was replaced by a newer one. Ask an administrator for a new link.".into()));
    }
    page::ok(&ResetPage {
        layout,
        token: q.token.clone(),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

pub async fn reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ResetForm>,
    sessions: web::Data<SessionCache>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let hash = sha256_hex(&form.token);
    let h = hash.clone();
    let user = state
        .db
        .run(move |conn| {
            let Some(uid) = users::reset_user(conn, &h, now())? else {
                return Ok(None);
            };
            Ok(users::find(conn, &uid)?)
        })
        .await?
        .ok_or_else(|| {
            AppError::Forbidden(
                "This reset link is not valid any more. Ask an administrator for a new link."
                    .into(),
            )
        })?;
    let problem = if form.new != form.confirm {
        Some("The two passwords do not match.".to_string())
    } else {
        password::check_strength(&form.new, &[&user.email, &user.display_name]).err()
    };
    if let Some(error) = problem {
        return page::render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ResetPage {
                layout: Layout::build(&req),
                token: form.token,
                error: Some(error),
            },
        );
    }
    let new_hash = password::hash_async(form.new).await?;
    let actor = Actor {
        user_id: Some(user.id.clone()),
        email: user.email.clone(),
    };
    let uid = user.id.clone();
    let done = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                // Taking the token in the transaction that uses it: a link works exactly once.
                if !users::consume_reset(conn, &hash, now())? {
                    return Ok(false);
                }
                users::set_password(conn, &uid, &new_hash, now())?;
                auth_store::delete_user_sessions(conn, &uid)?;
                audit::record(
                    conn,
                    &actor,
                    "user.password_reset",
                    "gh_users",
                    &uid,
                    &serde_json::json!({}),
                )?;
                Ok::<_, AppError>(true)
            })
        })
        .await?;
    if !done {
        return Err(AppError::Forbidden(
            "This reset link was used already.".into(),
        ));
    }
    sessions.forget_user(&user.id);
    Ok(page::see_other(&req, "/login")
        .cookie(crate::identity::session::removal_cookie(
            SESSION_COOKIE,
            &state,
        ))
        .cookie(flash::cookie(
            "success",
            "Your password is set. Sign in with it now.",
            state.config.secure_cookies(),
        ))
        .finish())
}

#[derive(Template)]
#[template(path = "auth/forgot.html")]
struct ForgotPage {
    layout: Layout,
    sent: bool,
}

pub async fn forgot_form(Page(layout): Page) -> Result<HttpResponse, AppError> {
    page::ok(&ForgotPage {
        layout,
        sent: false,
    })
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

/// Mail a reset link when the address belongs to an active operator. The page says the
/// same either way, so it does not tell which addresses have accounts; requests count
/// against the sign-in throttle.
pub async fn forgot(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ForgotForm>,
) -> Result<HttpResponse, AppError> {
    let email = users::normalize_email(&form.email);
    let ip = crate::web::client_ip(&req);
    let base = state
        .config
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_string();
    let token = crate::db::secrets::random_token();
    let hash = sha256_hex(&token);
    let e = email.clone();
    let locked = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                if crate::identity::throttle::check_and_record(conn, &format!("reset:{e}"), &ip, now())?.is_some() {
                    return Ok(true);
                }
                if let Some(user) = users::find_by_email(conn, &e)?.filter(|u| !u.disabled) {
                    users::create_reset(conn, &hash, &user.id, now())?;
                    let body = format!(
                        "Someone asked to reset the Gatehouse password of {e}.\n\nSet a new password here (the link works once, within 24 hours):\n{base}/reset?token={token}\n\nIf it was not you, ignore this email."
                    );
                    crate::events::mail::enqueue(conn, &user.email, "Reset your Gatehouse password", &body)?;
                }
                Ok::<_, AppError>(false)
            })
        })
        .await?;
    if locked {
        return Err(AppError::TooManyRequests(
            "Too many reset requests. Try again later.".into(),
        ));
    }
    page::ok(&ForgotPage {
        layout: Layout::build(&req),
        sent: true,
    })
}
