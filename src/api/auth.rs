//! `ApiAccess`: a bearer token turned into the same `Access` the UI uses (its role's rights,
//! hidden columns included), with a per-token rate limit. Cookies never authenticate here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};

use super::rate;
use crate::catalog::{Catalog, CatalogCache};
use crate::db::now;
use crate::db::secrets::sha256_hex;
use crate::error::AppError;
use crate::identity::CurrentUser;
use crate::identity::api_tokens::{self as tokens, TOKEN_PREFIX, TokenCache};
use crate::identity::permissions::{Access, load_rights};
use crate::identity::token_me::bind_token_maker;
use crate::state::{AppState, app_data};

pub use super::rate::RateLimiter;

/// The caller of an API request, as a token.
pub struct ApiAccess(pub Access);

impl ApiAccess {
    /// The catalog as the token's role sees it: only its tables, without hidden columns.
    pub async fn catalog(
        &self,
        state: &AppState,
        cache: &Data<CatalogCache>,
    ) -> Result<Arc<Catalog>, AppError> {
        let (cache, rights) = (cache.clone(), self.0.rights.clone());
        state
            .db
            .run(move |conn| Ok(rights.catalog_view(&cache.get(conn)?)))
            .await
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

impl FromRequest for ApiAccess {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<ApiAccess, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let value = bearer(&req).ok_or(AppError::TokenRefused(tokens::MISSING))?;
            if !value.starts_with(TOKEN_PREFIX) {
                return Err(AppError::TokenRefused(tokens::UNKNOWN));
            }
            let state = app_data::<AppState>(&req)?;
            let (cache, limits) = (
                app_data::<TokenCache>(&req)?,
                app_data::<RateLimiter>(&req)?,
            );
            let hash = sha256_hex(&value);
            let token = match cache.get(&hash).filter(|t| t.usable(now())) {
                Some(t) => t,
                None => {
                    let h = hash.clone();
                    let token = state
                        .db
                        .run(move |conn| {
                            let token = tokens::find_by_hash(conn, &h)?
                                .ok_or(AppError::TokenRefused(tokens::UNKNOWN))?;
                            if let Some(why) = token.refusal(now()) {
                                return Err(AppError::TokenRefused(why));
                            }
                            tokens::touch_or_ignore(conn, &token.id, now());
                            Ok(token)
                        })
                        .await?;
                    cache.put(hash, token.clone());
                    token
                }
            };
            spend(&state, &limits, &token.id).await?;
            let rights = load_rights(&req, &token.role).await?;
            let rights = bind_token_maker(&req, rights, token.created_by.as_deref()).await?;
            let user = CurrentUser {
                id: format!("token:{}", token.id),
                email: format!("token {} ({})", token.prefix, token.name),
                display_name: token.name.clone(),
                role: token.role.clone(),
                session_id: String::new(),
                stage: crate::identity::sessions::STAGE_FULL.to_string(),
            };
            Ok(ApiAccess(Access { user, rights }))
        })
    }
}

/// Count the request against the token's limit, leasing budget from the database when this
/// instance holds none (see `rate`).
async fn spend(state: &AppState, limits: &Data<RateLimiter>, token: &str) -> Result<(), AppError> {
    let (window, wait) = rate::window_now();
    if let Some(verdict) = limits.take(token, window, wait) {
        return verdict.map_err(AppError::RateLimited);
    }
    let (id, limit, prune) = (
        token.to_string(),
        state.config.api_rate_limit,
        limits.prune_due(window),
    );
    let leased = state
        .db
        .run(move |conn| {
            // While a fault refuses writes, the lease would fail anyway (or wait).
            Ok(crate::db::bookkeeping_allowed()
                .then(|| rate::lease(conn, &id, window, limit, prune)))
        })
        .await?;
    let granted = match leased {
        Some(Ok(granted)) => granted,
        Some(Err(error)) => {
            tracing::debug!(%error, "the API rate budget was not leased; counting here");
            rate::slice_of(limit)
        }
        None => rate::slice_of(limit),
    };
    limits.grant(token, window, granted);
    limits
        .take(token, window, wait)
        .unwrap_or(Err(wait))
        .map_err(AppError::RateLimited)
}
