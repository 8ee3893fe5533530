//! Operations: liveness and readiness for load balancers and orchestrators, Prometheus
//! metrics, SQLite backups (on demand and on a schedule), and moving Gatehouse's state
//! between databases.

pub mod backup;
pub mod metrics;
pub mod store;
pub mod transfer;

use actix_web::{HttpResponse, web};

use crate::state::AppState;

/// 200 while the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n")
}

/// 200 when the database answers, 503 with a short reason when it does not, or when it
/// refused a write lately for a lasting fault ("degraded: database disk full"; see
/// `db::Health`). The ping is not cached: the next probe after the database returns sees it.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => match state.db.degraded() {
            // The database answers but lately refused writes (disk full, read-only, busy).
            Some(fault) => HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .body(format!("degraded: {}\n", fault.state())),
            None => HttpResponse::Ok()
                .content_type("text/plain; charset=utf-8")
                .body("ready\n"),
        },
        Err(cause) => {
            tracing::warn!(%cause, "readiness check failed");
            // Why, in a few words: the full error (host, port) is for the log only.
            let why = match state.db.unreachable() {
                Some(e) => format!(
                    "database unavailable: {}\n",
                    crate::db::reach::short_cause(&e)
                ),
                None => "database unavailable: no connection within 2 s\n".to_string(),
            };
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .body(why)
        }
    }
}
