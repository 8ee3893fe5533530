//! `/account`: change your own password (other sessions end), see your sessions and end
//! them; and `/reset`, where a one-time link from an administrator sets a new password.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::audit::Actor;
use crate::db::secrets::{random_token, sha256_hex};
use crate::error::AppError;
use crate::identity::session::SessionCache;
use crate::identity::sessions;
use crate::identity::users::{self, User};
use crate::identity::{CurrentUser, password};
use crate::signin::routes::signed_out;
use crate::signin::store;
use crate::signin::views::{AccountPage, ForgotPage, ResetPage};
use crate::state::AppState;
use crate::web::client_ip;
use crate::web::page::{self, Layout, Page};

async fn render_account(
    req: &HttpRequest,
    user: CurrentUser,
    state: &AppState,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let (uid, role) = (user.id.clone(), user.role.clone());
    let (sessions, identities, sso_only) = state
        .db
        .run(move |conn| {
            let identities = super::sso::store::identities_of(conn, &uid)?;
            let sso_only = super::sso::providers::options_of(conn, &role)?.0;
            Ok((sessions::sessions_of(conn, &uid)?, identities, sso_only))
        })
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
            identities,
            error,
            sso_only,
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

/// Why a password cannot be set or changed by an operator whose role signs in through
/// single sign-on only.
pub const SSO_ONLY: &str = "Your role signs in through single sign-on only, so Gatehouse keeps no password for you: change your password at your identity provider.";

/// Why the new password is refused: the role signs in through SSO only, the current one is
/// wrong, the two new ones differ, or it is too weak.
async fn password_problem(
    state: &AppState,
    user: &CurrentUser,
    form: &PasswordForm,
) -> Result<Option<String>, AppError> {
    if super::sso::requires_sso(state, &user.role).await? {
        return Ok(Some(SSO_ONLY.into()));
    }
    let uid = user.id.clone();
    let stored = state
        .db
        .run(move |conn| Ok(users::find(conn, &uid)?.map(|u| u.password_hash)))
        .await?;
    Ok(
        if !password::verify_async(form.current.clone(), stored).await? {
            Some("The current password is not correct.".into())
        } else if form.new != form.confirm {
            Some("The two new passwords do not match.".into())
        } else {
            password::check_strength(&form.new, &[&user.email, &user.display_name]).err()
        },
    )
}

pub async fn change_password(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    form: web::Form<PasswordForm>,
    sessions: web::Data<SessionCache>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    if let Some(problem) = password_problem(&state, &user, &form).await? {
        return render_account(&req, user, &state, Some(problem)).await;
    }
    let hash = password::hash_async(form.new).await?;
    let (uid, keep, actor) = (user.id.clone(), user.session_id.clone(), Actor::from(&user));
    let ended = state
        .db
        .run(move |conn| store::change_password(conn, &uid, &hash, &keep, &actor))
        .await?;
    sessions.forget_user(&user.id);
    let message = format!("Password changed. {ended} other session(s) ended.");
    Ok(page::done(&req, "/account", "success", &message))
}

pub async fn end_session(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    cache: web::Data<SessionCache>,
) -> Result<HttpResponse, AppError> {
    let (uid, sid) = (user.id.clone(), id.into_inner());
    let ended = state
        .db
        .run(move |conn| Ok(sessions::delete_session_of(conn, &uid, &sid)?))
        .await?;
    if ended == 0 {
        return Err(AppError::NotFound);
    }
    cache.forget_user(&user.id);
    Ok(page::done(&req, "/account", "success", "Session ended."))
}

pub async fn end_others(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    cache: web::Data<SessionCache>,
) -> Result<HttpResponse, AppError> {
    let (uid, keep) = (user.id.clone(), user.session_id.clone());
    let ended = state
        .db
        .run(move |conn| Ok(sessions::delete_other_sessions(conn, &uid, &keep)?))
        .await?;
    cache.forget_user(&user.id);
    let message = format!("{ended} other session(s) ended.");
    Ok(page::done(&req, "/account", "success", &message))
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
        .run(move |conn| Ok(store::reset_owner(conn, &hash)?.is_some()))
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

/// The operator a live reset link belongs to.
async fn reset_owner(state: &AppState, token_hash: &str) -> Result<User, AppError> {
    let hash = token_hash.to_string();
    state
        .db
        .run(move |conn| store::reset_owner(conn, &hash))
        .await?
        .ok_or_else(|| {
            AppError::Forbidden(
                "This reset link is not valid any more. Ask an administrator for a new link."
                    .into(),
            )
        })
}

/// Why the new password of a reset is refused: the two differ, or it is too weak.
fn new_password_problem(form: &ResetForm, user: &User) -> Option<String> {
    if form.new != form.confirm {
        Some("The two passwords do not match.".to_string())
    } else {
        password::check_strength(&form.new, &[&user.email, &user.display_name]).err()
    }
}

pub async fn reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ResetForm>,
    sessions: web::Data<SessionCache>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let hash = sha256_hex(&form.token);
    let user = reset_owner(&state, &hash).await?;
    if let Some(error) = new_password_problem(&form, &user) {
        let (layout, token, error) = (Layout::build(&req), form.token, Some(error));
        let page = ResetPage {
            layout,
            token,
            error,
        };
        return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let new_hash = password::hash_async(form.new).await?;
    let (uid, actor) = (user.id.clone(), Actor::from(&user));
    let done = state
        .db
        .run(move |conn| store::reset_password(conn, &hash, &uid, &new_hash, &actor))
        .await?;
    if !done {
        return Err(AppError::Forbidden(
            "This reset link was used already.".into(),
        ));
    }
    sessions.forget_user(&user.id);
    Ok(signed_out(
        &req,
        "Your password is set. Sign in with it now.",
    ))
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
    let (email, ip) = (users::normalize_email(&form.email), client_ip(&req));
    let base = state
        .config
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_string();
    let token = random_token();
    let locked = state
        .db
        .run(move |conn| store::request_reset(conn, &email, &ip, &base, &token))
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
