//! Which rows of a table each of several bound read rules lets through, for change notices
//! (`events::live`): one statement per table and chunk of keys, whatever the number of
//! rules, each rule a `CASE WHEN <rule> THEN 1 ELSE 0 END` column written by the one
//! enforcement mechanism (`engine::rules::push_scope`). A deleted row is gone when its
//! notice goes out: the rules are then evaluated on the row as its deletion was audited
//! (the snapshot restore puts back), bound as a one-row derived table with the table's
//! column names and types.

use std::collections::HashSet;

use crate::catalog::rules::Scope;
use crate::catalog::{RowKey, Table};
use crate::db::DbConn;
use crate::engine::keys;
use crate::engine::rules::push_scope;
use crate::engine::sql::Sql;
use crate::engine::store::restore::snapshot_value;
use crate::engine::store::row::{backend_of, push_key_condition};
use crate::engine::value::Value;
use crate::error::AppError;

/// Keys per statement.
const CHUNK: usize = 100;

/// For each scope, the keys of `keys` (as in URLs) whose rows exist and it lets through.
/// `table` is the table as stored (every column).
pub fn visible_keys(
    conn: &mut DbConn,
    table: &Table,
    scopes: &[&Scope],
    keys: &[String],
) -> Result<Vec<HashSet<String>>, AppError> {
    let mut seen = vec![HashSet::new(); scopes.len()];
    let key_len = match &table.key {
        RowKey::Primary(cols) => cols.len(),
        RowKey::RowId => 1,
        RowKey::None => return Ok(seen),
    };
    let decoded: Vec<Vec<Value>> = keys
        .iter()
        .filter_map(|k| keys::decode(k, table).ok())
        .collect();
    for chunk in decoded.chunks(CHUNK) {
        let mut sql = Sql::new(backend_of(conn));
        sql.push("SELECT ");
        push_key_list(&mut sql, table);
        push_verdicts(&mut sql, scopes);
        sql.push(" FROM ").ident(&table.name).push(" WHERE ");
        for (i, key) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push("(");
            push_key_condition(&mut sql, table, key);
            sql.push(")");
        }
        for row in sql.load(conn)? {
            let key = keys::encode(&row[..key_len.min(row.len())]);
            for (i, v) in row.iter().skip(key_len).enumerate() {
                if matches!(v, Value::Int(1)) {
                    seen[i].insert(key.clone());
                }
            }
        }
    }
    Ok(seen)
}

/// For each scope, which of `rows` (a deleted row's audited values by column name) it
/// lets through, by index into `rows`.
pub fn visible_snapshots(
    conn: &mut DbConn,
    table: &Table,
    scopes: &[&Scope],
    rows: &[serde_json::Map<String, serde_json::Value>],
) -> Result<Vec<HashSet<usize>>, AppError> {
    let mut seen = vec![HashSet::new(); scopes.len()];
    for (start, chunk) in rows.chunks(CHUNK / 4).enumerate() {
        let mut sql = Sql::new(backend_of(conn));
        sql.push("SELECT \"gh__n\"");
        push_verdicts(&mut sql, scopes);
        sql.push(" FROM (");
        for (i, row) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(" UNION ALL ");
            }
            // A row number written by this function, never input.
            let n = start * (CHUNK / 4) + i;
            sql.push("SELECT ")
                .push(&n.to_string())
                .push(" AS \"gh__n\"");
            for c in &table.columns {
                let v = row
                    .get(&c.name)
                    .map_or(Value::Null, |j| snapshot_value(c, j));
                sql.push(", ").bind_for(v, c).push(" AS ").ident(&c.name);
            }
        }
        sql.push(") AS ").ident(&table.name);
        for row in sql.load(conn)? {
            let Some(Value::Int(n)) = row.first() else {
                continue;
            };
            for (i, v) in row.iter().skip(1).enumerate() {
                if matches!(v, Value::Int(1)) {
                    seen[i].insert(*n as usize);
                }
            }
        }
    }
    Ok(seen)
}

/// The key columns as selected (`rowid` on a table without a primary key).
fn push_key_list(sql: &mut Sql, table: &Table) {
    match &table.key {
        RowKey::Primary(cols) => {
            for (i, c) in cols.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                match table.column(c) {
                    Some(col) => sql.select_column(col),
                    None => sql.ident(c),
                };
            }
        }
        _ => {
            sql.push("rowid");
        }
    }
}

/// `, CASE WHEN <rule> THEN 1 ELSE 0 END` per scope.
fn push_verdicts(sql: &mut Sql, scopes: &[&Scope]) {
    for scope in scopes {
        sql.push(", CASE WHEN ");
        push_scope(sql, scope);
        sql.push(" THEN 1 ELSE 0 END");
    }
}
