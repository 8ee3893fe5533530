//! `ApiAccess`: a bearer token turned into the same `Access` the UI uses (its role's rights,
//! hidden columns included), with a per-token rate limit. Cookies never authenticate here.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};

use crate::catalog::{Catalog, CatalogCache};
use crate::db::now;
use crate::db::secrets::sha256_hex;
use crate::error::AppError;
use crate::identity::CurrentUser;
use crate::identity::api_tokens::{self as tokens, TOKEN_PREFIX, TokenCache};
use crate::identity::permissions::{Access, load_rights};
use crate::state::{AppState, app_data};

/// Requests per token per minute, counted in fixed one-minute windows on each instance.
#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl RateLimiter {
    /// `Err(seconds to wait)` when the token has used up its window.
    pub fn hit(&self, token: &str, limit: u32) -> Result<(), u64> {
        let Ok(mut w) = self.windows.lock() else {
            return Ok(());
        };
        if w.len() > 10_000 {
            w.retain(|_, (start, _)| start.elapsed() < WINDOW);
        }
        let entry = w.entry(token.to_string()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        if entry.1 >= limit {
            return Err(WINDOW.saturating_sub(entry.0.elapsed()).as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

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
            if let Err(wait) = limits.hit(&token.id, state.config.api_rate_limit) {
                return Err(AppError::RateLimited(wait));
            }
            let rights = load_rights(&req, &token.role).await?;
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
