//! Bulk actions on a selection of rows (ticked keys, or every row matching a list query):
//! counted for the confirmation, then deleted or changed in one transaction, all or none,
//! through the same row writes as single rows.

use std::collections::BTreeMap;

use crate::audit::Actor;
use crate::catalog::rules::Action;
use crate::catalog::{Catalog, Table};
use crate::db::{Backend, DbConn, write_tx};
use crate::engine::errors::WriteError;
use crate::engine::keys;
use crate::engine::query::ListQuery;
use crate::engine::rules::push_from;
use crate::engine::sql::Sql;
use crate::engine::store::count::{count_sql, load_count};
use crate::engine::store::read::{find_inner, referencing_tables};
use crate::engine::store::row::Row;
use crate::engine::store::row::{backend_of, from_table, load_rows, push_key_where};
use crate::engine::store::write::{delete_row, update_row};
use crate::engine::value::Value;
use crate::error::AppError;

/// The rows a bulk action applies to.
#[derive(Clone)]
pub enum Selection {
    Keys(Vec<Vec<Value>>),
    /// Every row matching the list's search and filters.
    Matching(ListQuery),
}

/// Bulk actions stop at this many rows; a larger set is refused with a message.
pub const BULK_LIMIT: usize = 10_000;

fn too_many() -> AppError {
    AppError::Invalid(format!(
        "More than {BULK_LIMIT} rows match; narrow the filter to act on fewer at once."
    ))
}

/// How many rows a selection holds now, counted without reading them: each ticked key
/// that still has its row, or the rows matching the query (counting stops past the limit).
pub fn count_selection(
    conn: &mut DbConn,
    table: &Table,
    selection: &Selection,
) -> Result<usize, AppError> {
    let n = match selection {
        Selection::Keys(keys) => {
            let mut n = 0;
            for key in keys {
                let mut sql = Sql::new(backend_of(conn));
                sql.push("SELECT COUNT(*)");
                from_table(&mut sql, table);
                push_key_where(&mut sql, table, key);
                n += load_count(conn, &sql)?;
            }
            n
        }
        Selection::Matching(q) => {
            let sql = count_sql(conn, table, q, Some(BULK_LIMIT as i64))?;
            load_count(conn, &sql)?
        }
    };
    let n = usize::try_from(n).unwrap_or(0);
    if n > BULK_LIMIT {
        return Err(too_many());
    }
    Ok(n)
}

/// The rows of a selection as they are now (locked on Postgres when `lock`).
pub fn select_rows(
    conn: &mut DbConn,
    table: &Table,
    selection: &Selection,
    lock: Option<Action>,
) -> Result<Vec<Row>, AppError> {
    let rows = match selection {
        Selection::Keys(keys) => {
            let mut rows = Vec::with_capacity(keys.len());
            for key in keys {
                if let Some(row) = find_inner(conn, table, key, lock)? {
                    rows.push(row);
                }
            }
            rows
        }
        Selection::Matching(q) => {
            let mut sql = Sql::new(backend_of(conn));
            sql.push("SELECT ").select_list(table);
            let actions: Vec<Action> = std::iter::once(Action::Read).chain(lock).collect();
            push_from(&mut sql, table, &actions);
            q.push_where(&mut sql, table)?;
            q.push_order(&mut sql, table);
            sql.push(&format!(" LIMIT {}", BULK_LIMIT + 1));
            if lock.is_some() && sql.backend() == Backend::Postgres {
                sql.push(" FOR UPDATE");
            }
            load_rows(conn, &sql, table)?
        }
    };
    if rows.len() > BULK_LIMIT {
        return Err(too_many());
    }
    Ok(rows)
}

/// The selected rows, locked, provided they are still as many as the operator confirmed:
/// rows that appeared or vanished since the confirmation page stop the whole action.
fn confirmed_rows(
    conn: &mut DbConn,
    table: &Table,
    selection: &Selection,
    expected: Option<usize>,
    action: Action,
) -> Result<Vec<Row>, WriteError> {
    let rows = select_rows(conn, table, selection, Some(action))?;
    match expected {
        Some(n) if n != rows.len() => Err(WriteError::Invalid(
            BTreeMap::new(),
            Some(format!(
                "The selection changed since you confirmed it: {} rows now instead of {n}. Nothing was changed; review and confirm again.",
                rows.len()
            )),
        )),
        _ => Ok(rows),
    }
}

/// Delete every selected row in one transaction: all of them, or none.
pub fn bulk_delete(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    selection: &Selection,
    expected: Option<usize>,
    actor: &Actor,
) -> Result<usize, WriteError> {
    let mut refused_key: Option<Vec<Value>> = None;
    let result = write_tx(conn, |conn| {
        let rows = confirmed_rows(conn, table, selection, expected, Action::Delete)?;
        for row in &rows {
            if let Err(e) = delete_row(conn, table, &row.key, row, actor) {
                refused_key = Some(row.key.clone());
                return Err(e);
            }
        }
        Ok(rows.len())
    });
    match (result, refused_key) {
        (Err(WriteError::ForeignKey(_)), Some(key)) => {
            let names = referencing_tables(conn, catalog, table, &key)
                .unwrap_or_default()
                .join(", ");
            Err(WriteError::ForeignKey(format!(
                "Nothing was deleted: row {} is still referred to by rows in {names}.",
                keys::encode(&key)
            )))
        }
        (other, _) => other,
    }
}

/// Set one column of every selected row, in one transaction.
pub fn bulk_set(
    conn: &mut DbConn,
    table: &Table,
    selection: &Selection,
    column: usize,
    value: &Value,
    expected: Option<usize>,
    actor: &Actor,
) -> Result<usize, WriteError> {
    let values = [(column, value.clone())];
    write_tx(conn, |conn| {
        let rows = confirmed_rows(conn, table, selection, expected, Action::Update)?;
        for before in &rows {
            update_row(conn, table, &before.key, before, &values, actor)?;
        }
        Ok(rows.len())
    })
}
