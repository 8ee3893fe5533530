//! Templates of the data pages, and the shaping of rows into what they show: the index of
//! tables, the list (`list`), the record pages and refusals (`record`), the foreign-key
//! picker's options and the bulk confirmation.

pub mod cells;
mod history;
mod list;
mod record;
mod restore;
mod saved;

use askama::Template;

use crate::engine::keys::encode_part;
use crate::web::page::Layout;

pub use history::*;
pub use list::*;
pub use record::*;
pub use restore::*;
pub use saved::*;

/// The list page of a table.
pub fn table_path(name: &str) -> String {
    format!("/data/{}", encode_part(name))
}

pub struct TableSummary {
    pub name: String,
    pub path: String,
    pub is_view: bool,
    pub count: String,
}

#[derive(Template)]
#[template(path = "data/index.html")]
pub struct IndexPage {
    pub layout: Layout,
    pub tables: Vec<TableSummary>,
}

#[derive(Template)]
#[template(path = "data/lookup.html")]
pub struct LookupOptions {
    pub options: Vec<(String, String)>,
}

/// The confirmation of a bulk delete or set: how many rows, which, and (for set) the
/// column and value, sent again with `confirm`.
#[derive(Template)]
#[template(path = "data/bulk.html")]
pub struct BulkPage {
    pub layout: Layout,
    pub table: String,
    pub path: String,
    pub action: String,
    pub count: usize,
    pub keys: Vec<String>,
    pub all: bool,
    pub query: String,
    pub column: String,
    pub value: String,
    pub set_null: bool,
    pub columns: Vec<String>,
    pub error: Option<String>,
}
