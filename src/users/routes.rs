//! `/users`, for administrators: list, create, edit, disable and re-enable, sign out
//! everywhere, one-time password-reset links, delete. Every change is audited.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::audit::Actor;
use crate::db::secrets::{random_token, sha256_hex};
use crate::error::AppError;
use crate::identity::permissions::Admin;
use crate::identity::session::SessionCache;
use crate::identity::sessions::{self, SessionInfo};
use crate::identity::users::{self, NewUser, User};
use crate::identity::{password, roles};
use crate::state::{AppState, app_data};
use crate::users::form::UserForm;
use crate::users::rules_store;
use crate::users::store::{self, Apply, Invite};
use crate::users::views::{DeletePage, FormPage, IndexPage};
use crate::web::page::{self, Layout, Page};

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
}

pub async fn index(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let ListQuery { q, status } = query.into_inner();
    let (filter, by_status) = (q.clone(), status.clone());
    let users = state
        .db
        .run(move |conn| Ok(users::list(conn, &filter, &by_status)?))
        .await?;
    page::ok(&IndexPage {
        layout,
        users,
        q,
        status,
    })
}

async fn role_names(state: &AppState) -> Result<Vec<String>, AppError> {
    state.db.run(|conn| Ok(roles::role_names(conn)?)).await
}

pub async fn new(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let roles = role_names(&state).await?;
    page::ok(&FormPage::blank(layout, roles))
}

/// Create the operator of a valid form; `None` when the email is taken. An invited operator
/// gets a password nobody knows, and a link to set their own.
async fn insert(
    state: &AppState,
    admin: &Admin,
    form: &UserForm,
) -> Result<Option<User>, AppError> {
    let invite = form.invite.is_some().then(|| Invite {
        token: random_token(),
        inviter: admin.0.user.display_name.clone(),
        base: state
            .config
            .public_url
            .as_str()
            .trim_end_matches('/')
            .into(),
    });
    let initial = match &invite {
        Some(_) => random_token(),
        None => form.password.clone(),
    };
    let hash = password::hash_async(initial).await?;
    let (profile, actor) = (form.profile(), Actor::from(&admin.0.user));
    state
        .db
        .run(move |conn| {
            let new = NewUser {
                email: &profile.email,
                display_name: &profile.display_name,
                password_hash: &hash,
                role: &profile.role,
            };
            store::create(conn, new, invite.as_ref(), &actor)
        })
        .await
}

pub async fn create(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    form: web::Form<UserForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let roles = role_names(&state).await?;
    let mut errors = form.errors(&roles, true);
    if !errors.any() {
        match insert(&state, &admin, &form).await? {
            Some(user) => {
                let message = if form.invite.is_some() {
                    format!("An invitation is on its way to {}.", user.email)
                } else {
                    format!(
                        "{} can now sign in with the temporary password.",
                        user.email
                    )
                };
                return Ok(page::done(
                    &req,
                    &format!("/users/{}", user.id),
                    "success",
                    &message,
                ));
            }
            None => errors.email = Some("An operator with this email already exists.".into()),
        }
    }
    let page = FormPage::blank(Layout::build(&req), roles);
    page::render(StatusCode::UNPROCESSABLE_ENTITY, &form.again(page, errors))
}

async fn load(state: &AppState, id: &str) -> Result<(User, Vec<SessionInfo>), AppError> {
    let id = id.to_string();
    state
        .db
        .run(move |conn| {
            let user = users::find(conn, &id)?.ok_or(AppError::NotFound)?;
            let sessions = sessions::sessions_of(conn, &user.id)?;
            Ok((user, sessions))
        })
        .await
}

/// The form of operator `id` as the administrator sees it, with their attributes.
pub(crate) async fn form_of(
    layout: Layout,
    state: &AppState,
    admin: &Admin,
    id: &str,
) -> Result<FormPage, AppError> {
    let (user, sessions) = load(state, id).await?;
    let roles = role_names(state).await?;
    let uid = user.id.clone();
    let role = user.role.clone();
    let (attributes, sso_only) = state
        .db
        .run(move |conn| {
            let sso_only = roles::requires_sso(conn, &role)?;
            Ok((rules_store::attribute_rows(conn, &uid)?, sso_only))
        })
        .await?;
    let mut page = FormPage::of(layout, user, sessions, roles, &admin.0.user.id);
    page.attributes = attributes;
    page.sso_only = sso_only;
    Ok(page)
}

pub async fn show(
    admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    page::ok(&form_of(layout, &state, &admin, &id).await?)
}

pub async fn update(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<UserForm>,
    session_cache: web::Data<SessionCache>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let roles = role_names(&state).await?;
    let (user, sessions) = load(&state, &id).await?;
    let mut errors = form.errors(&roles, false);
    if !errors.any() {
        let (u, profile, actor) = (user.clone(), form.profile(), Actor::from(&admin.0.user));
        let outcome = state
            .db
            .run(move |conn| store::update(conn, &u, &profile, &actor))
            .await?;
        match outcome {
            Ok(()) => {
                session_cache.forget_user(&user.id);
                let back = format!("/users/{}", user.id);
                return Ok(page::done(&req, &back, "success", "Operator saved."));
            }
            Err(message) => errors.form = Some(message.into()),
        }
    }
    let page = FormPage::of(Layout::build(&req), user, sessions, roles, &admin.0.user.id);
    page::render(StatusCode::UNPROCESSABLE_ENTITY, &form.again(page, errors))
}

/// One of the status changes of an operator's page.
struct StatusChange {
    action: &'static str,
    apply: Apply,
    done: &'static str,
}

const DISABLE: StatusChange = StatusChange {
    action: "user.disabled",
    apply: store::disable,
    done: "Operator disabled; their sessions have ended.",
};

const ENABLE: StatusChange = StatusChange {
    action: "user.enabled",
    apply: store::enable,
    done: "Operator enabled.",
};

const SIGN_OUT: StatusChange = StatusChange {
    action: "user.signed_out",
    apply: store::sign_out,
    done: "Every session of this operator has ended.",
};

const RESET_2FA: StatusChange = StatusChange {
    action: "user.2fa_reset",
    apply: store::reset_2fa,
    done: "Two-factor sign-in was reset and the operator's passkeys removed; they enrol again at the next sign-in if their role requires it.",
};

/// Run a status change in one transaction with its audit entry; `apply` may refuse.
async fn change(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    change: &'static StatusChange,
) -> Result<HttpResponse, AppError> {
    let session_cache = app_data::<SessionCache>(&req)?;
    let (id, me, actor) = (
        id.into_inner(),
        admin.0.user.id.clone(),
        Actor::from(&admin.0.user),
    );
    let user = id.clone();
    let outcome = state
        .db
        .run(move |conn| {
            store::change_status(conn, &user, &me, change.action, change.apply, &actor)
        })
        .await?;
    let back = format!("/users/{id}");
    Ok(match outcome {
        Ok(user_id) => {
            session_cache.forget_user(&user_id);
            page::done(&req, &back, "success", change.done)
        }
        Err(message) => page::done(&req, &back, "error", message),
    })
}

pub async fn disable(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    change(req, admin, state, id, &DISABLE).await
}

pub async fn enable(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    change(req, admin, state, id, &ENABLE).await
}

pub async fn sign_out(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    change(req, admin, state, id, &SIGN_OUT).await
}

pub async fn reset_2fa(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    change(req, admin, state, id, &RESET_2FA).await
}

pub async fn end_session(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    session_cache: web::Data<SessionCache>,
) -> Result<HttpResponse, AppError> {
    let (uid, sid) = path.into_inner();
    let (user, actor) = (uid.clone(), Actor::from(&admin.0.user));
    let ended = state
        .db
        .run(move |conn| store::end_session(conn, &user, &sid, &actor))
        .await?;
    if ended == 0 {
        return Err(AppError::NotFound);
    }
    session_cache.forget_user(&uid);
    Ok(page::done(
        &req,
        &format!("/users/{uid}"),
        "success",
        "Session ended.",
    ))
}

pub async fn reset_link(
    admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let token = random_token();
    let (hash, uid, actor) = (
        sha256_hex(&token),
        id.into_inner(),
        Actor::from(&admin.0.user),
    );
    let id = uid.clone();
    let outcome = state
        .db
        .run(move |conn| store::create_reset_link(conn, &uid, &hash, &actor))
        .await?;
    let mut page = form_of(layout, &state, &admin, &id).await?;
    match outcome {
        Ok(_) => {
            let base = state.config.public_url.as_str().trim_end_matches('/');
            page.reset_link = Some(format!("{base}/reset?token={token}"));
            page::ok(&page)
        }
        Err(refusal) => {
            page.errors.form = Some(refusal.into());
            page::render(StatusCode::CONFLICT, &page)
        }
    }
}

pub async fn delete_confirm(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (user, _) = load(&state, &id).await?;
    page::ok(&DeletePage { layout, user })
}

pub async fn delete(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    session_cache: web::Data<SessionCache>,
) -> Result<HttpResponse, AppError> {
    let (uid, me, actor) = (
        id.into_inner(),
        admin.0.user.id.clone(),
        Actor::from(&admin.0.user),
    );
    let user = uid.clone();
    let outcome = state
        .db
        .run(move |conn| store::delete(conn, &user, &me, &actor))
        .await?;
    Ok(match outcome {
        Ok(user_id) => {
            session_cache.forget_user(&user_id);
            // Their views went with them (and off every navigation and panel).
            crate::web::nav::views_changed(&req);
            page::done(&req, "/users", "success", "Operator deleted.")
        }
        Err(message) => page::done(&req, &format!("/users/{uid}"), "error", message),
    })
}
