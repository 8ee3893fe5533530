//! One-shot messages shown on the next page ("You have been signed out"), carried in a
//! short-lived cookie across the redirect and removed once shown.

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};

pub const COOKIE: &str = "gh_flash";

#[derive(Debug, Clone)]
pub struct Flash {
    /// `success`, `info` or `error` (a CSS class and an icon).
    pub kind: &'static str,
    pub message: String,
}

#[derive(Clone)]
struct Taken;

pub fn cookie(kind: &'static str, message: &str, secure: bool) -> Cookie<'static> {
    let value: String =
        url::form_urlencoded::byte_serialize(format!("{kind}|{message}").as_bytes()).collect();
    Cookie::build(COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(time::Duration::minutes(5))
        .finish()
}

/// The pending messages; the cookie is cleared on this response.
pub fn take(req: &HttpRequest) -> Vec<Flash> {
    let Some(c) = req.cookie(COOKIE) else {
        return Vec::new();
    };
    req.extensions_mut().insert(Taken);
    let decoded: String = url::form_urlencoded::parse(format!("v={}", c.value()).as_bytes())
        .map(|(_, v)| v.into_owned())
        .next()
        .unwrap_or_default();
    let (kind, message) = decoded
        .split_once('|')
        .unwrap_or(("info", decoded.as_str()));
    let kind = match kind {
        "success" => "success",
        "error" => "error",
        _ => "info",
    };
    let message: String = message.chars().take(300).collect();
    if message.is_empty() {
        return Vec::new();
    }
    vec![Flash { kind, message }]
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    let taken = res.request().extensions().get::<Taken>().is_some();
    if taken && !res.status().is_redirection() {
        let mut removal = Cookie::build(COOKIE, "").path("/").finish();
        removal.make_removal();
        res.response_mut().add_cookie(&removal)?;
    }
    Ok(res)
}
