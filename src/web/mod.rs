//! Middleware and helpers shared by every slice: request ids, security headers, CSRF,
//! error rendering, flash messages, form pairs, the page layout and static assets.

pub mod assets;
pub mod client;
pub mod csrf;
pub mod errors;
pub mod flash;
pub mod form;
pub mod headers;
pub mod nav;
pub mod nul;
pub mod page;
pub mod problem;
pub mod recent;
pub mod request_id;
pub mod saved;
pub mod table;
pub mod upload;
pub mod when;

use actix_web::HttpRequest;

/// True when the request was made by htmx (it swaps a fragment rather than a page).
pub fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().get("hx-request").is_some_and(|v| v == "true")
}

pub use client::client_ip;

/// A same-site path to return to after sign-in; anything else (absolute URLs,
/// protocol-relative `//host`, backslashes) falls back to the home page.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}
