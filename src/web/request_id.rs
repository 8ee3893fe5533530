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

fn new_id() -> String {
    let mut bytes = [0u8; 8];
    // A failing system RNG leaves zeros: an id that repeats is still better than no request.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    let status = res.status().as_u16();
    // Hundredths of a millisecond: enough for a log line, without float noise.
    let elapsed_ms = (started.elapsed().as_micros() as f64 / 10.0).round() / 100.0;
    // The route template that matched (`/data/{table}`), as the metrics name it; "-" when
    // none did (a 404).
    let route = res.request().match_pattern();
    let route = route.as_deref().unwrap_or("-");
    span.in_scope(|| {
        if quiet {
            tracing::debug!(status, route, elapsed_ms, "done");
        } else {
            tracing::info!(status, route, elapsed_ms, "done");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}
