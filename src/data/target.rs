//! The preamble every data handler shares: the table the path names as the operator's role
//! sees it, the right the action needs, (for one row's pages) the row's key from the path,
//! and the operator's time zone.

use std::sync::Arc;

use actix_web::HttpRequest;

use crate::catalog::{Catalog, Table};
use crate::engine::keys;
use crate::engine::value::Value;
use crate::error::AppError;
use crate::identity::permissions::{Access, Action};
use crate::web::page;
use crate::web::table::VisibleTable;

/// A table the role may read and, where asked, act on.
pub struct Target {
    pub catalog: Arc<Catalog>,
    pub table: Arc<Table>,
    /// The operator's time zone (what the record form shows and reads times in).
    pub zone: jiff::tz::TimeZone,
}

/// One row's target: the table and the row's key parsed from the path.
pub struct Keyed {
    pub catalog: Arc<Catalog>,
    pub table: Arc<Table>,
    pub key: Vec<Value>,
    pub zone: jiff::tz::TimeZone,
}

impl Target {
    /// The table, refused (403) unless the role may `action` on it; `None` only reads.
    pub async fn of(
        req: &HttpRequest,
        access: &Access,
        action: Option<Action>,
    ) -> Result<Target, AppError> {
        let (VisibleTable { catalog, table, .. }, zone) = visible(req, access, action).await?;
        Ok(Target {
            catalog,
            table,
            zone,
        })
    }
}

impl Keyed {
    /// The row's table and key, refused (403) unless the role may `action` on the table;
    /// `None` only reads. A key that does not parse is "not found".
    pub async fn of(
        req: &HttpRequest,
        access: &Access,
        action: Option<Action>,
    ) -> Result<Keyed, AppError> {
        let (visible, zone) = visible(req, access, action).await?;
        let key = keys::from_path(visible.key.as_deref(), &visible.table)?;
        Ok(Keyed {
            catalog: visible.catalog,
            table: visible.table,
            key,
            zone,
        })
    }
}

async fn visible(
    req: &HttpRequest,
    access: &Access,
    action: Option<Action>,
) -> Result<(VisibleTable, jiff::tz::TimeZone), AppError> {
    let visible = VisibleTable::of(req, &access.rights).await?;
    if let Some(action) = action {
        access.require(&visible.table, action)?;
    }
    let zone = page::zone(req, &access.user.id).await?;
    Ok((visible, zone))
}
