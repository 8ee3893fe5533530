//! A request id for every request: in the response header, every log line of the request
//! (through a tracing span) and on error pages, so an operator can find the cause in the log.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};
use tracing::Instrument;

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub fn get(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// 16 hex digits from a thread-local generator (no system call per request): a request id
/// only has to tell requests apart in the log, not be unguessable.
fn new_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = new_id();
    req.extensions_mut().insert(RequestId(id.clone()));
    let quiet =
        req.path() == "/healthz" || req.path() == "/readyz" || req.path().starts_with("/static/");
    let span = tracing::info_span!("request", id = %id, method = %req.method(), path = %req.path());
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    // The line is built only when the log level shows it (a busy server logs at warn).
    let shown = if quiet {
        tracing::enabled!(tracing::Level::DEBUG)
    } else {
        tracing::enabled!(tracing::Level::INFO)
    };
    if shown {
        let status = res.status().as_u16();
        // Hundredths of a millisecond: enough for a log line, without float noise.
        let elapsed_ms = (started.elapsed().as_micros() as f64 / 10.0).round() / 100.0;
        // The route template that matched (`/data/{table}`), as the metrics name it; "-"
        // when none did (a 404).
        let route = res.request().match_pattern();
        let route = route.as_deref().unwrap_or("-");
        span.in_scope(|| {
            if quiet {
                tracing::debug!(status, route, elapsed_ms, "done");
            } else {
                tracing::info!(status, route, elapsed_ms, "done");
            }
        });
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}
