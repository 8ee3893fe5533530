//! How many rows a view holds: bounded counts, estimates for large unfiltered tables, the
//! labels they are shown with, and a short-lived cache of them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::catalog::Table;
use crate::db::DbConn;
use crate::engine::query::ListQuery;
use crate::engine::sql::Sql;
use crate::engine::store::row::{backend_of, from_table};
use crate::engine::value::Value;
use crate::error::AppError;

/// How many rows a view holds, as precisely as it is worth knowing.
#[derive(Debug, Clone, Copy)]
pub enum Count {
    Exact(i64),
    /// At least this many (the count stopped there).
    AtLeast(i64),
    /// The planner's estimate, for an unfiltered large table.
    About(i64),
}

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

/// Counting stops here unless the exact figure is asked for.
pub const COUNT_LIMIT: i64 = 10_000;
/// Unfiltered tables estimated above this are not counted at all.
const ESTIMATE_ABOVE: i64 = 100_000;

/// Bounded counts, remembered for a few seconds: a busy list view does not walk ten
/// thousand rows on every page view. Writes made through Gatehouse forget the table's
/// counts at once; changes made elsewhere show within `COUNT_TTL`.
#[derive(Default)]
pub struct CountCache {
    entries: Mutex<HashMap<String, (Instant, String, Count)>>,
}

const COUNT_TTL: Duration = Duration::from_secs(5);

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
            entries.insert(key, (Instant::now(), table.to_string(), count));
        }
    }

    /// Forget the counts of a table that was just written.
    pub fn invalidate(&self, table: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, (_, t, _)| t != table);
        }
    }

    /// A write's outcome, passed through; the table's counts are forgotten if it wrote.
    pub fn written<T, E>(&self, table: &str, result: Result<T, E>) -> Result<T, E> {
        if result.is_ok() {
            self.invalidate(table);
        }
        result
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
        && table.scope(crate::catalog::rules::Action::Read).is_none()
        && let Some(estimate) = table.estimated_rows
        && estimate > ESTIMATE_ABOVE
    {
        return Ok(Count::About(estimate));
    }
    let bound = (!q.exact_count).then_some(COUNT_LIMIT);
    let sql = count_sql(conn, table, q, bound)?;
    let key = sql.cache_key();
    if let Some(hit) = cache.filter(|_| !q.exact_count).and_then(|c| c.get(&key)) {
        return Ok(hit);
    }
    let n = load_count(conn, &sql)?;
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

/// `SELECT COUNT(*)` of the rows matching `q`; with a bound, counting stops one past it.
pub(super) fn count_sql(
    conn: &DbConn,
    table: &Table,
    q: &ListQuery,
    bound: Option<i64>,
) -> Result<Sql, AppError> {
    let mut sql = Sql::new(backend_of(conn));
    sql.push("SELECT COUNT(*)");
    match bound {
        None => {
            from_table(&mut sql, table);
            q.push_where(&mut sql, table)?;
        }
        Some(bound) => {
            sql.push(" FROM (SELECT 1");
            from_table(&mut sql, table);
            q.push_where(&mut sql, table)?;
            sql.push(&format!(" LIMIT {}) AS bounded", bound + 1));
        }
    }
    Ok(sql)
}

/// The number a `SELECT COUNT(*)` statement returns.
pub(super) fn load_count(conn: &mut DbConn, sql: &Sql) -> Result<i64, AppError> {
    Ok(match sql.load(conn)?.first().and_then(|r| r.first()) {
        Some(Value::Int(n)) => *n,
        Some(Value::Text(t)) => t.parse().unwrap_or(0),
        _ => 0,
    })
}
