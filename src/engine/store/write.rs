//! Writing rows. Every write runs in one transaction with its audit entry and its webhook
//! event; an update checks the row's version first (optimistic concurrency); the checked
//! writes ask about foreign keys first, so a refusal names the field and the table.

use std::collections::BTreeMap;

use crate::audit::{self, Actor};
use crate::catalog::rules::Action;
use crate::catalog::{Catalog, Table};
use crate::db::{DbConn, write_tx};
use crate::engine::errors::{WriteError, classify};
use crate::engine::rules::push_rule;
use crate::engine::sql::Sql;
use crate::engine::store::read::{lock_row, referencing_tables};
use crate::engine::store::row::{Row, backend_of, from_table, load_rows, push_key_where};
use crate::engine::store::ruled::{require_inside, row_inside};
use crate::engine::value::Value;
use crate::error::AppError;
use crate::events::outbox::{Change, record_event};
use crate::identity::row_rules::RowRule;

/// The audit entry's changes: every column of a created or deleted row, the changed
/// columns of an updated one.
fn changes(table: &Table, before: Option<&Row>, after: Option<&Row>) -> serde_json::Value {
    let mut b = serde_json::Map::new();
    let mut a = serde_json::Map::new();
    for (i, c) in table.columns.iter().enumerate() {
        let bv = before.and_then(|r| r.values.get(i));
        let av = after.and_then(|r| r.values.get(i));
        if before.is_some() && after.is_some() && bv == av {
            continue;
        }
        if let Some(v) = bv {
            b.insert(c.name.clone(), v.to_json(c.kind));
        }
        if let Some(v) = av {
            a.insert(c.name.clone(), v.to_json(c.kind));
        }
    }
    serde_json::json!({
        "before": if before.is_some() { serde_json::Value::Object(b) } else { serde_json::Value::Null },
        "after": if after.is_some() { serde_json::Value::Object(a) } else { serde_json::Value::Null },
    })
}

/// Record a row change in the change's transaction: its audit entry (`record.<action>`,
/// or `row.restored` naming the entry restored when `restored_from` is given) and its
/// webhook event (`record.<action>` either way).
pub(super) fn record(
    conn: &mut DbConn,
    table: &Table,
    action: &str,
    before: Option<&Row>,
    after: Option<&Row>,
    actor: &Actor,
    restored_from: Option<&str>,
) -> diesel::QueryResult<()> {
    let key = after.or(before).map(Row::key_path).unwrap_or_default();
    let mut entry = changes(table, before, after);
    let audit_action = match restored_from {
        Some(source) => {
            entry["source"] = serde_json::Value::String(source.to_string());
            "row.restored".to_string()
        }
        None => format!("record.{action}"),
    };
    audit::record(conn, actor, &audit_action, &table.name, &key, &entry)?;
    let (before_row, after_row) = (before, after);
    let before = before.map(|r| r.to_json(table));
    let after = after.map(|r| r.to_json(table));
    let row_key = after_row
        .or(before_row)
        .map(|r| r.key.clone())
        .unwrap_or_default();
    let inside = |conn: &mut DbConn, rule: &RowRule| row_inside(conn, table, &row_key, rule);
    let change = Change {
        table: &table.name,
        action,
        key: &key,
        before: before.as_ref(),
        after: after.as_ref(),
        inside: Some(&inside),
    };
    record_event(conn, &change, actor)?;
    Ok(())
}

/// The one row a write statement returns, or the database's refusal in the form's terms.
fn returned_row(conn: &mut DbConn, sql: &Sql, table: &Table) -> Result<Option<Row>, WriteError> {
    let rows = load_rows(conn, sql, table).map_err(|e| classify(e, table, None))?;
    Ok(rows.into_iter().next())
}

/// Insert a row; returns it as stored (with generated keys and defaults).
pub fn insert(
    conn: &mut DbConn,
    table: &Table,
    values: &[(usize, Value)],
    actor: &Actor,
) -> Result<Row, WriteError> {
    insert_as(conn, table, values, actor, None)
}

/// `insert`, audited as a restore of entry `restored_from` when given.
pub(super) fn insert_as(
    conn: &mut DbConn,
    table: &Table,
    values: &[(usize, Value)],
    actor: &Actor,
    restored_from: Option<&str>,
) -> Result<Row, WriteError> {
    let mut sql = Sql::new(backend_of(conn));
    sql.push("INSERT INTO ").ident(&table.name);
    if values.is_empty() {
        sql.push(" DEFAULT VALUES");
    } else {
        sql.push(" (");
        for (i, (idx, _)) in values.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.ident(&table.columns[*idx].name);
        }
        sql.push(") VALUES (");
        for (i, (idx, v)) in values.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind_for(v.clone(), &table.columns[*idx]);
        }
        sql.push(")");
    }
    sql.push(" RETURNING ").select_list(table).keep_prepared();
    write_tx(conn, |conn| {
        let row = returned_row(conn, &sql, table)?
            .ok_or_else(|| WriteError::App(AppError::internal("insert returned no row")))?;
        require_inside(conn, table, &row.key, Action::Create)?;
        record(
            conn,
            table,
            "created",
            None,
            Some(&row),
            actor,
            restored_from,
        )?;
        Ok(row)
    })
}

/// Update a row that must still be at `version`; returns it as stored.
pub fn update(
    conn: &mut DbConn,
    table: &Table,
    key: &[Value],
    version: &str,
    values: &[(usize, Value)],
    actor: &Actor,
) -> Result<Row, WriteError> {
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
        update_row(conn, table, key, &before, &changed, actor)
    })
}

/// The one update of a row, for the record form, the API and bulk actions: set `values`
/// on the row at `key`, read just before as `before` in the caller's transaction; the
/// audit entry and the webhook event follow unless the row came back unchanged.
pub(super) fn update_row(
    conn: &mut DbConn,
    table: &Table,
    key: &[Value],
    before: &Row,
    values: &[(usize, Value)],
    actor: &Actor,
) -> Result<Row, WriteError> {
    update_row_as(conn, table, key, before, values, actor, None)
}

/// `update_row`, audited as a restore of entry `restored_from` when given.
pub(super) fn update_row_as(
    conn: &mut DbConn,
    table: &Table,
    key: &[Value],
    before: &Row,
    values: &[(usize, Value)],
    actor: &Actor,
    restored_from: Option<&str>,
) -> Result<Row, WriteError> {
    let mut sql = Sql::new(backend_of(conn));
    sql.push("UPDATE ").ident(&table.name).push(" SET ");
    for (i, (idx, v)) in values.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        let col = &table.columns[*idx];
        sql.ident(&col.name).push(" = ").bind_for(v.clone(), col);
    }
    push_key_where(&mut sql, table, key);
    push_rule(&mut sql, table, Action::Update, true);
    sql.push(" RETURNING ").select_list(table).keep_prepared();
    let after = returned_row(conn, &sql, table)?.ok_or(WriteError::App(AppError::NotFound))?;
    require_inside(conn, table, &after.key, Action::Update)?;
    if after.values != before.values {
        record(
            conn,
            table,
            "updated",
            Some(before),
            Some(&after),
            actor,
            restored_from,
        )?;
    }
    Ok(after)
}

/// The one delete of a row, for the record page, the API and bulk actions: delete the
/// row at `key`, read just before as `before` in the caller's transaction, and record it.
pub(super) fn delete_row(
    conn: &mut DbConn,
    table: &Table,
    key: &[Value],
    before: &Row,
    actor: &Actor,
) -> Result<(), WriteError> {
    let mut sql = Sql::new(backend_of(conn));
    sql.push("DELETE FROM ").ident(&table.name);
    push_key_where(&mut sql, table, key);
    push_rule(&mut sql, table, Action::Delete, true);
    // Recorded first (in the same transaction): its webhook events ask whether the row is
    // inside their role's rule while it is still there.
    record(conn, table, "deleted", Some(before), None, actor, None)?;
    if sql.execute(conn).map_err(|e| classify(e, table, None))? == 0 {
        return Err(WriteError::App(AppError::NotFound));
    }
    Ok(())
}

pub fn delete(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    key: &[Value],
    actor: &Actor,
) -> Result<(), WriteError> {
    let result = write_tx(conn, |conn| {
        let before = lock_row(conn, table, key, Action::Delete)?;
        delete_row(conn, table, key, &before, actor)
    });
    let Err(WriteError::ForeignKey(_)) = result else {
        return result;
    };
    let referencing = referencing_tables(conn, catalog, table, key).unwrap_or_default();
    let names = if referencing.is_empty() {
        table
            .referrers
            .iter()
            .map(|r| r.table.clone())
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        referencing.join(", ")
    };
    Err(WriteError::ForeignKey(format!(
        "This row cannot be deleted: rows in {names} still refer to it. Delete or change those first."
    )))
}

/// Insert after checking foreign keys (so the refusal names the field and the table):
/// the one write path of the pages and the API.
pub fn insert_checked(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    values: &[(usize, Value)],
    actor: &Actor,
) -> Result<Row, WriteError> {
    refuse_missing_references(conn, catalog, table, values)?;
    insert(conn, table, values, actor)
}

/// Update after checking foreign keys; see `insert_checked`.
pub fn update_checked(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    key: &[Value],
    version: &str,
    values: &[(usize, Value)],
    actor: &Actor,
) -> Result<Row, WriteError> {
    refuse_missing_references(conn, catalog, table, values)?;
    update(conn, table, key, version, values, actor)
}

pub(super) fn refuse_missing_references(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    values: &[(usize, Value)],
) -> Result<(), WriteError> {
    let missing = check_references(conn, catalog, table, values)?;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(WriteError::Invalid(missing, None))
    }
}

/// Foreign-key values that match no row of the referenced table, as field messages. The
/// database enforces the constraint anyway; asking first names the field and the table
/// (SQLite's own refusal names neither).
pub fn check_references(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    values: &[(usize, Value)],
) -> Result<BTreeMap<String, String>, AppError> {
    let mut missing = BTreeMap::new();
    for (idx, value) in values {
        let column = &table.columns[*idx];
        let Some(fk) = table.foreign_key_of(&column.name) else {
            continue;
        };
        let (Some(target), false) = (catalog.tables.get(&fk.ref_table), value.is_null()) else {
            continue;
        };
        let Some(ref_col) = target.column(&fk.ref_columns[0]) else {
            continue;
        };
        let mut sql = Sql::new(backend_of(conn));
        sql.push("SELECT 1");
        from_table(&mut sql, target);
        sql.push(" WHERE ")
            .ident(&ref_col.name)
            .push(" = ")
            .bind_for(value.clone(), ref_col)
            .push(" LIMIT 1");
        if sql.load(conn)?.is_empty() {
            missing.insert(
                column.name.clone(),
                format!(
                    "No row of {} has {} = {}.",
                    fk.ref_table,
                    ref_col.name,
                    value.as_text().unwrap_or_default()
                ),
            );
        }
    }
    Ok(missing)
}
