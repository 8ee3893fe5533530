//! `GET /events`: the live-update stream of a signed-in operator (Server-Sent Events).
//! It carries change notices (`{table, key, action, actor, at}`, never row values) of the
//! tables the operator may read, and under a read rule only those of rows inside it
//! (`events::sight`); the hub (`events::live`) catches a reconnecting browser up from its
//! `Last-Event-ID`, checked the same way.

use actix_web::http::header::{CACHE_CONTROL, ContentEncoding, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::catalog::CatalogCache;
use crate::error::AppError;
use crate::events::live::Hub;
use crate::events::sight::Viewer;
use crate::identity::permissions::Access;
use crate::state::AppState;

pub async fn events(
    req: HttpRequest,
    access: Access,
    hub: web::Data<Hub>,
    state: web::Data<AppState>,
    catalogs: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let last = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string());
    let (rights, cache) = (access.rights.clone(), catalogs.clone());
    let view = state
        .db
        .run(move |conn| Ok(rights.catalog_view(&cache.get(conn)?)))
        .await?;
    let viewer = Viewer::new(access.rights.clone(), &view);
    let opened = hub.into_inner().subscribe(last.as_deref(), viewer).await;
    Ok(match opened {
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
    })
}
