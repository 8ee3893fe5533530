//! Reading rows: a page of a list with its count and foreign-key labels, one row by key,
//! the rows of other tables that refer to it, the foreign-key picker's options, and every
//! row of a view one at a time (for exports).

use std::collections::HashMap;

use crate::catalog::rules::Action;
use crate::catalog::{Catalog, Column, Table};
use crate::db::{Backend, DbConn, like_escape};
use crate::engine::errors::WriteError;
use crate::engine::query::ListQuery;
use crate::engine::rules::push_from;
use crate::engine::sql::Sql;
use crate::engine::store::count::{Count, CountCache, count_cached};
use crate::engine::store::labels::{FkLabels, labels, text_pairs};
use crate::engine::store::marks::page_rows;
use crate::engine::store::row::{
    Row, backend_of, from_table, load_rows, push_key_where, select_all, split_row,
};
use crate::engine::value::Value;
use crate::error::AppError;

pub struct ListPage {
    pub rows: Vec<Row>,
    pub has_next: bool,
    pub has_prev: bool,
    /// Where "Next" starts (after the last row) and "Previous" ends (before the first),
    /// when the table has a key to page by.
    pub next_cursor: Option<String>,
    pub prev_cursor: Option<String>,
    pub count: Count,
    /// Foreign-key column → referenced key (as text) → label of that row.
    pub labels: FkLabels,
}

pub fn list(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    q: &ListQuery,
    counts: &CountCache,
) -> Result<ListPage, AppError> {
    let (mut rows, more) = page_rows(conn, table, q, Some(&counts.marks))?;
    let (has_prev, has_next) = match &q.cursor {
        // Read backwards from the cursor: put the rows back in order.
        Some(c) if c.backward => {
            rows.reverse();
            (more, true)
        }
        Some(_) => (true, more),
        None => (q.page > 1, more),
    };
    let cursor = |row: Option<&Row>| row.and_then(|r| q.cursor_at(table, &r.values, &r.key));
    let next_cursor = if has_next { cursor(rows.last()) } else { None };
    let prev_cursor = if has_prev { cursor(rows.first()) } else { None };
    let count = count_cached(conn, table, q, Some(counts))?;
    let labels = labels(conn, catalog, table, &rows, Some(&counts.labels))?;
    Ok(ListPage {
        rows,
        has_next,
        has_prev,
        next_cursor,
        prev_cursor,
        count,
        labels,
    })
}

/// Every row matching `q`, in its order, handed to `each` one at a time until it returns
/// false: memory stays flat whatever the table's size.
pub fn for_each_row(
    conn: &mut DbConn,
    table: &Table,
    q: &ListQuery,
    mut each: impl FnMut(Row) -> bool,
) -> Result<(), AppError> {
    let mut sql = select_all(conn, table);
    q.push_where(&mut sql, table)?;
    q.push_order(&mut sql, table);
    sql.for_each(conn, |values| each(split_row(table, values)))?;
    Ok(())
}

/// The labels of the rows one row's foreign keys point at: column → label (for the record
/// form, which shows the referenced row's name next to its picker); remembered briefly with
/// the lists' labels when `counts` is given.
pub fn row_labels(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    row: &Row,
    counts: Option<&CountCache>,
) -> Result<HashMap<String, String>, AppError> {
    let cache = counts.map(|c| &c.labels);
    let all = labels(conn, catalog, table, std::slice::from_ref(row), cache)?;
    Ok(table
        .columns
        .iter()
        .zip(&row.values)
        .filter_map(|(c, v)| {
            let label = all.get(&c.name)?.get(&v.as_text()?)?.clone();
            Some((c.name.clone(), label))
        })
        .collect())
}

/// Labels of the rows some foreign-key values point at (values as text, e.g. from the audit
/// log's before/after): column → key → label, one query per column.
pub fn value_labels(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    values: &[(String, String)],
) -> Result<FkLabels, AppError> {
    let rows: Vec<Row> = values
        .iter()
        .filter_map(|(column, value)| {
            let idx = table.columns.iter().position(|c| c.name == *column)?;
            table.foreign_key_of(column)?;
            let mut values = vec![Value::Null; table.columns.len()];
            values[idx] = Value::Text(value.clone());
            Some(Row {
                values,
                key: Vec::new(),
            })
        })
        .collect();
    labels(conn, catalog, table, &rows, None)
}

pub fn find(conn: &mut DbConn, table: &Table, key: &[Value]) -> Result<Option<Row>, AppError> {
    find_inner(conn, table, key, None)
}

/// The row at `key`, which must exist (404 otherwise).
pub fn get(conn: &mut DbConn, table: &Table, key: &[Value]) -> Result<Row, AppError> {
    find(conn, table, key)?.ok_or(AppError::NotFound)
}

/// The row at `key`, locked for the rest of the write's transaction to do `action`; 404
/// when it is gone or outside the operator's rules (read and `action`).
pub(super) fn lock_row(
    conn: &mut DbConn,
    table: &Table,
    key: &[Value],
    action: Action,
) -> Result<Row, WriteError> {
    find_inner(conn, table, key, Some(action))?.ok_or(WriteError::App(AppError::NotFound))
}

/// One row by key, inside the operator's read rule; with `lock`, also inside that action's
/// rule and locked for the rest of the transaction on Postgres.
pub(super) fn find_inner(
    conn: &mut DbConn,
    table: &Table,
    key: &[Value],
    lock: Option<Action>,
) -> Result<Option<Row>, AppError> {
    let mut sql = Sql::new(backend_of(conn));
    sql.push("SELECT ").select_list(table);
    let actions = match lock {
        Some(a) => vec![Action::Read, a],
        None => vec![Action::Read],
    };
    push_from(&mut sql, table, &actions);
    push_key_where(&mut sql, table, key);
    if lock.is_some() && sql.backend() == Backend::Postgres {
        sql.push(" FOR UPDATE");
    }
    Ok(load_rows(conn, &sql, table)?.into_iter().next())
}

/// Rows of other tables that refer to `row`, the first `limit` per relation.
pub struct Related {
    pub table: String,
    pub columns: Vec<String>,
    /// The list filtered to these rows, when the relation is on one column.
    pub filter_query: Option<String>,
    pub rows: Vec<Row>,
    pub label_column: Option<usize>,
    /// What each row is called: its label column, else the labels of the rows its other
    /// foreign keys point at, else its key named by column ("order_id 1, product_id 32").
    pub names: Vec<String>,
}

pub fn related(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    row: &Row,
    limit: u64,
) -> Result<Vec<Related>, AppError> {
    let mut out = Vec::new();
    for r in &table.referrers {
        let Some(other) = catalog.tables.get(&r.table) else {
            continue;
        };
        let mut sql = select_all(conn, other);
        // Every column pair must resolve (names compared as the database does, without
        // case on SQLite), or the relation is skipped rather than queried half-built.
        let pairs: Option<Vec<(&Column, Value)>> = r
            .columns
            .iter()
            .zip(&r.ref_columns)
            .map(|(col, ref_col)| {
                let pos = table
                    .columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(ref_col))?;
                let column = other
                    .columns
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(col))?;
                Some((column, row.values.get(pos)?.clone()))
            })
            .collect();
        let Some(pairs) = pairs.filter(|p| !p.is_empty()) else {
            continue;
        };
        sql.push(" WHERE ");
        let mut filter = url::form_urlencoded::Serializer::new(String::new());
        for (i, (column, value)) in pairs.iter().enumerate() {
            if i > 0 {
                sql.push(" AND ");
            }
            sql.ident(&column.name)
                .push(" = ")
                .bind_for(value.clone(), column);
            filter.append_pair(
                &format!("{}__eq", column.name),
                &value.as_text().unwrap_or_default(),
            );
        }
        let fake = ListQuery::parse("", other)?;
        fake.push_order(&mut sql, other);
        sql.push(&format!(" LIMIT {limit}"));
        let rows = load_rows(conn, &sql, other)?;
        let label_column = other
            .label_column()
            .and_then(|l| other.columns.iter().position(|c| c.name == l.name));
        let names = related_names(conn, catalog, other, &r.columns, &rows, label_column)?;
        out.push(Related {
            table: r.table.clone(),
            columns: r.columns.clone(),
            filter_query: (r.columns.len() == 1).then(|| filter.finish()),
            rows,
            label_column,
            names,
        });
    }
    Ok(out)
}

fn related_names(
    conn: &mut DbConn,
    catalog: &Catalog,
    other: &Table,
    via: &[String],
    rows: &[Row],
    label_column: Option<usize>,
) -> Result<Vec<String>, AppError> {
    let fk_labels = match label_column {
        Some(_) => HashMap::new(),
        None => labels(conn, catalog, other, rows, None)?,
    };
    Ok(rows
        .iter()
        .map(|row| {
            if let Some(label) = label_column.and_then(|i| row.values.get(i)?.as_text()) {
                return label;
            }
            let named: Vec<String> = other
                .columns
                .iter()
                .zip(&row.values)
                .filter(|(c, _)| !via.iter().any(|v| v.eq_ignore_ascii_case(&c.name)))
                .filter_map(|(c, v)| fk_labels.get(&c.name)?.get(&v.as_text()?).cloned())
                .collect();
            if !named.is_empty() {
                return named.join(" · ");
            }
            other
                .key_columns()
                .iter()
                .zip(&row.key)
                .map(|(c, v)| format!("{c} {}", v.as_text().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect())
}

/// The tables that hold rows pointing at this row.
pub(super) fn referencing_tables(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    key: &[Value],
) -> Result<Vec<String>, AppError> {
    let Some(row) = find(conn, table, key)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for group in related(conn, catalog, table, &row, 1)? {
        if !group.rows.is_empty() && !out.contains(&group.table) {
            out.push(group.table);
        }
    }
    Ok(out)
}

/// Rows of `table` whose label matches `q`, for the foreign-key picker: (key, label).
pub fn lookup(
    conn: &mut DbConn,
    table: &Table,
    key_column: &Column,
    q: &str,
    limit: u64,
) -> Result<Vec<(String, String)>, AppError> {
    let label = table.label_column().unwrap_or(key_column);
    let mut sql = Sql::new(backend_of(conn));
    sql.push("SELECT ")
        .select_column(key_column)
        .push(", ")
        .select_column(label);
    from_table(&mut sql, table);
    if !q.is_empty() {
        sql.push(" WHERE ")
            .column_as_text(label)
            .like()
            .bind(Value::Text(format!("%{}%", like_escape(q))))
            .push(" ESCAPE '\\'");
        if label.name != key_column.name {
            sql.push(" OR ")
                .column_as_text(key_column)
                .push(" = ")
                .bind(Value::Text(q.to_string()));
        }
    }
    sql.push(" ORDER BY ")
        .ident(&label.name)
        .push(&format!(" LIMIT {limit}"));
    text_pairs(conn, &sql)
}
