//! The one application error. A handler returns `AppError`; `web::errors` turns it into a
//! full page, an htmx toast or JSON, depending on who asked. Causes are logged, never shown.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("sign-in required")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("too many requests: {0}")]
    TooManyRequests(String),
    /// A rate limit: try again after this many seconds (sent as `Retry-After`).
    #[error("rate limited for {0} s")]
    RateLimited(u64),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// What the error renderer needs, carried in the response's extensions.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub status: StatusCode,
    pub title: &'static str,
    /// Safe to show to the user.
    pub message: String,
    /// Logged with the request id, never shown.
    pub cause: Option<String>,
}

impl AppError {
    pub fn info(&self) -> ErrorInfo {
        let (title, message, cause) = match self {
            AppError::NotFound => (
                "Not found",
                "The page you asked for does not exist.".to_string(),
                None,
            ),
            AppError::Unauthorized => (
                "Sign-in required",
                "Please sign in to continue.".to_string(),
                None,
            ),
            AppError::Forbidden(m) => ("Forbidden", m.clone(), None),
            AppError::Conflict(m) => ("Conflict", m.clone(), None),
            AppError::Invalid(m) => ("Bad request", m.clone(), None),
            AppError::PayloadTooLarge => (
                "Request too large",
                "The request body is larger than this server accepts.".to_string(),
                None,
            ),
            AppError::TooManyRequests(m) => ("Too many requests", m.clone(), None),
            AppError::RateLimited(secs) => (
                "Too many requests",
                format!("This token has made too many requests. Try again in {secs} seconds."),
                None,
            ),
            AppError::Unavailable(cause) => (
                "Service unavailable",
                "The database is not answering right now. Try again in a moment.".to_string(),
                Some(cause.clone()),
            ),
            AppError::Internal(cause) => (
                "Something went wrong",
                "An unexpected error occurred. It has been logged.".to_string(),
                Some(cause.clone()),
            ),
        };
        ErrorInfo {
            status: self.status_code(),
            title,
            message,
            cause,
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Invalid(_) => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooManyRequests(_) | AppError::RateLimited(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let info = self.info();
        let mut res = HttpResponse::build(info.status)
            .content_type("text/plain; charset=utf-8")
            .body(info.message.clone());
        res.extensions_mut().insert(info);
        if let AppError::RateLimited(secs) = self
            && let Ok(v) = actix_web::http::header::HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, v);
        }
        if matches!(self, AppError::Unauthorized) {
            res.headers_mut().insert(
                actix_web::http::header::WWW_AUTHENTICATE,
                actix_web::http::header::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => AppError::NotFound,
            other => AppError::Internal(format!("database: {other}")),
        }
    }
}
