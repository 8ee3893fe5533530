//! `/account/passkeys`: register passkeys (named, optionally allowed to sign in without a
//! password), see when each was last used, remove them. The browser side is
//! `static/passkeys.js`: it asks for options, calls `navigator.credentials.create`, and
//! posts the answer with the form.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::audit::Actor;
use crate::db::secrets::sha256_hex;
use crate::error::AppError;
use crate::identity::session::{SESSION_COOKIE, SessionCache};
use crate::identity::session_store::browser_binding;
use crate::identity::{CurrentUser, passkeys, roles};
use crate::signin::passkey_store::{self as store, Binding, Registration};
use crate::signin::views::PasskeysPage;
use crate::state::AppState;
use crate::web::csrf::ANON_COOKIE;
use crate::web::page::{self, Layout};

/// A ceremony of a (full or pending) session is bound to that session.
pub(crate) fn session_binding(user: &CurrentUser) -> Binding {
    Binding {
        user_id: Some(user.id.clone()),
        key: user.session_id.clone(),
    }
}

/// A ceremony before sign-in is bound to the browser's cookie (the one its CSRF token is
/// bound to), hashed.
pub(crate) fn cookie_binding(req: &HttpRequest) -> Result<Binding, AppError> {
    let (session, anon) = (req.cookie(SESSION_COOKIE), req.cookie(ANON_COOKIE));
    let binding = browser_binding(
        session.as_ref().map(|c| c.value()),
        anon.as_ref().map(|c| c.value()),
    )
    .ok_or_else(|| AppError::Forbidden("Open the sign-in page first.".into()))?;
    Ok(Binding {
        user_id: None,
        key: format!("cookie:{}", sha256_hex(&binding)),
    })
}

pub(crate) fn relying_party(state: &AppState) -> Result<webauthn_rs::Webauthn, AppError> {
    passkeys::relying_party(&state.config.public_url)
}

async fn render(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let (uid, role) = (user.id.clone(), user.role.clone());
    let (passkeys, role_requires) = state
        .db
        .run(move |conn| {
            let list = passkeys::passkeys_of(conn, &uid)?;
            Ok((list, roles::requires_passkey(conn, &role)?))
        })
        .await?;
    let status = match error {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    let available = relying_party(state).err().map(|e| e.to_string());
    page::render(
        status,
        &PasskeysPage {
            layout: Layout::build(req),
            passkeys,
            role_requires,
            unavailable: available,
            error,
        },
    )
}

pub async fn index(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    render(&req, &state, &user, None).await
}

/// The registration options for the browser (JSON), the ceremony stored server side.
pub async fn options(
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let rp = relying_party(&state)?;
    let binding = session_binding(&user);
    let options = state
        .db
        .run(move |conn| store::begin_registration(conn, &rp, &user, &binding))
        .await?;
    Ok(HttpResponse::Ok().json(options))
}

#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    pub challenge: String,
    #[serde(default)]
    pub credential: String,
    #[serde(default)]
    pub name: String,
    pub passwordless: Option<String>,
}

impl RegisterForm {
    /// The registration, or why the name is refused.
    pub(crate) fn registration(self) -> Result<Registration, String> {
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(
                "Give the passkey a name of 1 to 60 characters (such as \"Laptop\").".into(),
            );
        }
        Ok(Registration {
            challenge: self.challenge,
            credential: self.credential,
            name,
            passwordless: self.passwordless.is_some(),
        })
    }
}

pub async fn create(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    form: web::Form<RegisterForm>,
    sessions: web::Data<SessionCache>,
) -> Result<HttpResponse, AppError> {
    let registration = match form.into_inner().registration() {
        Ok(r) => r,
        Err(refusal) => return render(&req, &state, &user, Some(refusal)).await,
    };
    let (rp, binding, actor) = (
        relying_party(&state)?,
        session_binding(&user),
        Actor::from(&user),
    );
    let keep = user.session_id.clone();
    let outcome = state
        .db
        .run(move |conn| {
            store::finish_registration(conn, &rp, &binding, Some(&keep), &actor, registration)
        })
        .await?;
    match outcome {
        Ok(ended) => {
            sessions.forget_user(&user.id);
            let message = format!("Passkey added. {ended} other session(s) ended.");
            Ok(page::done(&req, "/account/passkeys", "success", &message))
        }
        Err(refusal) => render(&req, &state, &user, Some(refusal)).await,
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    confirm: Option<String>,
}

pub async fn remove(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<RemoveForm>,
    sessions: web::Data<SessionCache>,
) -> Result<HttpResponse, AppError> {
    if form.confirm.as_deref() != Some("yes") {
        let refusal = "Tick \"Yes, remove\" to remove the passkey.".to_string();
        return render(&req, &state, &user, Some(refusal)).await;
    }
    let (id, who) = (id.into_inner(), user.clone());
    let outcome = state
        .db
        .run(move |conn| store::remove(conn, &who, &id))
        .await?;
    match outcome {
        Ok((name, ended)) => {
            sessions.forget_user(&user.id);
            let message = format!("Passkey \"{name}\" removed. {ended} other session(s) ended.");
            Ok(page::done(&req, "/account/passkeys", "success", &message))
        }
        Err(refusal) => render(&req, &state, &user, Some(refusal)).await,
    }
}
