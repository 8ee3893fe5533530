//! `GET /events`: the live-update stream of a signed-in operator (Server-Sent Events).
//! It carries change notices (`{table, key, action, actor, at}`, never row values) of the
//! tables the operator may read (and reads without a row rule), checked per notice; the hub (`events::live`) catches a
//! reconnecting browser up from its `Last-Event-ID`.

use actix_web::http::header::{CACHE_CONTROL, ContentEncoding, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::events::live::Hub;
use crate::identity::permissions::{Access, Action};

pub async fn events(req: HttpRequest, access: Access, hub: web::Data<Hub>) -> HttpResponse {
    let last = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string());
    let rights = access.rights.clone();
    // A notice names a row: under a read rule it could name one outside it, so the tables
    // an operator reads through a rule send them no notices (fail closed; see the README).
    let may_read = Box::new(move |table: &str| {
        rights.can(table, Action::Read) && !rights.has_rule(table, Action::Read)
    });
    match hub.into_inner().subscribe(last.as_deref(), may_read) {
        Ok(stream) => HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header((CACHE_CONTROL, "no-cache"))
            // Compression would hold events back until a block fills.
            .insert_header(ContentEncoding::Identity)
            .insert_header(("X-Accel-Buffering", "no"))
            .streaming(stream),
        Err(_) => HttpResponse::ServiceUnavailable()
            .insert_header((RETRY_AFTER, "10"))
            .content_type("text/plain; charset=utf-8")
            .body("This instance serves as many live-update streams as it may; try again shortly."),
    }
}
