//! The row store: reading and writing rows of user tables whose shape is known only from
//! the catalog. Every write runs in one transaction with its audit entry and its webhook
//! event; an update checks the row's version first (optimistic concurrency).
//!
//! - `row`: a row, its key, and the start of every row statement;
//! - `count`: bounded and estimated counts, and their cache;
//! - `marks`: where deep pages start, remembered briefly so `page=N` is read by key;
//! - `labels`: the labels of the rows foreign keys point at, a list page's remembered briefly;
//! - `remembered`: what a statement answered, kept a few seconds per table (marks, labels);
//! - `read`: list pages, single rows, related rows, picker options, streamed reads;
//! - `write`: insert, update, delete, with their foreign-key checks;
//! - `restore`: a row back to an audited version, a deleted row back under its key;
//! - `import`, `import_plan`, `import_write`, `import_insert`, `import_file`: CSV files
//!   into a table, all or nothing;
//! - `bulk`: selections of rows, counted, deleted or changed all at once.

mod bulk;
mod count;
mod import;
mod import_file;
mod import_insert;
mod import_plan;
mod import_write;
mod labels;
mod marks;
mod read;
mod remembered;
mod restore;
mod row;
mod ruled;
mod visible;
mod write;

pub use bulk::{BULK_LIMIT, Selection, bulk_delete, bulk_set, count_selection, select_rows};
pub use count::{COUNT_LIMIT, Count, CountCache, count, count_cached, count_label, thousands};
pub use import::{ImportError, Job, MAX_PROBLEMS, Outcome, Problem, import};
pub use import_file::{FileImport, file_headers, run_file};
pub use import_plan::{
    Mode, Plan, Source, cell, column_for, default_sources, importable, unknown_headers,
};
pub use labels::FkLabels;
pub use read::{
    ListPage, Related, find, for_each_row, get, list, lookup, related, row_labels, value_labels,
};
pub use restore::{
    DeletedRow, VersionPlan, deleted_row, deleted_rows, restore_deleted, restore_version,
    version_plan,
};
pub use row::{Row, backend_of, by_name, push_key_where, split_row};
pub use visible::{visible_keys, visible_snapshots};
pub use write::{check_references, delete, insert, insert_checked, update, update_checked};
