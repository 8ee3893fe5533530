//! A row of a table of unknown shape: its values in catalog order and its key, read back
//! from what the SQL builder selected; and the pieces of SQL every row statement starts
//! with.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::catalog::{RowKey, Table};
use crate::db::{Backend, DbConn};
use crate::engine::keys;
use crate::engine::sql::Sql;
use crate::engine::value::{Value, decimal_value};

/// A row: its column values in catalog order, and its key values.
#[derive(Debug, Clone)]
pub struct Row {
    pub values: Vec<Value>,
    pub key: Vec<Value>,
}

impl Row {
    pub fn key_path(&self) -> String {
        keys::encode(&self.key)
    }

    /// A digest of the row as shown: an update made from it is refused if this changed.
    pub fn version(&self) -> String {
        let mut h = Sha256::new();
        for v in &self.values {
            match v.as_text() {
                Some(t) => {
                    h.update(b"v");
                    h.update((t.len() as u64).to_le_bytes());
                    h.update(t.as_bytes());
                }
                None => h.update(b"n"),
            }
        }
        h.finalize()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn to_json(&self, table: &Table) -> serde_json::Map<String, serde_json::Value> {
        table
            .columns
            .iter()
            .zip(&self.values)
            .map(|(c, v)| (c.name.clone(), v.to_json(c.kind)))
            .collect()
    }
}

/// A row as selected by `Sql::select_list`: the columns, then the rowid where the table
/// has no primary key.
pub fn split_row(table: &Table, mut values: Vec<Value>) -> Row {
    for (v, c) in values.iter_mut().zip(&table.columns) {
        if c.kind == crate::catalog::Kind::Decimal {
            *v = decimal_value(std::mem::replace(v, Value::Null), c);
        }
    }
    let key = match &table.key {
        RowKey::Primary(cols) => cols
            .iter()
            .map(|k| {
                table
                    .columns
                    .iter()
                    .position(|c| &c.name == k)
                    .and_then(|i| values.get(i).cloned())
                    .unwrap_or(Value::Null)
            })
            .collect(),
        RowKey::RowId => values.pop().into_iter().collect(),
        RowKey::None => Vec::new(),
    };
    Row { values, key }
}

/// The values of the named columns of `row`, by name (for the conflict page).
pub fn by_name(table: &Table, row: &Row) -> BTreeMap<String, Value> {
    table
        .columns
        .iter()
        .zip(&row.values)
        .map(|(c, v)| (c.name.clone(), v.clone()))
        .collect()
}

pub fn backend_of(conn: &DbConn) -> Backend {
    match conn {
        DbConn::Sqlite(_) => Backend::Sqlite,
        DbConn::Postgres(_) => Backend::Postgres,
    }
}

/// ` FROM <table>` as the operator's read rule lets them see it (`rules::push_from`).
pub(super) fn from_table(sql: &mut Sql, table: &Table) {
    crate::engine::rules::push_from(sql, table, &[crate::catalog::rules::Action::Read]);
}

/// `SELECT <every column> FROM <table>`: the start of every statement that reads rows.
pub(super) fn select_all(conn: &DbConn, table: &Table) -> Sql {
    let mut sql = Sql::new(backend_of(conn));
    sql.push("SELECT ").select_list(table);
    from_table(&mut sql, table);
    sql
}

/// The rows a statement returns, split into values and key.
pub(super) fn load_rows(
    conn: &mut DbConn,
    sql: &Sql,
    table: &Table,
) -> diesel::QueryResult<Vec<Row>> {
    Ok(sql
        .load(conn)?
        .into_iter()
        .map(|v| split_row(table, v))
        .collect())
}

pub fn push_key_where(sql: &mut Sql, table: &Table, key: &[Value]) {
    sql.push(" WHERE ");
    push_key_condition(sql, table, key);
}

/// The condition "the row at `key`".
pub(super) fn push_key_condition(sql: &mut Sql, table: &Table, key: &[Value]) {
    match &table.key {
        RowKey::RowId => {
            sql.push("rowid = ")
                .bind(key.first().cloned().unwrap_or(Value::Null));
        }
        RowKey::Primary(cols) => {
            for (i, (c, v)) in cols.iter().zip(key).enumerate() {
                if i > 0 {
                    sql.push(" AND ");
                }
                let col = table.column(c);
                sql.ident(c).push(" = ");
                match col {
                    Some(col) => sql.bind_for(v.clone(), col),
                    None => sql.bind(v.clone()),
                };
            }
        }
        RowKey::None => {
            sql.push("1 = 0");
        }
    }
}
