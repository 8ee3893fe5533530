//! `/metrics`: the registry of `crate::metrics` in the Prometheus text format, behind an
//! optional bearer token, on the main listener or on the dedicated one.

use actix_web::{HttpRequest, HttpResponse, web};
use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
use sha2::{Digest, Sha256};

use crate::db::{PRIMARY_POOL, now};
use crate::error::AppError;
use crate::metrics::{self, DedicatedListener, Metrics};
use crate::ops::store::{self, Depths};
use crate::state::AppState;

/// 404 while metrics are off (or served on the other listener), 401 without the token.
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let Some(config) = state.config.metrics.as_ref() else {
        return Err(AppError::NotFound);
    };
    let dedicated = req.app_data::<web::Data<DedicatedListener>>().is_some();
    if config.listen.is_some() != dedicated {
        return Err(AppError::NotFound);
    }
    if let Some(token) = &config.token
        && !bearer_matches(&req, &token.0)
    {
        return Ok(HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Bearer realm=\"metrics\""))
            .content_type("text/plain; charset=utf-8")
            .body("a bearer token is required\n"));
    }
    let (idle, lifetime) = (
        state.config.session_idle_timeout,
        state.config.session_lifetime,
    );
    let m = metrics::global();
    // A scrape during a database outage still answers, with the depths of the last one.
    match state
        .db
        .run(move |conn| Ok(store::depths(conn, idle, lifetime, now())?))
        .await
    {
        Ok(depths) => apply(m, depths),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read queue depths"),
    }
    let (open, idle_conns, max) = state.db.pool_state();
    m.set_pool(PRIMARY_POOL, open, idle_conns, max);
    if let Some((open, idle_conns, max)) = state.db.replica_pool_state() {
        m.set_pool(crate::db::replica::REPLICA_POOL, open, idle_conns, max);
    }
    let body = m.encode().map_err(|e| AppError::internal(e.to_string()))?;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(body))
}

fn apply(m: &Metrics, d: Depths) {
    m.sessions_active.set(d.sessions_active);
    m.webhook_outbox_depth.set(d.outbox_pending);
    m.webhook_endpoints_disabled.set(d.endpoints_disabled);
    m.mail_queue_depth.set(d.mail_pending);
}

/// Whether the request carries `Authorization: Bearer <token>`; digests are compared so
/// the comparison's time says nothing about the token.
fn bearer_matches(req: &HttpRequest, token: &str) -> bool {
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    Sha256::digest(given.trim().as_bytes()) == Sha256::digest(token.as_bytes())
}
