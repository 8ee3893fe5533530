//! What a change affects, read before it is shown: rows, other tables' foreign keys to
//! the table, views that use it, its indexes; and the Postgres enum types on offer.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::Impact;
use crate::catalog::Table;
use crate::db::DbConn;
use crate::engine::sql::quote;
use crate::error::AppError;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Rows of `table` (an exact count: a schema change is about to read them all anyway).
pub fn rows(conn: &mut DbConn, table: &str) -> Result<i64, AppError> {
    let sql = format!("SELECT COUNT(*) AS n FROM {}", quote(table));
    Ok(diesel::sql_query(sql).get_result::<Count>(conn)?.n)
}

/// Rows of `table` where `column` is NULL.
pub fn nulls(conn: &mut DbConn, table: &str, column: &str) -> Result<i64, AppError> {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM {} WHERE {} IS NULL",
        quote(table),
        quote(column)
    );
    Ok(diesel::sql_query(sql).get_result::<Count>(conn)?.n)
}

/// The views that use `table`: Postgres knows (`pg_depend`); on SQLite, views whose text
/// names it.
pub fn views(conn: &mut DbConn, table: &str) -> Result<Vec<String>, AppError> {
    let names = match conn {
        DbConn::Postgres(_) => diesel::sql_query(
            "SELECT DISTINCT v.relname::text AS name FROM pg_depend d \
             JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class \
             JOIN pg_class t ON t.oid = d.refobjid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE t.relname = $1 AND n.nspname = current_schema() AND v.oid <> t.oid \
             ORDER BY 1",
        )
        .bind::<Text, _>(table)
        .load::<Name>(conn)?,
        DbConn::Sqlite(_) => {
            #[derive(QueryableByName)]
            struct View {
                #[diesel(sql_type = Text)]
                name: String,
                #[diesel(sql_type = Text)]
                sql: String,
            }
            diesel::sql_query(
                "SELECT name, sql FROM sqlite_master WHERE type = 'view' AND sql IS NOT NULL ORDER BY name",
            )
            .load::<View>(conn)?
            .into_iter()
            .filter(|v| mentions(&v.sql, table))
            .map(|v| Name { name: v.name })
            .collect()
        }
    };
    Ok(names.into_iter().map(|n| n.name).collect())
}

/// Whether SQL text names `word` as a whole word (any case, quoted or not).
pub fn mentions(sql: &str, word: &str) -> bool {
    let (sql, word) = (sql.to_lowercase(), word.to_lowercase());
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    sql.match_indices(&word).any(|(i, _)| {
        let before = sql[..i].chars().next_back();
        let after = sql[i + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// Other tables' foreign keys to `table`, as `orders (customer_id)`.
pub fn referrers(table: &Table) -> Vec<String> {
    table
        .referrers
        .iter()
        .filter(|r| r.table != table.name)
        .map(|r| format!("{} ({})", r.table, r.columns.join(", ")))
        .collect()
}

/// The impact of changing `table`: its rows, referrers, views and indexes.
pub fn of_table(conn: &mut DbConn, table: &Table) -> Result<Impact, AppError> {
    Ok(Impact {
        rows: Some(rows(conn, &table.name)?),
        referrers: referrers(table),
        views: views(conn, &table.name)?,
        indexes: table
            .indexes
            .iter()
            .map(|i| {
                format!(
                    "{}{} ({})",
                    i.name,
                    if i.unique { ", unique" } else { "" },
                    i.columns.join(", ")
                )
            })
            .collect(),
        notes: Vec::new(),
    })
}

/// The enum types of the current Postgres schema with their labels (none on SQLite).
pub fn enum_types(conn: &mut DbConn) -> Result<Vec<(String, Vec<String>)>, AppError> {
    if matches!(conn, DbConn::Sqlite(_)) {
        return Ok(Vec::new());
    }
    #[derive(QueryableByName)]
    struct Label {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        label: String,
    }
    let labels = diesel::sql_query(
        "SELECT t.typname::text AS name, e.enumlabel::text AS label FROM pg_type t \
         JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace \
         WHERE n.nspname = current_schema() ORDER BY t.typname, e.enumsortorder",
    )
    .load::<Label>(conn)?;
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for l in labels {
        match out.last_mut() {
            Some((name, values)) if *name == l.name => values.push(l.label),
            _ => out.push((l.name, vec![l.label])),
        }
    }
    Ok(out)
}

/// Whether `name` is a constraint of `table` (Postgres: a UNIQUE constraint's index is
/// dropped with its constraint).
pub fn is_constraint(conn: &mut DbConn, table: &str, name: &str) -> Result<bool, AppError> {
    let n = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid \
         JOIN pg_namespace s ON s.oid = t.relnamespace \
         WHERE t.relname = $1 AND s.nspname = current_schema() AND k.conname = $2",
    )
    .bind::<Text, _>(table)
    .bind::<Text, _>(name)
    .get_result::<Count>(conn)?
    .n;
    Ok(n > 0)
}
