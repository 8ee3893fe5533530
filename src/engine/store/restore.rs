//! Restoring from the audit log: a row back to its values right after one of its entries
//! (a new update), and a deleted row back under its key (a new insert). Both go through the
//! ordinary write path and are audited as `row.restored` naming the entry restored.

use std::collections::BTreeMap;

use crate::audit::{self, Actor, Entry};
use crate::catalog::rules::Action;
use crate::catalog::{Catalog, Column, RowKey, Table};
use crate::db::{DbConn, write_tx};
use crate::engine::errors::WriteError;
use crate::engine::keys;
use crate::engine::store::read::{find, get, lock_row};
use crate::engine::store::row::Row;
use crate::engine::store::write::{insert_as, refuse_missing_references, update_row_as};
use crate::engine::value::Value;
use crate::error::AppError;

/// What a restore of a version would write: the row as it is, the entry restored, and
/// the columns (of those the caller's table shows and may be written) that would change.
pub struct VersionPlan {
    pub current: Row,
    pub source: Entry,
    pub values: Vec<(usize, Value)>,
}

/// A value as the audit log holds it, back to a value to bind for `column`.
/// A value of an audited row snapshot, for `column`.
pub(super) fn snapshot_value(column: &Column, j: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match j {
        J::Null => Value::Null,
        _ if column.kind == crate::catalog::Kind::Json => Value::Text(j.to_string()),
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or_default())),
        J::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
    }
}

/// A column a restore may set: one the operator could edit in the record form.
fn writable(c: &Column) -> bool {
    c.editable() && !(c.generated && c.primary_key)
}

fn side(entry: &Entry, name: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let v: serde_json::Value = serde_json::from_str(&entry.changes).ok()?;
    v.get(name)?.as_object().cloned()
}

/// The plan to put the row at `key` back to its values right after entry `entry_id`:
/// each column a later entry changed goes back to what it was before the first such
/// change. Only the columns of `table` (the operator's view: hidden ones are not in it)
/// are read or written. With `own`, only that operator's entries may be restored (those
/// the History card shows them); any other entry is not found.
pub fn version_plan(
    conn: &mut DbConn,
    table: &Table,
    key: &[Value],
    entry_id: &str,
    own: Option<&str>,
) -> Result<VersionPlan, AppError> {
    let current = get(conn, table, key)?;
    let source = audit::get(conn, entry_id)?
        .filter(|e| e.table_name == table.name && e.row_key == current.key_path())
        .filter(|e| own.is_none_or(|o| e.user_email == o))
        .ok_or(AppError::NotFound)?;
    if source.action == "record.deleted" {
        return Err(AppError::Invalid(
            "A deletion is not a version of this row; deleted rows are restored from the table's deleted rows.".into(),
        ));
    }
    let deleted = audit::last_deletion(conn, &table.name, &source.row_key)?;
    if deleted.is_some_and(|(at, id)| (source.created_at, &source.id) <= (at, &id)) {
        return Err(AppError::Invalid(
            "This entry belongs to an earlier row that had the same key; it cannot be restored onto this row.".into(),
        ));
    }
    let later: Vec<_> = audit::after(
        conn,
        &table.name,
        &source.row_key,
        source.created_at,
        &source.id,
    )?
    .iter()
    .filter_map(|e| side(e, "before"))
    .collect();
    let values = table
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| writable(c))
        .filter_map(|(i, c)| {
            let then = later.iter().find_map(|b| b.get(&c.name))?;
            let now = current.values.get(i)?.to_json(c.kind);
            (now != *then).then(|| (i, snapshot_value(c, then)))
        })
        .collect();
    Ok(VersionPlan {
        current,
        source,
        values,
    })
}

/// Write a version plan's values as an update of the row that must still be at
/// `version`, audited as `row.restored` from `source`.
#[allow(clippy::too_many_arguments)]
pub fn restore_version(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    key: &[Value],
    version: &str,
    values: &[(usize, Value)],
    actor: &Actor,
    source: &str,
) -> Result<Row, WriteError> {
    refuse_missing_references(conn, catalog, table, values)?;
    write_tx(conn, |conn| {
        let before = lock_row(conn, table, key, Action::Update)?;
        if before.version() != version {
            return Err(WriteError::Conflict(Box::new(before)));
        }
        let changed: Vec<(usize, Value)> = values
            .iter()
            .filter(|(i, v)| before.values.get(*i) != Some(v))
            .cloned()
            .collect();
        if changed.is_empty() {
            return Ok(before);
        }
        update_row_as(conn, table, key, &before, &changed, actor, Some(source))
    })
}

/// A row deleted through Gatehouse: its deletion entry, its key, and its values then (of
/// the columns of `table`).
pub struct DeletedRow {
    pub entry: Entry,
    pub key: Vec<Value>,
    pub values: Vec<(usize, Value)>,
}

/// The deletion entry `entry_id` of `table` as a row to insert again (with `own`, only a
/// deletion by that operator, as the deleted rows page lists them).
pub fn deleted_row(
    conn: &mut DbConn,
    table: &Table,
    entry_id: &str,
    own: Option<&str>,
) -> Result<DeletedRow, AppError> {
    let entry = audit::get(conn, entry_id)?
        .filter(|e| e.table_name == table.name && e.action == "record.deleted")
        .filter(|e| own.is_none_or(|o| e.user_email == o))
        .ok_or(AppError::NotFound)?;
    if !matches!(table.key, RowKey::Primary(_)) {
        return Err(AppError::Invalid(format!(
            "{} has no primary key, so a deleted row cannot be put back under its key.",
            table.name
        )));
    }
    let key = keys::decode(&entry.row_key, table)?;
    Ok(DeletedRow {
        key,
        ..parsed(table, entry)
    })
}

/// A deletion entry's values, of the columns of `table`.
fn parsed(table: &Table, entry: Entry) -> DeletedRow {
    let before = side(&entry, "before").unwrap_or_default();
    let values = table
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.editable())
        .filter_map(|(i, c)| Some((i, snapshot_value(c, before.get(&c.name)?))))
        .collect();
    DeletedRow {
        entry,
        key: Vec::new(),
        values,
    }
}

/// Rows of `table` deleted through Gatehouse, newest first (those deleted by `user` only,
/// when given); one more than `limit` is read to know whether there is a next page.
pub fn deleted_rows(
    conn: &mut DbConn,
    table: &Table,
    user: Option<String>,
    offset: i64,
    limit: i64,
) -> Result<Vec<DeletedRow>, AppError> {
    let filter = audit::AuditFilter {
        table: Some(table.name.clone()),
        action: Some("record.deleted".into()),
        user,
        ..Default::default()
    };
    Ok(audit::list(conn, &filter, offset, limit)?
        .into_iter()
        .map(|e| parsed(table, e))
        .collect())
}

/// Insert a deleted row again under its key, audited as `row.restored` from its deletion;
/// refused with a message when the key is taken or a row it refers to is gone.
pub fn restore_deleted(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    deleted: &DeletedRow,
    actor: &Actor,
) -> Result<Row, WriteError> {
    if find(conn, table, &deleted.key)?.is_some() {
        return Err(WriteError::Invalid(
            BTreeMap::new(),
            Some(format!(
                "A row with the key {} exists again in {}; the deleted row cannot be restored under it.",
                deleted.entry.row_key, table.name
            )),
        ));
    }
    let checked = refuse_missing_references(conn, catalog, table, &deleted.values);
    if let Err(WriteError::App(e)) = checked {
        return Err(WriteError::App(e));
    }
    if let Err(WriteError::Invalid(missing, _)) = checked {
        let list: Vec<String> = missing.iter().map(|(c, m)| format!("{c}: {m}")).collect();
        return Err(WriteError::Invalid(
            missing,
            Some(format!(
                "A row this one referred to is gone, so it cannot be restored ({}).",
                list.join(" ")
            )),
        ));
    }
    insert_as(conn, table, &deleted.values, actor, Some(&deleted.entry.id))
}
