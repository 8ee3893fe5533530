//! The builder's pages: the new-table form, a table's schema page, and the preview that
//! shows a change's SQL and what it affects before it is confirmed.

use std::sync::Arc;

use askama::Template;

use crate::catalog::Table;
use crate::engine::ddl::{Impact, ON_DELETE_CHOICES, TYPE_CHOICES};
use crate::web::page::Layout;

pub type Choice = (&'static str, &'static str);

#[derive(Template)]
#[template(path = "schema/new_table.html")]
pub struct NewTablePage {
    pub layout: Layout,
    pub rows: Vec<usize>,
    pub index_rows: Vec<usize>,
    pub types: &'static [Choice],
    pub enums: Vec<String>,
    pub targets: Vec<(String, String)>,
    pub on_delete: &'static [Choice],
}

#[derive(Template)]
#[template(path = "schema/table.html")]
pub struct TablePage {
    pub layout: Layout,
    pub table: Arc<Table>,
    pub path: String,
    pub types: &'static [Choice],
    pub enums: Vec<String>,
    pub targets: Vec<(String, String)>,
    pub on_delete: &'static [Choice],
    /// Other tables' foreign keys to this one, as text.
    pub referrers: Vec<String>,
}

#[derive(Template)]
#[template(path = "schema/preview.html")]
pub struct PreviewPage {
    pub layout: Layout,
    pub action: String,
    pub back: String,
    pub summary: String,
    pub script: String,
    pub impact: Impact,
    pub confirm_name: Option<String>,
    pub fields: Vec<(String, String)>,
    pub note: Option<String>,
}

#[derive(Template)]
#[template(path = "schema/refused.html")]
pub struct RefusedPage {
    pub layout: Layout,
    pub back: String,
    pub message: String,
}

pub fn types() -> &'static [Choice] {
    TYPE_CHOICES
}

pub fn on_delete() -> &'static [Choice] {
    ON_DELETE_CHOICES
}
