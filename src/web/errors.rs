//! Turns error responses into what the caller can use: a page in the layout with the
//! request id, a toast fragment for htmx, or problem+json for the API. Causes of internal
//! errors are logged here, with the request id, and never sent.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, HttpResponse};
use askama::Template;

use crate::error::{AppError, ErrorInfo};
use crate::identity::MaybeUser;
use crate::state::AppState;
use crate::web::page::Layout;
use crate::web::problem::problem_for_request;
use crate::web::{is_htmx, request_id};

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    info: &'a ErrorInfo,
    request_id: String,
}

#[derive(Template)]
#[template(path = "_partials/toast.html")]
struct Toast<'a> {
    kind: &'a str,
    message: &'a str,
    request_id: String,
}

/// Errors that actix produced itself (bad form encoding, unknown method, payload limits).
fn info_from_status(status: StatusCode) -> ErrorInfo {
    let error = match status {
        StatusCode::NOT_FOUND => AppError::NotFound,
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
        StatusCode::METHOD_NOT_ALLOWED => {
            AppError::Invalid("This address does not accept that method.".into())
        }
        s if s.is_client_error() => {
            AppError::Invalid("The request could not be understood.".into())
        }
        s => AppError::internal(format!("unhandled status {s}")),
    };
    let mut info = error.info();
    info.status = status;
    info
}

fn login_redirect(req: &HttpRequest) -> HttpResponse {
    let next = match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{q}", req.path()),
    };
    let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let location = format!("/login?next={next}");
    if is_htmx(req) {
        HttpResponse::Ok()
            .insert_header(("HX-Redirect", location))
            .finish()
    } else {
        HttpResponse::SeeOther()
            .insert_header(("Location", location))
            .finish()
    }
}

fn render(req: &HttpRequest, info: &ErrorInfo) -> HttpResponse {
    let request_id = request_id::get(req);
    if req.path().starts_with("/api/") {
        return problem_for_request(info.status, info.title, &info.message, &request_id);
    }
    let html = if is_htmx(req) {
        Toast {
            kind: "error",
            message: &info.message,
            request_id,
        }
        .render()
    } else {
        ErrorPage {
            layout: Layout::build(req),
            info,
            request_id,
        }
        .render()
    };
    let mut res = HttpResponse::build(info.status);
    res.content_type("text/html; charset=utf-8");
    if is_htmx(req) {
        res.insert_header(("HX-Retarget", "#toasts"))
            .insert_header(("HX-Reswap", "beforeend"));
    }
    match html {
        Ok(body) => res.body(body),
        Err(e) => {
            tracing::error!(error = %e, "error page failed to render");
            res.content_type("text/plain; charset=utf-8")
                .body(info.message.clone())
        }
    }
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    let known = res.response().extensions().get::<ErrorInfo>().cloned();
    let info = match known {
        Some(info) => info,
        None if res.response().error().is_some()
            || status == StatusCode::NOT_FOUND
                && res
                    .response()
                    .head()
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .is_none() =>
        {
            if let Some(e) = res.response().error() {
                tracing::debug!(error = %e, "request failed");
            }
            info_from_status(status)
        }
        None => return Ok(res),
    };
    if let Some(cause) = &info.cause
        && status.is_server_error()
    {
        if let Some(fault) = info.fault
            && fault.lasts()
        {
            tracing::debug!(%cause, status = status.as_u16(), "request refused by the database");
        } else {
            tracing::error!(%cause, status = status.as_u16(), "request failed");
        }
    }
    if let Some(fault) = info.fault
        && let Some(state) = res.request().app_data::<actix_web::web::Data<AppState>>()
    {
        state.db.refused(fault);
    }
    let (req, old) = res.into_parts();
    let mut new = if status == StatusCode::UNAUTHORIZED && !req.path().starts_with("/api/") {
        login_redirect(&req)
    } else {
        render(&req, &info)
    };
    // Keep headers the handler meant for the client (Retry-After, Set-Cookie …).
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().append(name.clone(), value.clone());
        }
    }
    if new.headers().get(header::CONTENT_TYPE).is_none() {
        new.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    Ok(ServiceResponse::new(req, new))
}

/// The fallback for every address no route matches.
pub async fn not_found(_user: MaybeUser) -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}
