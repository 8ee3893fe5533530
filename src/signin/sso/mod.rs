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

use crate::db::secrets::Sealer;
use crate::state::AppState;

/// The enabled providers' (id, label), for the sign-in page; none when the database
/// cannot say (the password form still works).
pub async fn buttons(state: &AppState) -> Vec<(String, String)> {
    state
        .db
        .run(|conn| Ok(providers::buttons(conn)?))
        .await
        .unwrap_or_default()
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
