//! What the steps after the password share (the TOTP code, the passkey, the enrolments a
//! role forces): the operator half signed in at one stage, the `next` they return to, the
//! status of a step shown again with a refusal, and the full sign-in once a step is passed.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::error::AppError;
use crate::identity::session::{self, CurrentUser};
use crate::identity::sessions::STAGE_FULL;
use crate::signin::routes::{sign_in, signed_in};
use crate::state::AppState;

/// The operator half signed in at `stage`; anyone else is not signed in.
pub async fn pending(req: &HttpRequest, stage: &str) -> Result<CurrentUser, AppError> {
    match session::load_pending(req).await? {
        Some(u) if u.stage == stage => Ok(u),
        _ => Err(AppError::Unauthorized),
    }
}

#[derive(Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
}

/// A step's page: 422 when it is shown again with a refusal.
pub fn status(error: &Option<String>) -> StatusCode {
    match error {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    }
}

/// The step is passed: a full session, then on to `next`.
pub async fn passed(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    next: &str,
) -> Result<HttpResponse, AppError> {
    sign_in(req, state, &user.id, &user.email, STAGE_FULL).await?;
    Ok(signed_in(state, next))
}
