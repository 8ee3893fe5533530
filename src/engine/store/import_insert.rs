//! The statements an import writes its batches with. They are diesel query fragments
//! rather than `sql_query` text, because diesel never caches `sql_query` statements: these
//! have a text that depends only on the table, the columns and the number of rows, so
//! diesel keeps each as a prepared statement and a million rows cost a handful of parses.
//!
//! - SQLite: `INSERT INTO t (a, b) VALUES (?, ?)`, one row a statement, every value bound
//!   with its column's type (a NULL too, so one prepared statement serves every row). One
//!   row a statement is what SQLite does best inside one transaction: it needs no statement
//!   journal, since the constraints are checked before anything is written;
//! - Postgres: `INSERT INTO t (a, b) SELECT CAST(c0 AS …), CAST(c1 AS …) FROM
//!   unnest($1, $2) AS u(c0, c1)`: one statement for the whole batch, one text array per
//!   column — the data COPY would send, through the ordinary protocol. (diesel's
//!   `copy_from` only targets tables declared with `table!` at compile time.)
//!
//! Upserts add `ON CONFLICT (key) DO UPDATE SET c = excluded.c` on both.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Binary, Bool, Double, Nullable, Text};
use diesel::sqlite::Sqlite;

use crate::catalog::{Kind, Table};
use crate::db::DbConn;
use crate::engine::value::Value;

/// The shape of a batch: the table, the columns written (indexes into the table's
/// columns), and the key an upsert matches on.
#[derive(Clone, Copy)]
pub struct Shape<'a> {
    pub table: &'a Table,
    pub columns: &'a [usize],
    pub upsert_key: Option<&'a [usize]>,
}

/// Write `rows` (each the values of `shape.columns`, in order): on SQLite a statement per
/// row, on Postgres one for all. On Postgres the caller holds a savepoint; on SQLite a
/// refused row has written nothing.
pub fn insert_rows(conn: &mut DbConn, shape: Shape<'_>, rows: &[&[Value]]) -> QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => {
            for row in rows {
                SqliteInsert { shape, row }.execute(c)?;
            }
        }
        DbConn::Postgres(c) => {
            let mut arrays = vec![Vec::with_capacity(rows.len()); shape.columns.len()];
            for row in rows {
                for (array, value) in arrays.iter_mut().zip(row.iter()) {
                    array.push(value.as_text());
                }
            }
            PgInsert { shape, arrays }.execute(c)?;
        }
    }
    Ok(())
}

struct SqliteInsert<'a> {
    shape: Shape<'a>,
    row: &'a [Value],
}

struct PgInsert<'a> {
    shape: Shape<'a>,
    arrays: Vec<Vec<Option<String>>>,
}

impl QueryId for SqliteInsert<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryId for PgInsert<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn> RunQueryDsl<Conn> for SqliteInsert<'_> {}
impl<Conn> RunQueryDsl<Conn> for PgInsert<'_> {}

static NO_INT: Option<i64> = None;
static NO_FLOAT: Option<f64> = None;
static NO_BOOL: Option<bool> = None;
static NO_TEXT: Option<&str> = None;
static NO_BYTES: Option<&[u8]> = None;

impl QueryFragment<Sqlite> for SqliteInsert<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        head(&mut out, self.shape)?;
        out.push_sql(" VALUES (");
        for (n, (i, value)) in self.shape.columns.iter().zip(self.row).enumerate() {
            if n > 0 {
                out.push_sql(", ");
            }
            bind_sqlite(&mut out, value, self.shape.table.columns[*i].kind)?;
        }
        out.push_sql(")");
        conflict(&mut out, self.shape)
    }
}

/// A value bound with the type its column's values have, NULL included, so the statement
/// (and diesel's cache key, which holds the bind types) is the same for every batch.
fn bind_sqlite<'b>(
    out: &mut AstPass<'_, 'b, Sqlite>,
    value: &'b Value,
    kind: Kind,
) -> QueryResult<()> {
    match value {
        Value::Int(v) => out.push_bind_param::<BigInt, _>(v),
        Value::Float(v) => out.push_bind_param::<Double, _>(v),
        // SQLite keeps 'true' as text in a BOOLEAN column: bool binds as 1/0.
        Value::Bool(v) => out.push_bind_param::<Bool, _>(v),
        Value::Text(v) => out.push_bind_param::<Text, _>(v),
        Value::Bytes(v) => out.push_bind_param::<Binary, _>(v),
        Value::Null => match kind {
            Kind::Int => out.push_bind_param::<Nullable<BigInt>, _>(&NO_INT),
            Kind::Float => out.push_bind_param::<Nullable<Double>, _>(&NO_FLOAT),
            Kind::Bool => out.push_bind_param::<Nullable<Bool>, _>(&NO_BOOL),
            Kind::Bytes => out.push_bind_param::<Nullable<Binary>, _>(&NO_BYTES),
            _ => out.push_bind_param::<Nullable<Text>, _>(&NO_TEXT),
        },
    }
}

impl QueryFragment<Pg> for PgInsert<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        head(&mut out, self.shape)?;
        out.push_sql(" SELECT ");
        let names: Vec<String> = (0..self.shape.columns.len())
            .map(|n| format!("c{n}"))
            .collect();
        for (n, i) in self.shape.columns.iter().enumerate() {
            out.push_sql(if n > 0 { ", CAST(u." } else { "CAST(u." });
            out.push_sql(&names[n]);
            out.push_sql(" AS ");
            // The type as the catalog read it from format_type: trusted text.
            out.push_sql(&self.shape.table.columns[*i].cast_type);
            out.push_sql(")");
        }
        out.push_sql(" FROM unnest(");
        for (n, array) in self.arrays.iter().enumerate() {
            if n > 0 {
                out.push_sql(", ");
            }
            out.push_bind_param::<Array<Nullable<Text>>, _>(array)?;
        }
        out.push_sql(") AS u(");
        out.push_sql(&names.join(", "));
        out.push_sql(")");
        conflict(&mut out, self.shape)
    }
}

/// `INSERT INTO "t" ("a", "b")`
fn head<DB: diesel::backend::Backend>(
    out: &mut AstPass<'_, '_, DB>,
    shape: Shape<'_>,
) -> QueryResult<()> {
    out.push_sql("INSERT INTO ");
    out.push_identifier(&shape.table.name)?;
    out.push_sql(" (");
    for (n, i) in shape.columns.iter().enumerate() {
        if n > 0 {
            out.push_sql(", ");
        }
        out.push_identifier(&shape.table.columns[*i].name)?;
    }
    out.push_sql(")");
    Ok(())
}

/// ` ON CONFLICT ("key") DO UPDATE SET "a" = excluded."a"` (or `DO NOTHING` when every
/// column written is the key).
fn conflict<DB: diesel::backend::Backend>(
    out: &mut AstPass<'_, '_, DB>,
    shape: Shape<'_>,
) -> QueryResult<()> {
    let Some(key) = shape.upsert_key.filter(|k| !k.is_empty()) else {
        return Ok(());
    };
    out.push_sql(" ON CONFLICT (");
    for (n, k) in key.iter().enumerate() {
        if n > 0 {
            out.push_sql(", ");
        }
        out.push_identifier(&shape.table.columns[*k].name)?;
    }
    let set: Vec<&usize> = shape.columns.iter().filter(|i| !key.contains(i)).collect();
    if set.is_empty() {
        out.push_sql(") DO NOTHING");
        return Ok(());
    }
    out.push_sql(") DO UPDATE SET ");
    for (n, i) in set.iter().enumerate() {
        let name = &shape.table.columns[**i].name;
        if n > 0 {
            out.push_sql(", ");
        }
        out.push_identifier(name)?;
        out.push_sql(" = excluded.");
        out.push_identifier(name)?;
    }
    Ok(())
}
