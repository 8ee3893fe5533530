//! Static files, embedded in the binary: correct content types, a weak ETag (the same
//! entity is served compressed and not), 304 on `If-None-Match`, and long caching for
//! versioned URLs (`?v=<hash>` or a version in the file name).

use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::RustEmbed;

use crate::error::AppError;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Files;

/// Versioned URLs of the assets every page loads, computed once from the embedded hashes.
#[derive(Debug)]
pub struct AssetUrls {
    pub css: String,
    pub js: String,
    pub htmx: String,
    /// htmx's SSE extension and the live-update script of lists and record pages.
    pub sse: String,
    pub live: String,
    /// The icon sprite: `<use href="{icons}#name">`.
    pub icons: String,
}

pub const HTMX_FILE: &str = "vendor/htmx-2.0.11.min.js";
pub const SSE_FILE: &str = "vendor/htmx-ext-sse-2.2.4.js";
pub const ICONS_FILE: &str = "vendor/lucide-1.62.0-sprite.svg";

pub fn urls() -> &'static AssetUrls {
    static URLS: OnceLock<AssetUrls> = OnceLock::new();
    URLS.get_or_init(|| AssetUrls {
        css: versioned("app.css"),
        js: versioned("app.js"),
        htmx: format!("/static/{HTMX_FILE}"),
        sse: format!("/static/{SSE_FILE}"),
        live: versioned("live.js"),
        icons: format!("/static/{ICONS_FILE}"),
    })
}

fn versioned(path: &str) -> String {
    match Files::get(path) {
        Some(file) => format!(
            "/static/{path}?v={}",
            short_hash(&file.metadata.sha256_hash())
        ),
        None => format!("/static/{path}"),
    }
}

fn short_hash(hash: &[u8; 32]) -> String {
    hash[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn is_versioned(req: &HttpRequest, path: &str) -> bool {
    req.query_string().split('&').any(|p| p.starts_with("v="))
        || path.starts_with("vendor/") && path.chars().any(|c| c.is_ascii_digit())
}

pub async fn serve(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let path = path.into_inner();
    let file = Files::get(&path).ok_or(AppError::NotFound)?;
    let etag = format!("W/\"{}\"", short_hash(&file.metadata.sha256_hash()));
    let cache = if is_versioned(&req, &path) {
        "public, max-age=31536000, immutable"
    } else {
        "public, no-cache"
    };
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if matches {
        HttpResponse::NotModified().finish()
    } else {
        let mime = file.metadata.mimetype();
        let content_type = if mime.starts_with("text/") || mime.ends_with("javascript") {
            format!("{mime}; charset=utf-8")
        } else {
            mime.to_string()
        };
        HttpResponse::Ok()
            .content_type(content_type)
            .body(file.data.into_owned())
    };
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(res)
}
