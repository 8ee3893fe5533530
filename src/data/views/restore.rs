//! The restore pages: the confirmation of a version restore (the diff against the row as
//! it is now), and a table's rows deleted through Gatehouse.

use askama::Template;

use crate::audit::Entry;
use crate::catalog::Table;
use crate::data::views::table_path;
use crate::engine::store::{DeletedRow, Row, VersionPlan};
use crate::engine::value::{Value, display};
use crate::web::page::Layout;

pub struct DiffLine {
    pub column: String,
    pub from: String,
    pub to: String,
}

fn shown(value: &Value, column: &crate::catalog::Column) -> String {
    if value.is_null() {
        "NULL".into()
    } else {
        display(value, column)
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
    pub entry_at: String,
    pub entry_by: String,
    pub version: String,
    pub lines: Vec<DiffLine>,
}

impl RestorePage {
    pub fn new(layout: Layout, table: &Table, plan: &VersionPlan) -> RestorePage {
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
                        .map(|cur| shown(cur, c))
                        .unwrap_or_default(),
                    to: shown(v, c),
                }
            })
            .collect();
        RestorePage {
            layout,
            table: table.name.clone(),
            path: table_path(&table.name),
            key_path: plan.current.key_path(),
            entry_id: plan.source.id.clone(),
            entry_at: at(&plan.source),
            entry_by: plan.source.user_email.clone(),
            version: plan.current.version(),
            lines,
        }
    }
}

fn at(e: &Entry) -> String {
    e.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub struct DeletedItem {
    pub entry_id: String,
    pub key: String,
    pub at: String,
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
pub fn deleted_item(table: &Table, d: &DeletedRow) -> DeletedItem {
    DeletedItem {
        entry_id: d.entry.id.clone(),
        key: d.entry.row_key.clone(),
        at: at(&d.entry),
        who: d.entry.user_email.clone(),
        summary: d
            .values
            .iter()
            .take(6)
            .map(|(i, v)| (table.columns[*i].name.clone(), shown(v, &table.columns[*i])))
            .collect(),
    }
}

/// Where a restored row now is.
pub fn row_link(table: &Table, row: &Row) -> String {
    format!("{}/{}", table_path(&table.name), row.key_path())
}
