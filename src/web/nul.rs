//! NUL characters are refused at the door, the same way on both backends: Postgres cannot
//! store them in text (a 500 if unchecked) and SQLite would store them and later write them
//! raw into pages. A query string holding `%00` is a 400; a submitted form field holding one
//! is a 422 naming the field. (API JSON bodies are checked per column by the engine.)

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};

use crate::error::AppError;
use crate::state::AppState;
use crate::web::csrf::read_body;

/// The first form field whose name or value holds a NUL, as an operator knows it (a record
/// form's `f.name` is the column `name`).
pub fn nul_field(body: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        .map(|(k, _)| {
            let k = k.replace('\0', "");
            k.strip_prefix("f.").unwrap_or(&k).to_string()
        })
}

fn query_has_nul(raw: &str) -> bool {
    raw.to_ascii_lowercase().contains("%00") || raw.contains('\0')
}

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if query_has_nul(req.query_string()) || query_has_nul(req.path()) {
        let refusal = AppError::Invalid(
            "The address holds a NUL character (%00), which Gatehouse does not accept.".into(),
        );
        return Ok(req.error_response(refusal));
    }
    if req.content_type() == "application/x-www-form-urlencoded" {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(1024 * 1024, |s| s.config.max_body_bytes);
        let body = match read_body(&mut req, limit).await {
            Ok(body) => body,
            Err(e) => return Ok(req.error_response(e)),
        };
        if let Some(field) = nul_field(&body) {
            let refusal = AppError::Unprocessable(format!(
                "The field \u{201c}{field}\u{201d} holds a NUL character (\\0), which the database cannot store. Nothing was saved."
            ));
            return Ok(req.error_response(refusal));
        }
        req.set_payload(actix_web::dev::Payload::from(body));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
