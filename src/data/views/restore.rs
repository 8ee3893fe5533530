//! The restore pages: the confirmation of a version restore (the diff against the row as
//! it is now), and a table's rows deleted through Gatehouse.

use askama::Template;

use crate::catalog::Table;
use crate::data::views::table_path;
use crate::engine::store::{DeletedRow, Row, VersionPlan};
use crate::engine::value::{Value, display_in};
use crate::web::page::Layout;
use crate::web::when::{Presenter, When};

pub struct DiffLine {
    pub column: String,
    pub from: String,
    pub to: String,
}

fn shown(value: &Value, column: &crate::catalog::Column, zone: &jiff::tz::TimeZone) -> String {
    if value.is_null() {
        "NULL".into()
    } else {
        display_in(value, column, zone)
    }
}

#[derive(Template)]
#[template(path = "data/restore.html")]
pub struct RestorePage {
    pub layout: Layout,
    pub table: String,
    pub path: String,
    pub key_path: String,
    pub entry_id: String,
    pub entry_at: When,
    pub entry_by: String,
    pub version: String,
    pub lines: Vec<DiffLine>,
}

impl RestorePage {
    pub fn new(layout: Layout, table: &Table, plan: &VersionPlan) -> RestorePage {
        let at = Presenter::new(layout.settings.zone());
        let lines = plan
            .values
            .iter()
            .map(|(i, v)| {
                let c = &table.columns[*i];
                DiffLine {
                    column: c.name.clone(),
                    from: plan
                        .current
                        .values
                        .get(*i)
                        .map(|cur| shown(cur, c, &at.zone))
                        .unwrap_or_default(),
                    to: shown(v, c, &at.zone),
                }
            })
            .collect();
        RestorePage {
            layout,
            table: table.name.clone(),
            path: table_path(&table.name),
            key_path: plan.current.key_path(),
            entry_id: plan.source.id.clone(),
            entry_at: at.at(plan.source.created_at),
            entry_by: plan.source.user_email.clone(),
            version: plan.current.version(),
            lines,
        }
    }
}

pub struct DeletedItem {
    pub entry_id: String,
    pub key: String,
    pub at: When,
    pub who: String,
    pub summary: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "data/deleted.html")]
pub struct DeletedPage {
    pub layout: Layout,
    pub table: String,
    pub path: String,
    pub items: Vec<DeletedItem>,
    pub can_restore: bool,
    pub error: Option<String>,
    pub prev: Option<String>,
    pub next: Option<String>,
}

/// A deleted row's first columns as they were, for the list.
pub fn deleted_item(table: &Table, d: &DeletedRow, at: &Presenter) -> DeletedItem {
    DeletedItem {
        entry_id: d.entry.id.clone(),
        key: d.entry.row_key.clone(),
        at: at.at(d.entry.created_at),
        who: d.entry.user_email.clone(),
        summary: d
            .values
            .iter()
            .take(6)
            .map(|(i, v)| {
                let c = &table.columns[*i];
                (c.name.clone(), shown(v, c, &at.zone))
            })
            .collect(),
    }
}

/// Where a restored row now is.
pub fn row_link(table: &Table, row: &Row) -> String {
    format!("{}/{}", table_path(&table.name), row.key_path())
}
