//! Read-your-writes with a read replica: a client whose request changed something gets a
//! short-lived `gh_wrote` cookie, and while it has one its requests read the primary (the
//! replica may lag behind the write it just made). Only installed with a replica. A POST
//! that changes nothing (a read-only SQL console run) says so with `read_only`.

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};

use crate::db::replica::{self, READ_YOUR_WRITES};
use crate::state::{AppState, app_data};

pub const COOKIE: &str = "gh_wrote";

/// Marks a request whose method writes but whose handler changed nothing.
#[derive(Clone, Copy)]
struct ReadOnly;

/// This request changed nothing: its client's later reads may still use the replica.
pub fn read_only(req: &HttpRequest) {
    req.extensions_mut().insert(ReadOnly);
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let pinned = req.cookie(COOKIE).is_some();
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let secure = app_data::<AppState>(req.request())
        .map(|s| s.config.secure_cookies())
        .unwrap_or(true);
    let mut res = replica::scoped(pinned, next.call(req)).await?;
    let changed_nothing = res.request().extensions().contains::<ReadOnly>();
    if writes && !changed_nothing && res.status().as_u16() < 400 {
        let marker = Cookie::build(COOKIE, "1")
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Lax)
            .max_age(time::Duration::seconds(READ_YOUR_WRITES.as_secs() as i64))
            .finish();
        res.response_mut().add_cookie(&marker)?;
    }
    Ok(res)
}
