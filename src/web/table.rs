//! `VisibleTable`: the table a request's path names, as the operator's role sees it — the
//! path read once (raw, so names and keys holding `/` or `,` survive), the catalog view
//! with unreadable tables and hidden columns gone, and the table looked up in it. The data
//! pages and the API both start here.

use std::sync::Arc;

use actix_web::HttpRequest;

use crate::catalog::{Catalog, CatalogCache, Table};
use crate::engine::keys;
use crate::error::AppError;
use crate::identity::permissions::Rights;
use crate::state::{AppState, app_data};

pub struct VisibleTable {
    /// The whole catalog as this role sees it (for foreign-key labels and related rows).
    pub catalog: Arc<Catalog>,
    pub table: Arc<Table>,
    /// The raw (still percent-encoded) `{key}` segment, when the route has one.
    pub key: Option<String>,
}

/// What to answer for a table that exists but the role may not read.
enum Unreadable {
    /// Pages: as if it did not exist, so existence does not leak.
    NotFound,
    /// The API says why, as its callers are configured by administrators.
    Forbidden,
}

impl VisibleTable {
    /// For the pages: a table the role may not read is "not found".
    pub async fn of(req: &HttpRequest, rights: &Arc<Rights>) -> Result<VisibleTable, AppError> {
        Self::resolve(req, rights, Unreadable::NotFound).await
    }

    /// For the API: a table the token's role may not read is 403, one that does not exist 404.
    pub async fn of_token(
        req: &HttpRequest,
        rights: &Arc<Rights>,
    ) -> Result<VisibleTable, AppError> {
        Self::resolve(req, rights, Unreadable::Forbidden).await
    }

    async fn resolve(
        req: &HttpRequest,
        rights: &Arc<Rights>,
        unreadable: Unreadable,
    ) -> Result<VisibleTable, AppError> {
        let name = keys::decode_segment(raw_param(req, "table").ok_or(AppError::NotFound)?)?;
        let key = raw_param(req, "key").map(str::to_string);
        let (state, cache) = (app_data::<AppState>(req)?, app_data::<CatalogCache>(req)?);
        let rights = rights.clone();
        // A catalog checked lately needs no connection: no hop through the blocking pool.
        let (catalog, table) = match cache.fresh() {
            Some(full) => pick(&full, &rights, &name, unreadable)?,
            None => {
                state
                    .db
                    .run(move |conn| pick(&cache.get(conn)?, &rights, &name, unreadable))
                    .await?
            }
        };
        Ok(VisibleTable {
            catalog,
            table,
            key,
        })
    }
}

/// The role's view of the catalog and the named table in it.
fn pick(
    full: &Arc<Catalog>,
    rights: &Rights,
    name: &str,
    unreadable: Unreadable,
) -> Result<(Arc<Catalog>, Arc<Table>), AppError> {
    let view = rights.catalog_view(full);
    match (view.tables.get(name).cloned(), unreadable) {
        (Some(t), _) => Ok((view, t)),
        (None, Unreadable::Forbidden) if full.tables.contains_key(name) => Err(
            AppError::Forbidden(format!("This token's role may not read {name}.")),
        ),
        (None, _) => Err(AppError::NotFound),
    }
}

/// The raw path segment matched by `{name}` in the request's route pattern, read from the
/// undecoded path (the router's own values are already percent-decoded).
pub fn raw_param<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    let pattern = req.match_pattern()?;
    let wanted = format!("{{{name}}}");
    let index = pattern.split('/').position(|s| s == wanted)?;
    req.path().split('/').nth(index)
}
