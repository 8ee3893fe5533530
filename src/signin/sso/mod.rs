//! OpenID Connect single sign-on: providers administered at `/integrations/sso`, the
//! provider buttons on the sign-in page, the redirect and callback (`/login/sso/…`), and
//! linked identities on `/account`. The protocol is the `openidconnect` crate's (`flow`);
//! what a verified ID token means for Gatehouse is `store::resolve`.

pub mod admin;
pub mod discovery;
pub mod flow;
pub mod providers;
pub mod routes;
pub mod store;
mod views;

use actix_web::{HttpRequest, web};

use crate::db::secrets::Sealer;
use crate::signin::sso::discovery::{Buttons, Discovery};
use crate::state::AppState;

/// The enabled providers' (id, label), for the sign-in page: cached for a few seconds
/// (`Discovery`); none when the database cannot say (the password form still works).
pub async fn buttons(req: &HttpRequest, state: &AppState) -> Buttons {
    let cache = req.app_data::<web::Data<Discovery>>();
    if let Some(hit) = cache.and_then(|c| c.cached_buttons()) {
        return hit;
    }
    match state.db.run(|conn| Ok(providers::buttons(conn)?)).await {
        Ok(found) => match cache {
            Some(cache) => cache.keep_buttons(found),
            None => Buttons::new(found),
        },
        Err(_) => Buttons::default(),
    }
}

/// A provider changed on this instance: the sign-in page shows it at once.
pub fn providers_changed(req: &HttpRequest) {
    if let Some(cache) = req.app_data::<web::Data<Discovery>>() {
        cache.forget_buttons();
    }
}

/// Whether the operator's role refuses password sign-in (SSO required).
pub async fn requires_sso(state: &AppState, role: &str) -> Result<bool, crate::error::AppError> {
    let role = role.to_string();
    state
        .db
        .run(move |conn| Ok(providers::options_of(conn, &role)?.0))
        .await
}

fn sealer(state: &AppState) -> Sealer {
    Sealer::new(state.config.secret_key.bytes())
}
