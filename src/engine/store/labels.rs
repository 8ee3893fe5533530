//! The labels of the rows a page's foreign keys point at ("Ada Smith (17)" for
//! `customer_id` 17): one statement per foreign-key column, never one per row, read through
//! the operator's read rule on the referenced table.
//!
//! A list page's labels are remembered for a few seconds, keyed by the whole statement
//! (the referenced table's bound rule and the keys asked for), like counts and page marks:
//! the same page asked for again costs no label statement. Every write through Gatehouse to
//! the referenced table forgets its labels at once (`CountCache::invalidate`); a write made
//! elsewhere shows within `remembered::TTL`, as a count does.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::{Catalog, Table};
use crate::db::DbConn;
use crate::engine::sql::Sql;
use crate::engine::store::remembered::Remembered;
use crate::engine::store::row::{Row, backend_of, from_table};
use crate::engine::value::Value;
use crate::error::AppError;

/// Referenced key (as text) → label of that row.
pub type KeyLabels = Arc<HashMap<String, String>>;
/// Foreign-key column → its labels.
pub type FkLabels = HashMap<String, KeyLabels>;

/// Remembered label statements' answers.
pub type LabelCache = Remembered<KeyLabels>;

/// Labels for the foreign-key columns of `rows`: one statement per column, answered from
/// `cache` while it holds that very statement's answer.
pub(super) fn labels(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    rows: &[Row],
    cache: Option<&LabelCache>,
) -> Result<FkLabels, AppError> {
    let mut out = HashMap::new();
    for (idx, column) in table.columns.iter().enumerate() {
        let Some(fk) = table.foreign_key_of(&column.name) else {
            continue;
        };
        let Some(target) = catalog.tables.get(&fk.ref_table) else {
            continue;
        };
        let (Some(ref_col), Some(label)) =
            (target.column(&fk.ref_columns[0]), target.label_column())
        else {
            continue;
        };
        let mut wanted: Vec<Value> = rows
            .iter()
            .filter_map(|r| r.values.get(idx))
            .filter(|v| !v.is_null())
            .cloned()
            .collect();
        wanted.sort_by_cached_key(|v| v.as_text());
        wanted.dedup();
        if wanted.is_empty() {
            continue;
        }
        let mut sql = Sql::new(backend_of(conn));
        sql.push("SELECT ")
            .select_column(ref_col)
            .push(", ")
            .select_column(label);
        from_table(&mut sql, target);
        sql.push(" WHERE ").ident(&ref_col.name).push(" IN (");
        for (i, v) in wanted.into_iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind_for(v, ref_col);
        }
        sql.push(")");
        let found = match cache {
            Some(cache) => remembered(conn, cache, &sql, &target.name)?,
            None => Arc::new(text_pairs(conn, &sql)?.into_iter().collect()),
        };
        out.insert(column.name.clone(), found);
    }
    Ok(out)
}

/// The answer of a label statement, from the cache while it holds, else read and kept.
fn remembered(
    conn: &mut DbConn,
    cache: &LabelCache,
    sql: &Sql,
    target: &str,
) -> Result<KeyLabels, AppError> {
    let key = sql.cache_key();
    if let Some(found) = cache.get(&key) {
        return Ok(found);
    }
    let generation = cache.generation();
    let found: KeyLabels = Arc::new(text_pairs(conn, sql)?.into_iter().collect());
    cache.put(key, target, generation, found.clone());
    Ok(found)
}

/// Pairs of (first column, second column) as text, from a two-column statement.
pub(super) fn text_pairs(conn: &mut DbConn, sql: &Sql) -> Result<Vec<(String, String)>, AppError> {
    Ok(sql
        .load(conn)?
        .into_iter()
        .filter_map(|r| {
            Some((
                r.first()?.as_text()?,
                r.get(1)?.as_text().unwrap_or_default(),
            ))
        })
        .collect())
}
