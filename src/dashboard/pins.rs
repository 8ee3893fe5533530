//! Table charts pinned to the dashboard: by an operator for themselves, or by an
//! administrator for everyone. A pin keeps the chart's query; each viewer's dashboard draws
//! it again under their own rights (a pin on a table they may not read is not shown), from
//! the same short-lived aggregate cache as the chart tab. Pinning and unpinning are audited.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use jiff::tz::TimeZone;

use crate::audit::Actor;
use crate::catalog::{Catalog, CatalogCache};
use crate::dashboard::chart::{ChartView, series_on};
use crate::dashboard::store::{self, Pin};
use crate::db::DbConn;
use crate::engine::aggregate::{AggregateCache, Cached, ChartQuery};
use crate::engine::keys::encode_part;
use crate::error::AppError;
use crate::identity::Access;
use crate::identity::permissions::Rights;
use crate::state::AppState;
use crate::web::form::{Pairs, get};
use crate::web::page;
use crate::web::table::VisibleTable;

/// A pinned chart on one operator's dashboard.
pub struct PinView {
    pub id: String,
    pub title: String,
    pub table: String,
    /// The chart tab with the pin's query.
    pub link: String,
    pub chart: Option<ChartView>,
    /// Why the chart cannot be drawn any more (a column gone or hidden).
    pub problem: Option<String>,
    pub everyone: bool,
    /// Who pinned it.
    pub by: String,
    pub removable: bool,
}

/// Every cache entry of pinned sections starts with this.
const PREFIX: &str = "pins:";

fn key(access: &Access, zone: &TimeZone) -> String {
    let zone = zone.iana_name().unwrap_or("UTC");
    format!("{PREFIX}{}:{}:{zone}", access.user.id, access.rights.role)
}

/// The operator's pinned charts, from the cache without a database trip when fresh.
pub async fn pinned(
    state: &AppState,
    cache: &web::Data<AggregateCache>,
    catalog: &web::Data<CatalogCache>,
    access: &Access,
    zone: &TimeZone,
) -> Result<Arc<Vec<PinView>>, AppError> {
    let key = key(access, zone);
    match cache.lookup::<Vec<PinView>>(&key) {
        Cached::Fresh(p) | Cached::Stale(p) => return Ok(p),
        Cached::Miss => {}
    }
    let (cache, catalog, access) = (cache.clone(), catalog.clone(), access.clone());
    let zone = zone.clone();
    state
        .db
        .read(move |conn| {
            let visible = access.rights.catalog_view(&catalog.get(conn)?);
            let pins = store::pins_for(conn, &access.user.id)?;
            let views = pin_views(conn, &cache, &visible, &access, pins, &zone);
            let views = Arc::new(views?);
            cache.put(key, views.clone());
            Ok(views)
        })
        .await
}

fn pin_views(
    conn: &mut DbConn,
    cache: &AggregateCache,
    catalog: &Catalog,
    access: &Access,
    pins: Vec<Pin>,
    zone: &TimeZone,
) -> Result<Vec<PinView>, AppError> {
    let mut views = Vec::new();
    for (i, pin) in pins.into_iter().enumerate() {
        // A table this role may not read is not mentioned at all.
        let Some(table) = catalog.tables.get(&pin.table_name) else {
            continue;
        };
        let everyone = pin.owner_id.is_none();
        let mut view = PinView {
            link: format!("/data/{}/chart?{}", encode_part(&table.name), pin.query),
            id: pin.id,
            title: pin.title,
            table: table.name.clone(),
            chart: None,
            problem: None,
            everyone,
            by: pin.created_by,
            removable: !everyone || access.rights.admin_areas,
        };
        // Read in the viewer's zone, as a saved view is.
        match ChartQuery::parse_in(&pin.query, table, zone) {
            Ok(q) if q.grouping.is_some() => {
                let s = series_on(conn, cache, &access.rights.role, table, &q)?;
                let id = format!("pin-{}", i + 1);
                view.chart = Some(ChartView::of_series(&id, &view.title, table, &q, &s));
            }
            Ok(_) => view.problem = Some("This table has no column to chart by.".into()),
            Err(AppError::Invalid(why)) => {
                view.problem = Some(format!("This chart cannot be drawn: {why}"))
            }
            Err(e) => return Err(e),
        }
        views.push(view);
    }
    Ok(views)
}

/// A submitted pin: its title, query and whether it is for everyone.
struct PinForm {
    title: String,
    query: String,
    everyone: bool,
}

impl PinForm {
    fn read(pairs: &Pairs, visible: &VisibleTable, rights: &Rights) -> Result<PinForm, AppError> {
        let title = get(pairs, "title").unwrap_or("").trim().to_string();
        if title.is_empty() || title.chars().count() > 100 {
            return Err(AppError::Invalid(
                "Give the chart a title of 1 to 100 characters.".into(),
            ));
        }
        let q = ChartQuery::parse(get(pairs, "query").unwrap_or(""), &visible.table)?;
        if q.grouping.is_none() {
            return Err(AppError::Invalid(
                "This table has no column to chart by.".into(),
            ));
        }
        let everyone = match get(pairs, "for").unwrap_or("me") {
            "me" => false,
            "everyone" if rights.admin_areas => true,
            "everyone" => {
                return Err(AppError::Forbidden(
                    "Only administrators may pin charts for everyone.".into(),
                ));
            }
            other => {
                return Err(AppError::Invalid(format!(
                    "'{other}' is not me or everyone."
                )));
            }
        };
        Ok(PinForm {
            title,
            query: q.to_query(),
            everyone,
        })
    }
}

pub async fn pin(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    cache: web::Data<AggregateCache>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    let visible = VisibleTable::of(&req, &access.rights).await?;
    let form = PinForm::read(&pairs, &visible, &access.rights)?;
    let (table, actor) = (visible.table.name.clone(), Actor::from(&access.user));
    let owner = (!form.everyone).then(|| access.user.id.clone());
    state
        .db
        .run(move |conn| {
            let owner = owner.as_deref();
            Ok(store::add_pin(
                conn,
                &actor,
                owner,
                &table,
                &form.title,
                &form.query,
            )?)
        })
        .await?;
    cache.forget(PREFIX);
    Ok(page::done(
        &req,
        "/",
        "success",
        "Chart pinned to the dashboard.",
    ))
}

pub async fn unpin(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    cache: web::Data<AggregateCache>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (user, admin) = (access.user.id.clone(), access.rights.admin_areas);
    let actor = Actor::from(&access.user);
    state
        .db
        .run(move |conn| {
            let pin = store::find_pin(conn, &id)?.ok_or(AppError::NotFound)?;
            match &pin.owner_id {
                Some(owner) if *owner != user => return Err(AppError::NotFound),
                None if !admin => {
                    return Err(AppError::Forbidden(
                        "Only administrators may unpin a chart pinned for everyone.".into(),
                    ));
                }
                _ => {}
            }
            Ok(store::remove_pin(conn, &actor, &pin)?)
        })
        .await?;
    cache.forget(PREFIX);
    Ok(page::done(&req, "/", "success", "Chart unpinned."))
}
