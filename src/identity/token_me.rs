//! Whom `$me` means for an API token: the operator who made it (`gh_api_tokens.created_by`),
//! while that operator exists and is not disabled — their id, email and attributes, as at a
//! request of their own. A token acts with its own role's rules; it never borrows its
//! maker's role. A token whose maker was deleted or disabled (or that has none recorded)
//! binds `$me` to no one: every `$me` condition is false, so it sees no rows through them
//! (fail closed). Remembered for two seconds, like the rights themselves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpMessage, HttpRequest};

use crate::error::AppError;
use crate::identity::permissions::{Rights, RightsCache};
use crate::identity::row_rules::{self, Me};
use crate::identity::users;
use crate::state::{AppState, app_data};

/// `rights` (a token's role's) with `$me` bound to the token's maker `creator`, when the
/// role has rules and the maker may still act.
pub async fn bind_token_maker(
    req: &HttpRequest,
    rights: Arc<Rights>,
    creator: Option<&str>,
) -> Result<Arc<Rights>, AppError> {
    let Some(creator) = creator.filter(|_| rights.has_rules()) else {
        return Ok(rights);
    };
    let cache = app_data::<RightsCache>(req)?;
    let maker = match cache.maker(creator) {
        Some(maker) => maker,
        None => {
            let state = app_data::<AppState>(req)?;
            let id = creator.to_string();
            let maker = state
                .db
                .run(move |conn| {
                    let Some(user) = users::find(conn, &id)?.filter(|u| !u.disabled) else {
                        return Ok(None);
                    };
                    let attributes = row_rules::attributes(conn, &user.id)?;
                    Ok(Some(Arc::new(Me {
                        id: user.id,
                        email: user.email,
                        attributes,
                    })))
                })
                .await?;
            cache.put_maker(creator, maker.clone());
            maker
        }
    };
    let Some(me) = maker else {
        return Ok(rights);
    };
    let bound = rights.for_operator((*me).clone());
    req.extensions_mut().insert(bound.clone());
    Ok(bound)
}

/// How long a token's maker is remembered.
pub(super) const REMEMBER: Duration = Duration::from_secs(2);

pub(super) type Makers = std::collections::HashMap<String, (Instant, Option<Arc<Me>>)>;
