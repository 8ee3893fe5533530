//! The record pages: one row's form (to create, view and edit) with its related rows and
//! history, the delete confirmation, and the answers to a refused write (the form again
//! with messages, or the conflict with a newer version of the row).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use crate::catalog::Table;
use crate::data::form::{self, Field};
use crate::data::views::HistoryItem;
use crate::data::views::table_path;
use crate::engine::errors::WriteError;
use crate::engine::store::{Related, Row};
use crate::engine::value::{Value, display_in, input_value_in};
use crate::error::AppError;
use crate::web::form::{Pairs, get};
use crate::web::page::{self, Layout};

pub struct RelatedView {
    pub table: String,
    pub via: String,
    pub list_link: Option<String>,
    pub rows: Vec<(String, String)>,
}

pub fn related_views(groups: Vec<Related>) -> Vec<RelatedView> {
    groups
        .into_iter()
        .map(|g| {
            let path = table_path(&g.table);
            RelatedView {
                list_link: g.filter_query.map(|q| format!("{path}?{q}")),
                via: g.columns.join(", "),
                rows: g
                    .rows
                    .iter()
                    .zip(g.names)
                    .map(|(r, name)| (format!("{path}/{}", r.key_path()), name))
                    .collect(),
                table: g.table,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "data/record.html")]
pub struct RecordPage {
    pub layout: Layout,
    pub table: String,
    pub path: String,
    /// None when creating.
    pub key_path: Option<String>,
    pub fields: Vec<Field>,
    pub version: String,
    pub form_error: Option<String>,
    pub read_only: Option<&'static str>,
    pub can_delete: bool,
    pub related: Vec<RelatedView>,
    pub history: Vec<HistoryItem>,
    /// Entries of earlier rows that had this key (before its last deletion).
    pub previous_history: Vec<HistoryItem>,
    /// The history's newer and older pages, when there are.
    pub history_newer: Option<String>,
    pub history_older: Option<String>,
}

#[derive(Template)]
#[template(path = "data/delete.html")]
pub struct DeletePage {
    pub layout: Layout,
    pub table: String,
    pub path: String,
    pub key_path: String,
    pub summary: Vec<(String, String)>,
    pub error: Option<String>,
}

pub struct ConflictLine {
    pub column: String,
    pub yours: String,
    pub theirs: String,
    pub changed_meanwhile: bool,
}

#[derive(Template)]
#[template(path = "data/conflict.html")]
pub struct ConflictPage {
    pub layout: Layout,
    pub table: String,
    pub record_link: String,
    pub lines: Vec<ConflictLine>,
}

impl RecordPage {
    /// The form for `row` (`None`: a new row), filled from the row or, after a refusal,
    /// from what was `submitted`, with a message per field in `errors`. Read-only details
    /// (related rows, history, what the operator may do) are set by the caller.
    pub fn new(
        layout: Layout,
        table: &Table,
        row: Option<&Row>,
        submitted: Option<&Pairs>,
        errors: &BTreeMap<String, String>,
    ) -> RecordPage {
        let zone = layout.settings.zone();
        RecordPage {
            fields: form::fields(table, row, submitted, errors, &zone),
            layout,
            table: table.name.clone(),
            path: table_path(&table.name),
            key_path: row.map(|r| r.key_path()),
            version: submitted
                .and_then(|p| get(p, "_version").map(str::to_string))
                .or_else(|| row.map(Row::version))
                .unwrap_or_default(),
            form_error: None,
            read_only: None,
            can_delete: false,
            related: Vec::new(),
            history: Vec::new(),
            previous_history: Vec::new(),
            history_newer: None,
            history_older: None,
        }
    }
}

impl RecordPage {
    /// Name the rows the foreign keys point at, next to their pickers.
    pub fn with_labels(mut self, labels: std::collections::HashMap<String, String>) -> Self {
        for f in &mut self.fields {
            f.ref_label = labels.get(&f.name).cloned();
        }
        self
    }
}

/// A row's first columns as shown, for the delete confirmation.
fn summary(table: &Table, row: &Row, zone: &jiff::tz::TimeZone) -> Vec<(String, String)> {
    table
        .columns
        .iter()
        .zip(&row.values)
        .take(8)
        .map(|(c, v)| (c.name.clone(), shown(v, c, zone)))
        .collect()
}

fn shown(value: &Value, column: &crate::catalog::Column, zone: &jiff::tz::TimeZone) -> String {
    if value.is_null() {
        "NULL".into()
    } else {
        display_in(value, column, zone)
    }
}

impl DeletePage {
    pub fn new(layout: Layout, table: &Table, row: &Row, error: Option<String>) -> DeletePage {
        DeletePage {
            summary: summary(table, row, &layout.settings.zone()),
            layout,
            table: table.name.clone(),
            path: table_path(&table.name),
            key_path: row.key_path(),
            error,
        }
    }
}

/// Re-show the form with what was typed and why it was refused (422).
pub fn refused(
    req: &HttpRequest,
    table: &Table,
    row: Option<&Row>,
    pairs: &Pairs,
    errors: BTreeMap<String, String>,
    form_error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let page = RecordPage {
        form_error: form_error
            .or_else(|| Some("Some values need attention; nothing was saved.".into())),
        ..RecordPage::new(Layout::build(req), table, row, Some(pairs), &errors)
    };
    page::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// The answer to a write the store refused: the form with messages, or the conflict page.
pub fn write_refused(
    req: &HttpRequest,
    table: &Table,
    row: Option<&Row>,
    pairs: &Pairs,
    e: WriteError,
) -> Result<HttpResponse, AppError> {
    match e {
        WriteError::Invalid(errors, message) => refused(req, table, row, pairs, errors, message),
        WriteError::ForeignKey(message) => {
            refused(req, table, row, pairs, BTreeMap::new(), Some(message))
        }
        WriteError::Conflict(current) => conflict(req, table, &current, pairs),
        WriteError::App(e) => Err(e),
    }
}

/// 409: the row changed since the form was shown. Show what changed, keep nothing.
fn conflict(
    req: &HttpRequest,
    table: &Table,
    current: &Row,
    pairs: &Pairs,
) -> Result<HttpResponse, AppError> {
    let layout = Layout::build(req);
    let zone = layout.settings.zone();
    let lines = table
        .columns
        .iter()
        .zip(&current.values)
        .filter_map(|(c, v)| {
            let yours = get(pairs, &format!("f.{}", c.name))?.to_string();
            Some(ConflictLine {
                column: c.name.clone(),
                changed_meanwhile: input_value_in(v, c, &zone) != yours,
                yours,
                theirs: shown(v, c, &zone),
            })
        })
        .collect();
    let page = ConflictPage {
        layout,
        table: table.name.clone(),
        record_link: format!("{}/{}", table_path(&table.name), current.key_path()),
        lines,
    };
    page::render(StatusCode::CONFLICT, &page)
}
