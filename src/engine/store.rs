//! Reading and writing rows of user tables. Every write runs in one transaction with its
//! audit entry; an update checks the row's version first (optimistic concurrency).

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use crate::audit::{self, Actor};
use crate::catalog::{Catalog, Column, RowKey, Table};
use crate::db::like_escape;
use crate::db::{Backend, DbConn, write_tx};
use crate::engine::errors::{WriteError, classify};
use crate::engine::keys;
use crate::engine::query::ListQuery;
use crate::engine::sql::Sql;
use crate::engine::value::Value;
use crate::error::AppError;
use crate::events::outbox::{Change, record_event};

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

pub fn split_row(table: &Table, mut values: Vec<Value>) -> Row {
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

/// How many rows a view holds, as precisely as it is worth knowing.
#[derive(Debug, Clone, Copy)]
pub enum Count {
    Exact(i64),
    /// At least this many (the count stopped there).
    AtLeast(i64),
    /// The planner's estimate, for an unfiltered large table.
    About(i64),
}

/// Counting stops here unless the exact figure is asked for.
/// A count as shown: exact with thousands separators, `10,000+` when bounded, `~1.2M`
/// when estimated.
pub fn count_label(count: Count) -> String {
    match count {
        Count::Exact(n) => thousands(n),
        Count::AtLeast(n) => format!("{}+", thousands(n)),
        Count::About(n) if n >= 1_000_000 => format!("~{:.1}M", n as f64 / 1_000_000.0),
        Count::About(n) => format!("~{}", thousands(n)),
    }
}

pub fn thousands(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

pub const COUNT_LIMIT: i64 = 10_000;
/// Unfiltered tables estimated above this are not counted at all.
const ESTIMATE_ABOVE: i64 = 100_000;

pub struct ListPage {
    pub rows: Vec<Row>,
    pub has_next: bool,
    pub count: Count,
    /// Foreign-key column → referenced key (as text) → label of that row.
    pub labels: HashMap<String, HashMap<String, String>>,
}

fn from_table(sql: &mut Sql, table: &Table) {
    sql.push(" FROM ").ident(&table.name);
}

pub fn push_key_where(sql: &mut Sql, table: &Table, key: &[Value]) {
    sql.push(" WHERE ");
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

pub fn list(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    q: &ListQuery,
    counts: &CountCache,
) -> Result<ListPage, AppError> {
    let backend = backend_of(conn);
    let mut sql = Sql::new(backend);
    sql.push("SELECT ").select_list(table);
    from_table(&mut sql, table);
    q.push_where(&mut sql, table)?;
    q.push_order(&mut sql, table);
    sql.push(&format!(" LIMIT {} OFFSET {}", q.per_page + 1, q.offset()));
    let mut rows: Vec<Row> = sql
        .load(conn)?
        .into_iter()
        .map(|v| split_row(table, v))
        .collect();
    let has_next = rows.len() as u64 > q.per_page;
    rows.truncate(q.per_page as usize);
    let count = count_cached(conn, table, q, Some(counts))?;
    let labels = labels(conn, catalog, table, &rows)?;
    Ok(ListPage {
        rows,
        has_next,
        count,
        labels,
    })
}

/// Bounded counts, remembered for a few seconds: a busy list view does not walk ten
/// thousand rows on every page view. Writes made through Gatehouse forget the table's
/// counts at once; changes made elsewhere show within `COUNT_TTL`.
#[derive(Default)]
pub struct CountCache {
    entries: std::sync::Mutex<HashMap<String, (std::time::Instant, String, Count)>>,
}

const COUNT_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl CountCache {
    fn get(&self, key: &str) -> Option<Count> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|(at, _, _)| at.elapsed() < COUNT_TTL)
            .map(|(_, _, c)| *c)
    }

    fn put(&self, key: String, table: &str, count: Count) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 1000 {
                entries.retain(|_, (at, _, _)| at.elapsed() < COUNT_TTL);
            }
            entries.insert(key, (std::time::Instant::now(), table.to_string(), count));
        }
    }

    /// Forget the counts of a table that was just written.
    pub fn invalidate(&self, table: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, (_, t, _)| t != table);
        }
    }
}

pub fn count(conn: &mut DbConn, table: &Table, q: &ListQuery) -> Result<Count, AppError> {
    count_cached(conn, table, q, None)
}

pub fn count_cached(
    conn: &mut DbConn,
    table: &Table,
    q: &ListQuery,
    cache: Option<&CountCache>,
) -> Result<Count, AppError> {
    if !q.exact_count
        && !q.is_filtered()
        && let Some(estimate) = table.estimated_rows
        && estimate > ESTIMATE_ABOVE
    {
        return Ok(Count::About(estimate));
    }
    let mut sql = Sql::new(backend_of(conn));
    sql.push("SELECT COUNT(*)");
    if q.exact_count {
        from_table(&mut sql, table);
        q.push_where(&mut sql, table)?;
    } else {
        sql.push(" FROM (SELECT 1");
        from_table(&mut sql, table);
        q.push_where(&mut sql, table)?;
        sql.push(&format!(" LIMIT {}) AS bounded", COUNT_LIMIT + 1));
    }
    let key = sql.cache_key();
    if let Some(hit) = cache.filter(|_| !q.exact_count).and_then(|c| c.get(&key)) {
        return Ok(hit);
    }
    let n = match sql.load(conn)?.first().and_then(|r| r.first()) {
        Some(Value::Int(n)) => *n,
        Some(Value::Text(t)) => t.parse().unwrap_or(0),
        _ => 0,
    };
    let count = if !q.exact_count && n > COUNT_LIMIT {
        Count::AtLeast(COUNT_LIMIT)
    } else {
        Count::Exact(n)
    };
    if let Some(c) = cache {
        c.put(key, &table.name, count);
    }
    Ok(count)
}

/// Labels for the foreign-key columns of a page: one query per column, never per row.
fn labels(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    rows: &[Row],
) -> Result<HashMap<String, HashMap<String, String>>, AppError> {
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
        wanted.sort_by_key(|v| v.as_text());
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
        let found: HashMap<String, String> = sql
            .load(conn)?
            .into_iter()
            .filter_map(|r| {
                Some((
                    r.first()?.as_text()?,
                    r.get(1)?.as_text().unwrap_or_default(),
                ))
            })
            .collect();
        out.insert(column.name.clone(), found);
    }
    Ok(out)
}

pub fn find(conn: &mut DbConn, table: &Table, key: &[Value]) -> Result<Option<Row>, AppError> {
    find_inner(conn, table, key, false)
}

fn find_inner(
    conn: &mut DbConn,
    table: &Table,
    key: &[Value],
    lock: bool,
) -> Result<Option<Row>, AppError> {
    let backend = backend_of(conn);
    let mut sql = Sql::new(backend);
    sql.push("SELECT ").select_list(table);
    from_table(&mut sql, table);
    push_key_where(&mut sql, table, key);
    if lock && backend == Backend::Postgres {
        sql.push(" FOR UPDATE");
    }
    Ok(sql
        .load(conn)?
        .into_iter()
        .next()
        .map(|v| split_row(table, v)))
}

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

/// Insert a row; returns it as stored (with generated keys and defaults).
pub fn insert(
    conn: &mut DbConn,
    table: &Table,
    values: &[(usize, Value)],
    actor: &Actor,
) -> Result<Row, WriteError> {
    let backend = backend_of(conn);
    let mut sql = Sql::new(backend);
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
    sql.push(" RETURNING ").select_list(table);
    write_tx(conn, |conn| {
        let row = sql
            .load(conn)
            .map_err(|e| classify(e, table, None))?
            .into_iter()
            .next()
            .map(|v| split_row(table, v));
        let row =
            row.ok_or_else(|| WriteError::App(AppError::internal("insert returned no row")))?;
        audit::record(
            conn,
            actor,
            "record.created",
            &table.name,
            &row.key_path(),
            &changes(table, None, Some(&row)),
        )?;
        notify(conn, table, "created", None, Some(&row), actor)?;
        Ok(row)
    })
}

/// Queue the webhook event of a row change, in the change's transaction.
fn notify(
    conn: &mut DbConn,
    table: &Table,
    action: &str,
    before: Option<&Row>,
    after: Option<&Row>,
    actor: &Actor,
) -> diesel::QueryResult<usize> {
    let key = after.or(before).map(Row::key_path).unwrap_or_default();
    let before = before.map(|r| r.to_json(table));
    let after = after.map(|r| r.to_json(table));
    let change = Change {
        table: &table.name,
        action,
        key: &key,
        before: before.as_ref(),
        after: after.as_ref(),
    };
    record_event(conn, &change, actor)
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
    let backend = backend_of(conn);
    write_tx(conn, |conn| {
        let before =
            find_inner(conn, table, key, true)?.ok_or(WriteError::App(AppError::NotFound))?;
        if before.version() != version {
            return Err(WriteError::Conflict(Box::new(before)));
        }
        let changed: Vec<&(usize, Value)> = values
            .iter()
            .filter(|(i, v)| before.values.get(*i) != Some(v))
            .collect();
        if changed.is_empty() {
            return Ok(before);
        }
        let mut sql = Sql::new(backend);
        sql.push("UPDATE ").ident(&table.name).push(" SET ");
        for (i, (idx, v)) in changed.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            let col = &table.columns[*idx];
            sql.ident(&col.name).push(" = ").bind_for(v.clone(), col);
        }
        push_key_where(&mut sql, table, key);
        sql.push(" RETURNING ").select_list(table);
        let after = sql
            .load(conn)
            .map_err(|e| classify(e, table, None))?
            .into_iter()
            .next()
            .map(|v| split_row(table, v))
            .ok_or(WriteError::App(AppError::NotFound))?;
        let diff = changes(table, Some(&before), Some(&after));
        audit::record(
            conn,
            actor,
            "record.updated",
            &table.name,
            &after.key_path(),
            &diff,
        )?;
        notify(conn, table, "updated", Some(&before), Some(&after), actor)?;
        Ok(after)
    })
}

pub fn delete(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    key: &[Value],
    actor: &Actor,
) -> Result<(), WriteError> {
    let backend = backend_of(conn);
    let result = write_tx(conn, |conn| {
        let before =
            find_inner(conn, table, key, true)?.ok_or(WriteError::App(AppError::NotFound))?;
        let mut sql = Sql::new(backend);
        sql.push("DELETE FROM ").ident(&table.name);
        push_key_where(&mut sql, table, key);
        sql.execute(conn).map_err(|e| classify(e, table, None))?;
        audit::record(
            conn,
            actor,
            "record.deleted",
            &table.name,
            &before.key_path(),
            &changes(table, Some(&before), None),
        )?;
        notify(conn, table, "deleted", Some(&before), None, actor)?;
        Ok(())
    });
    match result {
        Err(WriteError::ForeignKey(_)) => {
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
        other => other,
    }
}

/// The tables that hold rows pointing at this row.
fn referencing_tables(
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

/// Rows of other tables that refer to `row`, the first `limit` per relation.
pub struct Related {
    pub table: String,
    pub columns: Vec<String>,
    /// The list filtered to these rows, when the relation is on one column.
    pub filter_query: Option<String>,
    pub rows: Vec<Row>,
    pub label_column: Option<usize>,
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
        let mut sql = Sql::new(backend_of(conn));
        sql.push("SELECT ").select_list(other);
        from_table(&mut sql, other);
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
        let rows = sql
            .load(conn)?
            .into_iter()
            .map(|v| split_row(other, v))
            .collect();
        let label_column = other
            .label_column()
            .and_then(|l| other.columns.iter().position(|c| c.name == l.name));
        out.push(Related {
            table: r.table.clone(),
            columns: r.columns.clone(),
            filter_query: (r.columns.len() == 1).then(|| filter.finish()),
            rows,
            label_column,
        });
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

/// Insert after checking foreign keys (so the refusal names the field and the table):
/// the one write path of the pages and the API.
pub fn insert_checked(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    values: &[(usize, Value)],
    actor: &Actor,
) -> Result<Row, WriteError> {
    let missing = check_references(conn, catalog, table, values)?;
    if !missing.is_empty() {
        return Err(WriteError::Invalid(missing, None));
    }
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
    let missing = check_references(conn, catalog, table, values)?;
    if !missing.is_empty() {
        return Err(WriteError::Invalid(missing, None));
    }
    update(conn, table, key, version, values, actor)
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

/// The rows a bulk action applies to.
#[derive(Clone)]
pub enum Selection {
    Keys(Vec<Vec<Value>>),
    /// Every row matching the list's search and filters.
    Matching(ListQuery),
}

/// Bulk actions stop at this many rows; a larger set is refused with a message.
pub const BULK_LIMIT: usize = 10_000;

/// The rows of a selection as they are now (locked on Postgres when `lock`).
pub fn select_rows(
    conn: &mut DbConn,
    table: &Table,
    selection: &Selection,
    lock: bool,
) -> Result<Vec<Row>, AppError> {
    let backend = backend_of(conn);
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
            let mut sql = Sql::new(backend);
            sql.push("SELECT ").select_list(table);
            from_table(&mut sql, table);
            q.push_where(&mut sql, table)?;
            q.push_order(&mut sql, table);
            sql.push(&format!(" LIMIT {}", BULK_LIMIT + 1));
            if lock && backend == Backend::Postgres {
                sql.push(" FOR UPDATE");
            }
            sql.load(conn)?
                .into_iter()
                .map(|v| split_row(table, v))
                .collect()
        }
    };
    if rows.len() > BULK_LIMIT {
        return Err(AppError::Invalid(format!(
            "More than {BULK_LIMIT} rows match; narrow the filter to act on fewer at once."
        )));
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
) -> Result<Vec<Row>, WriteError> {
    let rows = select_rows(conn, table, selection, true)?;
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
    let backend = backend_of(conn);
    let mut refused_key: Option<Vec<Value>> = None;
    let result = write_tx(conn, |conn| {
        let rows = confirmed_rows(conn, table, selection, expected)?;
        for row in &rows {
            let mut sql = Sql::new(backend);
            sql.push("DELETE FROM ").ident(&table.name);
            push_key_where(&mut sql, table, &row.key);
            if let Err(e) = sql.execute(conn) {
                refused_key = Some(row.key.clone());
                return Err(classify(e, table, None));
            }
            audit::record(
                conn,
                actor,
                "record.deleted",
                &table.name,
                &row.key_path(),
                &changes(table, Some(row), None),
            )?;
            notify(conn, table, "deleted", Some(row), None, actor)?;
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
    let backend = backend_of(conn);
    write_tx(conn, |conn| {
        let rows = confirmed_rows(conn, table, selection, expected)?;
        let col = &table.columns[column];
        for before in &rows {
            let mut sql = Sql::new(backend);
            sql.push("UPDATE ")
                .ident(&table.name)
                .push(" SET ")
                .ident(&col.name)
                .push(" = ")
                .bind_for(value.clone(), col);
            push_key_where(&mut sql, table, &before.key);
            sql.push(" RETURNING ").select_list(table);
            let after = sql
                .load(conn)
                .map_err(|e| classify(e, table, None))?
                .into_iter()
                .next()
                .map(|v| split_row(table, v))
                .ok_or(WriteError::App(AppError::NotFound))?;
            if after.values != before.values {
                audit::record(
                    conn,
                    actor,
                    "record.updated",
                    &table.name,
                    &after.key_path(),
                    &changes(table, Some(before), Some(&after)),
                )?;
                notify(conn, table, "updated", Some(before), Some(&after), actor)?;
            }
        }
        Ok(rows.len())
    })
}
