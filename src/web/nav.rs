//! The navigation's "Data" part: the tables the operator may read and, under each, the
//! saved views they may open (their own and those shared with their role). Built from the
//! caches — the catalog, the role's rights, the view directory — so a page costs no trip to
//! the database for it; [`refresh_views`] reads the directory again when it is stale.

use std::sync::Arc;

use actix_web::{HttpMessage, HttpRequest, web};

use crate::catalog::CatalogCache;
use crate::engine::keys::encode_part;
use crate::engine::saved::ViewDirectory;
use crate::error::AppError;
use crate::identity::permissions::{Action, Rights};
use crate::identity::session::CurrentUser;
use crate::state::AppState;

/// Above this many tables the navigation offers a filter box.
pub const FILTER_ABOVE: usize = 15;

pub struct NavTable {
    pub name: String,
    pub href: String,
    /// `aria-current` when the page is this table's: `page` on its list, `true` on a
    /// record or when the list is open with one of its views (which is then the page).
    pub current: Option<&'static str>,
    pub views: Vec<NavView>,
    /// The role may create rows here (the palette offers "new row" only then).
    pub can_create: bool,
}

pub struct NavView {
    pub name: String,
    pub href: String,
    /// The list is open with this view.
    pub current: bool,
}

/// The tables and views of the operator the request is for (none before sign-in, or when
/// the role's rights were not loaded).
pub fn data_nav(req: &HttpRequest, user: Option<&CurrentUser>) -> Vec<NavTable> {
    let Some(user) = user else {
        return Vec::new();
    };
    let Some(rights) = req.extensions().get::<Arc<Rights>>().cloned() else {
        return Vec::new();
    };
    let Some(catalog) = req.app_data::<web::Data<CatalogCache>>() else {
        return Vec::new();
    };
    let directory = req
        .app_data::<web::Data<ViewDirectory>>()
        .map(|d| d.snapshot())
        .unwrap_or_default();
    let path = req.path();
    let open_view: Option<i64> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "view")
        .and_then(|(_, v)| v.parse().ok());
    catalog
        .current()
        .tables
        .iter()
        .filter(|(name, _)| rights.can(name, Action::Read))
        .map(|(name, table)| {
            let href = format!("/data/{}", encode_part(name));
            let on_list = path == href;
            let views: Vec<NavView> = directory
                .iter()
                .filter(|v| v.table_name == *name && v.visible_to(&user.id, &rights.role))
                .map(|v| NavView {
                    name: v.name.clone(),
                    href: format!("{href}?view={}", v.id),
                    current: on_list && open_view == Some(v.id),
                })
                .collect();
            let current = if on_list && !views.iter().any(|v| v.current) {
                Some("page")
            } else if on_list || path.starts_with(&format!("{href}/")) {
                Some("true")
            } else {
                None
            };
            NavTable {
                can_create: !table.is_view && rights.can(name, Action::Create),
                name: name.clone(),
                href,
                current,
                views,
            }
        })
        .collect()
}

/// Read the view directory again if it is stale and no other request is doing so: one
/// trip every few seconds (or after a change on this instance), not one per page.
pub async fn refresh_views(req: &HttpRequest) -> Result<(), AppError> {
    let Some(directory) = req.app_data::<web::Data<ViewDirectory>>().cloned() else {
        return Ok(());
    };
    let Some(generation) = directory.claim() else {
        return Ok(());
    };
    let state = crate::state::app_data::<AppState>(req)?;
    state
        .db
        .run(move |conn| Ok(directory.refresh(conn, generation)?))
        .await
}

/// A view was created, changed or deleted on this instance: the next page reads them again.
pub fn views_changed(req: &HttpRequest) {
    if let Some(directory) = req.app_data::<web::Data<ViewDirectory>>() {
        directory.forget();
    }
}
