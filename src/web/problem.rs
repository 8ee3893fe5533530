//! problem+json (RFC 9457): the one shape of every API error, whether a handler answers it
//! (with per-field messages) or the error middleware does (with the request id).

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::json;

/// A problem+json response, optionally with per-field messages.
pub fn problem(
    status: StatusCode,
    title: &str,
    detail: &str,
    errors: Option<&BTreeMap<String, String>>,
) -> HttpResponse {
    respond(status, title, detail, errors, None)
}

/// The same, with the request id an operator can find in the log.
pub fn problem_for_request(
    status: StatusCode,
    title: &str,
    detail: &str,
    request_id: &str,
) -> HttpResponse {
    respond(status, title, detail, None, Some(request_id))
}

fn respond(
    status: StatusCode,
    title: &str,
    detail: &str,
    errors: Option<&BTreeMap<String, String>>,
    request_id: Option<&str>,
) -> HttpResponse {
    let mut body = json!({ "type": "about:blank", "title": title, "status": status.as_u16(), "detail": detail });
    if let Some(e) = errors {
        body["errors"] = json!(e);
    }
    if let Some(id) = request_id {
        body["request_id"] = json!(id);
    }
    HttpResponse::build(status)
        .content_type("application/problem+json")
        .body(body.to_string())
}
