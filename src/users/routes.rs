//! `/users`, for administrators: list, create, edit, disable and re-enable, sign out
//! everywhere, one-time password-reset links, delete. Every change is audited.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::audit::{self, Actor};
use crate::db::secrets::{random_token, sha256_hex};
use crate::db::{self, now};
use crate::error::AppError;
use crate::identity::permissions::Admin;
use crate::identity::session::SessionCache;
use crate::identity::users::{self, CreateUserError, NewUser, User};
use crate::identity::{password, sessions as auth_store};
use crate::state::{AppState, app_data};
use crate::web::flash;
use crate::web::page::{self, Layout, Page};

fn actor(admin: &Admin) -> Actor {
    Actor {
        user_id: Some(admin.0.user.id.clone()),
        email: admin.0.user.email.clone(),
    }
}

fn audit_user(
    conn: &mut db::DbConn,
    actor: &Actor,
    action: &str,
    user: &User,
    details: serde_json::Value,
) -> Result<(), AppError> {
    let mut changes = serde_json::json!({ "email": user.email });
    if let (Some(obj), serde_json::Value::Object(extra)) = (changes.as_object_mut(), details) {
        obj.extend(extra);
    }
    audit::record(conn, actor, action, "gh_users", &user.id, &changes)?;
    crate::events::outbox::record_user_event(conn, action, &user.id, &changes, actor)?;
    Ok(())
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
}

#[derive(Template)]
#[template(path = "users/index.html")]
struct IndexPage {
    layout: Layout,
    users: Vec<User>,
    q: String,
    status: String,
}

pub async fn index(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let (q, status) = (query.q.clone(), query.status.clone());
    let users = state
        .db
        .run(move |conn| Ok(users::list(conn, &q, &status)?))
        .await?;
    page::ok(&IndexPage {
        layout,
        users,
        q: query.q,
        status: query.status,
    })
}

#[derive(Default)]
pub struct UserErrors {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub role: Option<String>,
    pub password: Option<String>,
    pub form: Option<String>,
}

impl UserErrors {
    fn any(&self) -> bool {
        self.email.is_some()
            || self.display_name.is_some()
            || self.role.is_some()
            || self.password.is_some()
            || self.form.is_some()
    }
}

#[derive(Template)]
#[template(path = "users/form.html")]
struct FormPage {
    layout: Layout,
    user: Option<User>,
    email: String,
    display_name: String,
    role: String,
    roles: Vec<String>,
    errors: UserErrors,
    sessions: Vec<auth_store::SessionInfo>,
    reset_link: Option<String>,
    is_self: bool,
}

#[derive(Deserialize, Default)]
pub struct UserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    /// Send an invitation by email instead of setting a temporary password.
    invite: Option<String>,
}

async fn role_names(state: &AppState) -> Result<Vec<String>, AppError> {
    state
        .db
        .run(|conn| Ok(users::roles(conn)?.into_iter().map(|r| r.name).collect()))
        .await
}

fn validate(form: &UserForm, roles: &[String], creating: bool) -> UserErrors {
    let name = form.display_name.trim();
    UserErrors {
        email: users::check_email(form.email.trim()).err(),
        display_name: if name.is_empty() {
            Some("Enter the name other operators will see.".into())
        } else if name.chars().count() > 100 {
            Some("Use at most 100 characters.".into())
        } else {
            None
        },
        role: (!roles.contains(&form.role)).then(|| "Choose one of the roles.".to_string()),
        password: if creating && form.invite.is_none() {
            password::check_strength(&form.password, &[&form.email, name]).err()
        } else {
            None
        },
        form: None,
    }
}

pub async fn new(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let roles = role_names(&state).await?;
    page::ok(&FormPage {
        layout,
        user: None,
        email: String::new(),
        display_name: String::new(),
        role: "viewer".into(),
        roles,
        errors: UserErrors::default(),
        sessions: Vec::new(),
        reset_link: None,
        is_self: false,
    })
}

pub async fn create(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    form: web::Form<UserForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let roles = role_names(&state).await?;
    let mut errors = validate(&form, &roles, true);
    if !errors.any() {
        // An invited operator gets a password nobody knows, and a link to set their own.
        let inviting = form.invite.is_some();
        let initial = if inviting {
            random_token()
        } else {
            form.password.clone()
        };
        let hash = password::hash_async(initial).await?;
        let (email, name, role, actor) = (
            form.email.clone(),
            form.display_name.clone(),
            form.role.clone(),
            actor(&admin),
        );
        let invite_token = random_token();
        let invite_hash = sha256_hex(&invite_token);
        let base = state
            .config
            .public_url
            .as_str()
            .trim_end_matches('/')
            .to_string();
        let inviter = admin.0.user.display_name.clone();
        let created = state
            .db
            .run(move |conn| {
                db::write_tx(conn, |conn| {
                    let new = NewUser { email: &email, display_name: &name, password_hash: &hash, role: &role };
                    match users::insert(conn, new, now()) {
                        Ok(user) => {
                            audit_user(conn, &actor, "user.created", &user, serde_json::json!({ "role": user.role, "display_name": user.display_name, "invited": inviting }))?;
                            if inviting {
                                users::create_reset(conn, &invite_hash, &user.id, now())?;
                                let body = format!(
                                    "{inviter} invited you to Gatehouse as {}.\n\nChoose your password here (the link works once, within 24 hours):\n{base}/reset?token={invite_token}\n",
                                    user.role
                                );
                                crate::events::mail::enqueue(conn, &user.email, "You are invited to Gatehouse", &body)?;
                            }
                            Ok(Some(user))
                        }
                        Err(CreateUserError::EmailTaken) => Ok(None),
                        Err(CreateUserError::Db(e)) => Err(AppError::from(e)),
                    }
                })
            })
            .await?;
        match created {
            Some(user) => {
                return Ok(page::see_other(&req, &format!("/users/{}", user.id))
                    .cookie(flash::cookie(
                        "success",
                        &if inviting {
                            format!("An invitation is on its way to {}.", user.email)
                        } else {
                            format!(
                                "{} can now sign in with the temporary password.",
                                user.email
                            )
                        },
                        state.config.secure_cookies(),
                    ))
                    .finish());
            }
            None => errors.email = Some("An operator with this email already exists.".into()),
        }
    }
    let page = FormPage {
        layout: Layout::build(&req),
        user: None,
        email: form.email,
        display_name: form.display_name,
        role: form.role,
        roles,
        errors,
        sessions: Vec::new(),
        reset_link: None,
        is_self: false,
    };
    page::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

async fn load(
    state: &AppState,
    id: &str,
) -> Result<(User, Vec<auth_store::SessionInfo>), AppError> {
    let id = id.to_string();
    state
        .db
        .run(move |conn| {
            let user = users::find(conn, &id)?.ok_or(AppError::NotFound)?;
            let sessions = auth_store::sessions_of(conn, &user.id)?;
            Ok((user, sessions))
        })
        .await
}

pub async fn show(
    admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (user, sessions) = load(&state, &id).await?;
    let roles = role_names(&state).await?;
    page::ok(&FormPage {
        layout,
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        role: user.role.clone(),
        is_self: user.id == admin.0.user.id,
        user: Some(user),
        roles,
        errors: UserErrors::default(),
        sessions,
        reset_link: None,
    })
}

/// Whether taking `user` out of the administrators would leave none who can sign in.
fn last_admin(conn: &mut db::DbConn, user: &User) -> Result<bool, AppError> {
    Ok(user.role == "admin" && !user.disabled && users::count_active_admins(conn)? <= 1)
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
    let mut errors = validate(&form, &roles, false);
    if !errors.any() {
        let (f, u, actor) = (
            UserForm {
                password: String::new(),
                ..form_clone(&form)
            },
            user.clone(),
            actor(&admin),
        );
        let outcome = state
            .db
            .run(move |conn| {
                db::write_tx(conn, |conn| {
                    if f.role != "admin" && last_admin(conn, &u)? {
                        return Ok(Err("This is the last administrator: give another operator the admin role first."));
                    }
                    match users::update_profile(conn, &u.id, &f.email, &f.display_name, &f.role, now()) {
                        Ok(()) => {}
                        Err(CreateUserError::EmailTaken) => return Ok(Err("An operator with this email already exists.")),
                        Err(CreateUserError::Db(e)) => return Err(AppError::from(e)),
                    }
                    if f.role != u.role {
                        audit_user(conn, &actor, "user.role_changed", &u, serde_json::json!({ "before": u.role, "after": f.role }))?;
                    }
                    if users::normalize_email(&f.email) != u.email || f.display_name.trim() != u.display_name {
                        audit_user(conn, &actor, "user.updated", &u, serde_json::json!({ "new_email": users::normalize_email(&f.email), "display_name": f.display_name.trim() }))?;
                    }
                    Ok(Ok(()))
                })
            })
            .await?;
        match outcome {
            Ok(()) => {
                session_cache.forget_user(&user.id);
                return Ok(page::see_other(&req, &format!("/users/{}", user.id))
                    .cookie(flash::cookie(
                        "success",
                        "Operator saved.",
                        state.config.secure_cookies(),
                    ))
                    .finish());
            }
            Err(message) => errors.form = Some(message.into()),
        }
    }
    page::render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &FormPage {
            layout: Layout::build(&req),
            is_self: user.id == admin.0.user.id,
            user: Some(user),
            email: form.email,
            display_name: form.display_name,
            role: form.role,
            roles,
            errors,
            sessions,
            reset_link: None,
        },
    )
}

fn form_clone(f: &UserForm) -> UserForm {
    UserForm {
        email: f.email.clone(),
        display_name: f.display_name.clone(),
        role: f.role.clone(),
        password: f.password.clone(),
        invite: f.invite.clone(),
    }
}

/// A status change: given the operator and the acting administrator's id, apply it or say
/// why not.
type Apply = fn(&mut db::DbConn, &User, &str) -> Result<Result<(), &'static str>, AppError>;

/// Run a status change in one transaction with its audit entry; `check` may refuse.
async fn change(
    req: &HttpRequest,
    admin: &Admin,
    state: &AppState,
    id: &str,
    action: &'static str,
    apply: Apply,
    done: &'static str,
) -> Result<HttpResponse, AppError> {
    let session_cache = app_data::<SessionCache>(req)?;
    let (id, actor, me) = (id.to_string(), actor(admin), admin.0.user.id.clone());
    let outcome = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                let user = users::find(conn, &id)?.ok_or(AppError::NotFound)?;
                if let Err(m) = apply(conn, &user, &me)? {
                    return Ok(Err(m));
                }
                audit_user(conn, &actor, action, &user, serde_json::json!({}))?;
                Ok(Ok(user.id))
            })
        })
        .await?;
    let back = format!("/users/{}", id_of(req));
    match outcome {
        Ok(user_id) => {
            session_cache.forget_user(&user_id);
            Ok(page::see_other(req, &back)
                .cookie(flash::cookie(
                    "success",
                    done,
                    state.config.secure_cookies(),
                ))
                .finish())
        }
        Err(message) => Ok(page::see_other(req, &back)
            .cookie(flash::cookie(
                "error",
                message,
                state.config.secure_cookies(),
            ))
            .finish()),
    }
}

fn id_of(req: &HttpRequest) -> String {
    req.match_info().get("id").unwrap_or("").to_string()
}

pub async fn disable(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    change(
        &req,
        &admin,
        &state,
        &id,
        "user.disabled",
        |conn, user, me| {
            if user.id == me {
                return Ok(Err("You cannot disable your own account."));
            }
            if last_admin(conn, user)? {
                return Ok(Err(
                    "This is the last administrator who can sign in; it stays enabled.",
                ));
            }
            users::set_disabled(conn, &user.id, true, now())?;
            auth_store::delete_user_sessions(conn, &user.id)?;
            Ok(Ok(()))
        },
        "Operator disabled; their sessions have ended.",
    )
    .await
}

pub async fn enable(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    change(
        &req,
        &admin,
        &state,
        &id,
        "user.enabled",
        |conn, user, _| {
            users::set_disabled(conn, &user.id, false, now())?;
            Ok(Ok(()))
        },
        "Operator enabled.",
    )
    .await
}

pub async fn sign_out(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    change(
        &req,
        &admin,
        &state,
        &id,
        "user.signed_out",
        |conn, user, _| {
            auth_store::delete_user_sessions(conn, &user.id)?;
            Ok(Ok(()))
        },
        "Every session of this operator has ended.",
    )
    .await
}

pub async fn end_session(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    session_cache: web::Data<SessionCache>,
) -> Result<HttpResponse, AppError> {
    let (uid, sid) = path.into_inner();
    let (u, actor) = (uid.clone(), actor(&admin));
    let ended = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                let user = users::find(conn, &u)?.ok_or(AppError::NotFound)?;
                let n = auth_store::delete_session_of(conn, &user.id, &sid)?;
                if n == 1 {
                    audit_user(
                        conn,
                        &actor,
                        "user.session_ended",
                        &user,
                        serde_json::json!({}),
                    )?;
                }
                Ok::<_, AppError>(n)
            })
        })
        .await?;
    if ended == 0 {
        return Err(AppError::NotFound);
    }
    session_cache.forget_user(&uid);
    Ok(page::see_other(&req, &format!("/users/{uid}"))
        .cookie(flash::cookie(
            "success",
            "Session ended.",
            state.config.secure_cookies(),
        ))
        .finish())
}

pub async fn reset_2fa(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    change(
        &req,
        &admin,
        &state,
        &id,
        "user.2fa_reset",
        |conn, user, _| {
            users::reset_two_factor(conn, &user.id)?;
            Ok(Ok(()))
        },
        "Two-factor sign-in was reset; the operator enrols again at the next sign-in if their role requires it.",
    )
    .await
}

pub async fn reset_link(
    admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let token = random_token();
    let (hash, uid, actor) = (sha256_hex(&token), id.into_inner(), actor(&admin));
    let user = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                let user = users::find(conn, &uid)?.ok_or(AppError::NotFound)?;
                users::create_reset(conn, &hash, &user.id, now())?;
                audit_user(
                    conn,
                    &actor,
                    "user.reset_link_created",
                    &user,
                    serde_json::json!({}),
                )?;
                Ok(user)
            })
        })
        .await?;
    let (_, sessions) = load(&state, &user.id).await?;
    let roles = role_names(&state).await?;
    let base = state.config.public_url.as_str().trim_end_matches('/');
    page::ok(&FormPage {
        layout,
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        role: user.role.clone(),
        is_self: user.id == admin.0.user.id,
        user: Some(user),
        roles,
        errors: UserErrors::default(),
        sessions,
        reset_link: Some(format!("{base}/reset?token={token}")),
    })
}

#[derive(Template)]
#[template(path = "users/delete.html")]
struct DeletePage {
    layout: Layout,
    user: User,
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
    let (uid, actor, me) = (id.into_inner(), actor(&admin), admin.0.user.id.clone());
    let outcome = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                let user = users::find(conn, &uid)?.ok_or(AppError::NotFound)?;
                if user.id == me {
                    return Ok(Err("You cannot delete your own account."));
                }
                if last_admin(conn, &user)? {
                    return Ok(Err("This is the last administrator; it cannot be deleted."));
                }
                audit_user(
                    conn,
                    &actor,
                    "user.deleted",
                    &user,
                    serde_json::json!({ "role": user.role, "display_name": user.display_name }),
                )?;
                users::delete(conn, &user.id)?;
                Ok(Ok(user.id))
            })
        })
        .await?;
    match outcome {
        Ok(user_id) => {
            session_cache.forget_user(&user_id);
            Ok(page::see_other(&req, "/users")
                .cookie(flash::cookie(
                    "success",
                    "Operator deleted.",
                    state.config.secure_cookies(),
                ))
                .finish())
        }
        Err(message) => Ok(page::see_other(&req, &format!("/users/{}", id_of(&req)))
            .cookie(flash::cookie(
                "error",
                message,
                state.config.secure_cookies(),
            ))
            .finish()),
    }
}
