//! The home page every operator lands on after signing in: cards with the figures that
//! matter (table sizes, changes, live operators; for administrators webhook deliveries,
//! failing endpoints, the mail queue and failed sign-ins), charts of changes and
//! deliveries, and the table charts pinned to it. Each table also has a chart tab.
//!
//! - `summary`: the cards and charts of a role, cached for a few seconds;
//! - `store`: the queries over Gatehouse's own tables;
//! - `chart`: the chart tab of a table; `pins`: charts pinned to the dashboard;
//! - `svg`: charts as accessible SVG.

pub mod chart;
pub mod pins;
mod store;
mod summary;
mod svg;

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::catalog::CatalogCache;
use crate::dashboard::pins::PinView;
use crate::dashboard::summary::Rendered;
use crate::engine::aggregate::AggregateCache;
use crate::engine::store::CountCache;
use crate::error::AppError;
use crate::identity::{Access, CurrentUser};
use crate::state::AppState;
use crate::web::csrf;
use crate::web::page::{self, Layout, Page};
use crate::web::when::Presenter;

#[derive(Template)]
#[template(path = "dashboard/index.html")]
struct HomePage {
    layout: Layout,
    user: CurrentUser,
    backend: &'static str,
    summary: Arc<Rendered>,
    pins: Arc<Vec<PinView>>,
    csrf: String,
}

pub async fn index(
    req: HttpRequest,
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
    cache: web::Data<AggregateCache>,
    catalog: web::Data<CatalogCache>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let zone = Presenter::of(&req);
    let in_zone = zone.zone.clone();
    let summary = summary_of(&state, &cache, &catalog, &counts, &access, zone).await?;
    let pins = pins::pinned(&state, &cache, &catalog, &access, &in_zone).await?;
    page::ok(&HomePage {
        layout,
        backend: state.db.backend().name(),
        user: access.user,
        summary,
        pins,
        csrf: csrf::token(&req),
    })
}

/// The role's summary, as HTML: from the cache when fresh, else gathered in one database
/// trip and rendered once.
async fn summary_of(
    state: &AppState,
    cache: &web::Data<AggregateCache>,
    catalog: &web::Data<CatalogCache>,
    counts: &web::Data<CountCache>,
    access: &Access,
    zone: Presenter,
) -> Result<Arc<Rendered>, AppError> {
    let admin = access.rights.admin_areas;
    let mut key = summary::key(&access.rights.role, admin, &zone.zone);
    if access.rights.has_rules() {
        // Row rules bind `$me`: two operators of the role may count different rows.
        key = format!("{key}:{}", access.user.id);
    }
    if let Some(s) = summary::cached(cache, &key) {
        return Ok(s);
    }
    let (cache, catalog, counts) = (cache.clone(), catalog.clone(), counts.clone());
    let rights = access.rights.clone();
    // An aggregate: on the read replica when there is one (`Db::read`).
    state
        .db
        .read(move |conn| {
            let visible = rights.catalog_view(&catalog.get(conn)?);
            match summary::gather(conn, &visible, &counts, admin, &zone.zone)
                .and_then(|s| summary::render(&s, &zone))
            {
                Ok(s) => {
                    let s = Arc::new(s);
                    cache.put(key, s.clone());
                    Ok(s)
                }
                Err(e) => {
                    cache.release(&key);
                    Err(e)
                }
            }
        })
        .await
}
