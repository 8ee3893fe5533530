//! CSRF protection for every state-changing request (POST, PUT, PATCH, DELETE):
//! a cross-site `Sec-Fetch-Site` or a foreign `Origin` is refused outright, then a token
//! bound to the caller's cookie must arrive as the `X-CSRF-Token` header (htmx, set by
//! `static/app.js` from a `<meta>` tag), as the `csrf_token` form field, or (file uploads,
//! `multipart/form-data`, whose bodies are streamed) as `csrf_token` in the form's address.
//! Anonymous visitors get a random `gh_anon` cookie to bind the sign-in form's token to.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{Error, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;

use crate::db::secrets::random_token;
use crate::error::AppError;
use crate::identity::session::SESSION_COOKIE;
use crate::identity::session_store::browser_binding;
use crate::state::AppState;

pub const ANON_COOKIE: &str = "gh_anon";
pub const HEADER: &str = "x-csrf-token";
pub const FIELD: &str = "csrf_token";

#[derive(Clone)]
struct NewAnon(String);

/// This request's token, once computed (a page embeds it several times).
#[derive(Clone)]
struct Token(String);

/// The token to embed in this request's pages and forms.
pub fn token(req: &HttpRequest) -> String {
    if let Some(Token(token)) = req.extensions().get::<Token>() {
        return token.clone();
    }
    let token = compute(req);
    req.extensions_mut().insert(Token(token.clone()));
    token
}

fn compute(req: &HttpRequest) -> String {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return String::new();
    };
    // Bound to the session cookie whenever there is one (valid or not), else to the
    // anonymous cookie; the middleware accepts exactly the same binding.
    let binding = binding_of(req.cookie(SESSION_COOKIE), req.cookie(ANON_COOKIE))
        .or_else(|| req.extensions().get::<NewAnon>().map(|n| n.0.clone()))
        .unwrap_or_else(|| {
            let value = random_token();
            req.extensions_mut().insert(NewAnon(value.clone()));
            value
        });
    state.keys.csrf_token(&binding)
}

/// The session's key when there is one, else the anonymous cookie (`browser_binding`).
fn binding_of(session: Option<Cookie<'_>>, anon: Option<Cookie<'_>>) -> Option<String> {
    browser_binding(
        session.as_ref().map(Cookie::value),
        anon.as_ref().map(Cookie::value),
    )
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// `Sec-Fetch-Site` and `Origin` checks: cheap, and they stop cross-site posts even
/// before a token is looked at.
fn cross_site(req: &ServiceRequest, state: &AppState) -> bool {
    if let Some(site) = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let scheme = if super::client::is_https(req.request()) {
        "https"
    } else {
        "http"
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let own = format!("{scheme}://{host}");
    origin != own && origin != state.config.public_origin()
}

fn submitted_form_token(body: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == FIELD)
        .map(|(_, v)| v.into_owned())
}

pub(crate) async fn read_body(req: &mut ServiceRequest, limit: usize) -> Result<Bytes, AppError> {
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| AppError::Invalid(format!("could not read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn refuse(req: ServiceRequest, error: AppError) -> ServiceResponse<BoxBody> {
    req.error_response(error)
}

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(refuse(req, AppError::internal("application state missing")));
    };
    // The API authenticates by bearer token only, never by cookie: nothing to forge there.
    if is_unsafe(req.method()) && !req.path().starts_with("/api/") {
        if cross_site(&req, &state) {
            return Ok(refuse(
                req,
                AppError::Forbidden("Cross-site requests are not accepted.".into()),
            ));
        }
        // A request with a session cookie must carry that session's token: a token for an
        // anonymous cookie someone managed to plant does not count.
        let binding = binding_of(req.cookie(SESSION_COOKIE), req.cookie(ANON_COOKIE));
        let header_token = req
            .headers()
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let submitted = match header_token {
            Some(t) => Some(t),
            None if req.content_type() == "application/x-www-form-urlencoded" => {
                let body = match read_body(&mut req, state.config.max_body_bytes).await {
                    Ok(body) => body,
                    Err(e) => return Ok(refuse(req, e)),
                };
                let token = submitted_form_token(&body);
                req.set_payload(Payload::from(body));
                token
            }
            // A file upload's body is streamed to disk, not read here: its form carries
            // the token in its address instead.
            None if req.content_type() == "multipart/form-data" => {
                url::form_urlencoded::parse(req.query_string().as_bytes())
                    .find(|(k, _)| k == FIELD)
                    .map(|(_, v)| v.into_owned())
            }
            None => None,
        };
        let valid = match (binding, submitted) {
            (Some(b), Some(t)) => state.keys.csrf_valid(&b, &t),
            _ => false,
        };
        if !valid {
            return Ok(refuse(
                req,
                AppError::Forbidden(
                    "This form has expired or did not come from Gatehouse. Reload the page and try again."
                        .into(),
                ),
            ));
        }
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    let new_anon = res.request().extensions().get::<NewAnon>().cloned();
    if let Some(NewAnon(value)) = new_anon {
        let cookie = Cookie::build(ANON_COOKIE, value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(state.config.secure_cookies())
            .finish();
        res.response_mut().add_cookie(&cookie)?;
    }
    Ok(res)
}
