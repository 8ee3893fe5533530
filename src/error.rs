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
    /// An API request without a usable token: the message says which (missing, unknown,
    /// revoked, expired) and nothing more.
    #[error("token refused: {0}")]
    TokenRefused(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Well-formed but not acceptable (a form field the database cannot store).
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    #[error("request body too large")]
    PayloadTooLarge,
    /// A body over a limit of its own (an import's `--import-max-bytes`): the message names it.
    #[error("request body too large: {0}")]
    TooLarge(String),
    #[error("too many requests: {0}")]
    TooManyRequests(String),
    /// A rate limit: try again after this many seconds (sent as `Retry-After`).
    #[error("rate limited for {0} s")]
    RateLimited(u64),
    /// The database (or another dependency) is not answering; the source says why.
    #[error("service unavailable")]
    Unavailable(#[source] Cause),
    /// The database refused the work for a reason outside Gatehouse (disk full, read-only,
    /// locked, connection lost): nothing was saved; the fault says why, in plain words.
    #[error("database refused: {}", fault.state())]
    Refused {
        fault: DbFault,
        #[source]
        cause: Cause,
    },
    /// A fault of ours; the source is logged with the request id, never shown.
    #[error("internal error")]
    Internal(#[source] Cause),
}

/// A database fault that is not Gatehouse's doing and not the request's: the one place
/// where SQLite's and Postgres's words for them are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFault {
    /// SQLite "database or disk is full" (also `max_page_count` reached); Postgres 53100.
    DiskFull,
    /// SQLite "attempt to write a readonly database"; Postgres 25006.
    ReadOnly,
    /// SQLite "database is locked" after the busy timeout.
    Busy,
    /// Postgres: the server ended the connection (57P01 admin shutdown, a crash, a network
    /// cut). The pool replaces the connection; the transaction was rolled back.
    ConnectionLost,
}

impl DbFault {
    /// Which fault, if any, a diesel error is.
    pub fn of(e: &diesel::result::Error) -> Option<DbFault> {
        use diesel::result::{DatabaseErrorKind, Error};
        let Error::DatabaseError(kind, info) = e else {
            return None;
        };
        let message = info.message().to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| message.contains(w));
        if has(&[
            "database or disk is full",
            "no space left on device",
            "disk full",
        ]) {
            Some(DbFault::DiskFull)
        } else if matches!(kind, DatabaseErrorKind::ReadOnlyTransaction)
            || has(&[
                "attempt to write a readonly database",
                "read-only transaction",
            ])
        {
            Some(DbFault::ReadOnly)
        } else if has(&["database is locked", "database table is locked"]) {
            Some(DbFault::Busy)
        } else if matches!(
            kind,
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
        ) || has(&[
            "terminating connection due to administrator command",
            "server closed the connection unexpectedly",
            "no connection to the server",
            "could not receive data from server",
        ]) {
            Some(DbFault::ConnectionLost)
        } else {
            None
        }
    }

    /// What the operator reads.
    pub fn reason(self) -> &'static str {
        match self {
            DbFault::DiskFull => "The database's disk is full: nothing was saved.",
            DbFault::ReadOnly => "The database is read-only: nothing was saved.",
            DbFault::Busy => "The database is busy: nothing was saved; try again.",
            DbFault::ConnectionLost => {
                "The connection to the database was lost: nothing was saved; try again."
            }
        }
    }

    /// The state in a few words, for `/readyz` and the log.
    pub fn state(self) -> &'static str {
        match self {
            DbFault::DiskFull => "database disk full",
            DbFault::ReadOnly => "database read-only",
            DbFault::Busy => "database busy",
            DbFault::ConnectionLost => "database connection lost",
        }
    }

    /// Whether the fault is a state of the database that lasts (readiness reports it), not
    /// one broken connection the pool already replaces.
    pub fn lasts(self) -> bool {
        !matches!(self, DbFault::ConnectionLost)
    }
}

/// The cause of an internal or unavailable error, kept as an error (not a string) so its
/// whole `source()` chain reaches the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

impl AppError {
    /// An internal error described in words (no underlying error to keep).
    pub fn internal(message: impl Into<String>) -> AppError {
        AppError::Internal(message.into().into())
    }

    /// An internal error caused by `source`.
    pub fn caused_by(source: impl std::error::Error + Send + Sync + 'static) -> AppError {
        AppError::Internal(Box::new(source))
    }
}

/// An error and every `source()` under it, joined by ": ".
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
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
    /// The database fault that refused the request: `db::Db` records it for readiness and
    /// logs when a lasting one begins and ends, so each request logs it at debug only.
    pub fault: Option<DbFault>,
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
            AppError::TokenRefused(m) => ("Unauthorized", (*m).to_string(), None),
            AppError::Forbidden(m) => ("Forbidden", m.clone(), None),
            AppError::Conflict(m) => ("Conflict", m.clone(), None),
            AppError::Invalid(m) => ("Bad request", m.clone(), None),
            AppError::Unprocessable(m) => ("Not saved", m.clone(), None),
            AppError::PayloadTooLarge => (
                "Request too large",
                "The request body is larger than this server accepts.".to_string(),
                None,
            ),
            AppError::TooLarge(m) => ("Request too large", m.clone(), None),
            AppError::TooManyRequests(m) => ("Too many requests", m.clone(), None),
            AppError::RateLimited(secs) => (
                "Too many requests",
                format!("This token has made too many requests. Try again in {secs} seconds."),
                None,
            ),
            AppError::Unavailable(cause) => (
                "Service unavailable",
                "The database is not answering right now. Try again in a moment.".to_string(),
                Some(chain(cause.as_ref())),
            ),
            AppError::Refused { fault, cause } => (
                "Service unavailable",
                fault.reason().to_string(),
                Some(chain(cause.as_ref())),
            ),
            AppError::Internal(cause) => (
                "Something went wrong",
                "An unexpected error occurred. It has been logged.".to_string(),
                Some(chain(cause.as_ref())),
            ),
        };
        ErrorInfo {
            status: self.status_code(),
            title,
            message,
            cause,
            fault: match self {
                AppError::Refused { fault, .. } => Some(*fault),
                _ => None,
            },
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Unauthorized | AppError::TokenRefused(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Invalid(_) => StatusCode::BAD_REQUEST,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::PayloadTooLarge | AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooManyRequests(_) | AppError::RateLimited(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            AppError::Unavailable(_) | AppError::Refused { .. } => StatusCode::SERVICE_UNAVAILABLE,
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
        if matches!(self, AppError::Unauthorized | AppError::TokenRefused(_)) {
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
            other => match DbFault::of(&other) {
                Some(fault) => AppError::Refused {
                    fault,
                    cause: Box::new(other),
                },
                None => AppError::Internal(Box::new(other)),
            },
        }
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        AppError::Unavailable(Box::new(e))
    }
}
