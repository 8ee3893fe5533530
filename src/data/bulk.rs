//! Bulk actions on the list: delete the selected rows, set one column on them, or export
//! them — for ticked rows or for every row matching the filter. A confirmation states how
//! many rows (counted, not read); the change runs in one transaction, all or nothing,
//! audited per row. One POST route, three steps: `confirm`, `apply`, `export`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use jiff::tz::TimeZone;

use crate::audit::Actor;
use crate::catalog::Table;
use crate::data::export::{Format, Writer, attachment};
use crate::data::views::{BulkPage, table_path};
use crate::engine::errors::WriteError;
use crate::engine::keys;
use crate::engine::query::ListQuery;
use crate::engine::store::{self, CountCache, Selection};
use crate::engine::value::Value;
use crate::engine::zoned::parse_input_in;
use crate::error::AppError;
use crate::identity::permissions::{Access, Action};
use crate::state::AppState;
use crate::web::form::{Pairs, get};
use crate::web::page::{self, Layout};
use crate::web::table::VisibleTable;

/// What the bulk form asks for, as submitted (the confirmation page sends it again).
struct BulkForm {
    action: String,
    selection: Selection,
    /// The ticked keys as they came (empty when `all`).
    keys: Vec<String>,
    all: bool,
    /// The list's query, for `all` and for the way back.
    query: String,
    column: String,
    value: String,
    set_null: bool,
    confirmed: bool,
    /// How many rows the confirmation page said.
    expected: Option<usize>,
}

/// The change a confirmed delete or set makes to each row.
enum Change {
    Delete,
    Set(usize, Value),
}

pub async fn bulk(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    pairs: web::Form<Pairs>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let visible = VisibleTable::of(&req, &access.rights).await?;
    let pairs = pairs.into_inner();
    let action = get(&pairs, "action").unwrap_or("");
    authorize(&access, &visible.table, action)?;
    let zone = page::zone(&req, &access.user.id).await?;
    let form = BulkForm::read(&pairs, action, &visible.table, &zone)?;
    match action {
        "export" => export(&state, visible.table, form.selection).await,
        "delete" | "set" => match form.change(&visible.table, &zone) {
            Ok(change) if form.confirmed => {
                apply(&req, &access, &state, &counts, &visible, form, change).await
            }
            Ok(_) => confirm(&req, &state, &visible.table, form, None).await,
            Err(message) => confirm(&req, &state, &visible.table, form, Some(message)).await,
        },
        other => Err(AppError::Invalid(format!(
            "'{other}' is not a bulk action."
        ))),
    }
}

/// Export reads; delete and set need the right to delete or change rows.
fn authorize(access: &Access, table: &Table, action: &str) -> Result<(), AppError> {
    match action {
        "export" => Ok(()),
        "set" => access.require(table, Action::Update),
        _ => access.require(table, Action::Delete),
    }
}

impl BulkForm {
    fn read(
        pairs: &Pairs,
        action: &str,
        table: &Table,
        zone: &TimeZone,
    ) -> Result<BulkForm, AppError> {
        let text = |name| get(pairs, name).unwrap_or("").to_string();
        let all = get(pairs, "all").is_some();
        let query = text("query");
        let keys: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k == "key")
            .map(|(_, v)| v.clone())
            .collect();
        let selection = if all {
            Selection::Matching(ListQuery::parse_in(&query, table, zone)?)
        } else if keys.is_empty() {
            return Err(AppError::Invalid(
                "Select at least one row, or all rows matching the filter.".into(),
            ));
        } else {
            let decoded = keys.iter().map(|k| keys::decode(k, table));
            Selection::Keys(decoded.collect::<Result<_, _>>()?)
        };
        Ok(BulkForm {
            action: action.to_string(),
            selection,
            keys: if all { Vec::new() } else { keys },
            all,
            query,
            column: text("column"),
            value: text("value"),
            set_null: get(pairs, "null").is_some(),
            confirmed: get(pairs, "confirm").is_some(),
            expected: get(pairs, "expected").and_then(|e| e.parse().ok()),
        })
    }

    /// The change asked for, or why it cannot be made (shown on the confirmation page); a
    /// time typed without a zone is in the operator's.
    fn change(&self, table: &Table, zone: &TimeZone) -> Result<Change, String> {
        if self.action == "delete" {
            return Ok(Change::Delete);
        }
        let name = &self.column;
        let Some(i) = table
            .columns
            .iter()
            .position(|c| c.name == *name && c.editable() && !c.primary_key)
        else {
            return Err("Choose a column to set.".to_string());
        };
        let column = &table.columns[i];
        match self.set_null {
            true if !column.nullable => Err(format!("{name} cannot be NULL.")),
            true => Ok(Change::Set(i, Value::Null)),
            false => parse_input_in(column, &self.value, zone)
                .map(|v| Change::Set(i, v))
                .map_err(|m| format!("{name}: {m}")),
        }
    }

    /// The list the selection came from.
    fn back(&self, table: &Table) -> String {
        match self.query.as_str() {
            "" => table_path(&table.name),
            query => format!("{}?{query}", table_path(&table.name)),
        }
    }

    fn done_message(&self, n: usize) -> String {
        match self.action.as_str() {
            "set" => format!("Set {} on {n} rows.", self.column),
            _ => format!("Deleted {n} rows."),
        }
    }
}

/// The confirmation page: how many rows the action would touch, counted now; 422 with
/// the reason when the action was refused.
async fn confirm(
    req: &HttpRequest,
    state: &AppState,
    table: &Arc<Table>,
    form: BulkForm,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let (t, selection) = (table.clone(), form.selection.clone());
    let count = state
        .db
        .run(move |conn| store::count_selection(conn, &t, &selection))
        .await?;
    let status = match error {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    let page = BulkPage {
        layout: Layout::build(req),
        table: table.name.clone(),
        path: table_path(&table.name),
        action: form.action,
        count,
        keys: form.keys,
        all: form.all,
        query: form.query,
        column: form.column,
        value: form.value,
        set_null: form.set_null,
        columns: table
            .columns
            .iter()
            .filter(|c| c.editable() && !c.primary_key)
            .map(|c| c.name.clone())
            .collect(),
        error,
    };
    page::render(status, &page)
}

/// Make the confirmed change to every selected row, all or none; back to the list, or to
/// the confirmation page with the reason nothing was changed.
async fn apply(
    req: &HttpRequest,
    access: &Access,
    state: &AppState,
    counts: &CountCache,
    visible: &VisibleTable,
    form: BulkForm,
    change: Change,
) -> Result<HttpResponse, AppError> {
    let (catalog, table) = (visible.catalog.clone(), visible.table.clone());
    let (selection, expected) = (form.selection.clone(), form.expected);
    let actor = Actor::from(&access.user);
    let result = state
        .db
        .run(move |conn| {
            Ok(match change {
                Change::Set(column, value) => {
                    store::bulk_set(conn, &table, &selection, column, &value, expected, &actor)
                }
                Change::Delete => {
                    store::bulk_delete(conn, &catalog, &table, &selection, expected, &actor)
                }
            })
        })
        .await?;
    match counts.written(&visible.table.name, result) {
        Ok(n) => {
            let location = form.back(&visible.table);
            Ok(page::done(req, &location, "success", &form.done_message(n)))
        }
        Err(e) => {
            let message = refusal(e)?;
            confirm(req, state, &visible.table, form, Some(message)).await
        }
    }
}

/// Why a bulk change was refused, in words for the confirmation page.
fn refusal(e: WriteError) -> Result<String, AppError> {
    match e {
        WriteError::ForeignKey(m) => Ok(m),
        WriteError::Invalid(fields, m) => {
            Ok(m.unwrap_or_else(|| fields.into_values().collect::<Vec<_>>().join(" ")))
        }
        WriteError::Conflict(_) => Ok("A row changed meanwhile; nothing was changed.".into()),
        WriteError::App(e) => Err(e),
    }
}

/// The selected rows as CSV, every column, through the export's writer.
async fn export(
    state: &AppState,
    table: Arc<Table>,
    selection: Selection,
) -> Result<HttpResponse, AppError> {
    let t = table.clone();
    let rows = state
        .db
        .run(move |conn| store::select_rows(conn, &t, &selection, None))
        .await?;
    let mut out = String::new();
    let mut writer = Writer::new(Format::Csv, &table, &[]);
    writer.begin(&mut out);
    for row in &rows {
        writer.row(&mut out, row);
    }
    writer.end(&mut out);
    Ok(attachment("text/csv; charset=utf-8", "selection.csv").body(out))
}
