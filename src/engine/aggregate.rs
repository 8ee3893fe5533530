//! Aggregates over user tables, for charts: the rows a list's filters select, counted per
//! value of a text / enum / boolean column (bars) or per day, week or month of a date or
//! timestamp column (a line). Computed by the database with a bounded query — a statement
//! timeout on Postgres (then a row cap), a row cap on SQLite — and labelled approximate
//! when the bound cut it. `AggregateCache` keeps results for a few seconds per key.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::Connection;

use crate::catalog::{Column, Kind, Table};
use crate::db::{Backend, DbConn};
use crate::engine::query::ListQuery;
use crate::engine::sql::Sql;
use crate::engine::store::backend_of;
use crate::engine::value::Value;
use crate::engine::zoned::{self, Offsets};
use crate::error::AppError;

/// At most this many rows are grouped when the bound applies.
pub const ROW_CAP: i64 = 200_000;
/// Postgres gives a full count this long before it falls back to the row cap.
const PG_TIMEOUT_MS: u32 = 1_500;
/// Bars shown (the largest groups).
pub const MAX_BARS: usize = 30;
/// Points shown on a line (the latest buckets).
pub const MAX_POINTS: usize = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Day,
    Week,
    Month,
}

impl Bucket {
    pub const ALL: [Bucket; 3] = [Bucket::Day, Bucket::Week, Bucket::Month];

    pub fn name(self) -> &'static str {
        match self {
            Bucket::Day => "day",
            Bucket::Week => "week",
            Bucket::Month => "month",
        }
    }

    fn parse(s: &str) -> Option<Bucket> {
        Bucket::ALL.into_iter().find(|b| b.name() == s)
    }
}

/// How rows are grouped: by a column's values, or by a date column's day / week / month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    Values(String),
    Time(String, Bucket),
}

impl Grouping {
    pub fn column(&self) -> &str {
        match self {
            Grouping::Values(c) | Grouping::Time(c, _) => c,
        }
    }
}

/// Columns whose values make bars.
pub fn groups_by_value(c: &Column) -> bool {
    matches!(c.kind, Kind::Text | Kind::Enum | Kind::Bool)
}

/// Columns whose dates make a line.
pub fn groups_by_time(c: &Column) -> bool {
    matches!(c.kind, Kind::Date | Kind::DateTime | Kind::DateTimeTz)
}

/// A chart's query: the list's search and filters, and the grouping (`by`, `every`).
#[derive(Debug, Clone)]
pub struct ChartQuery {
    pub list: ListQuery,
    /// None when the table has no column to group by.
    pub grouping: Option<Grouping>,
}

impl ChartQuery {
    /// Parse `by=COLUMN&every=day|week|month` plus the list's filters; without `by`, the
    /// first enum column, else the first date column, else the first text column.
    pub fn parse(query: &str, table: &Table) -> Result<ChartQuery, AppError> {
        ChartQuery::parse_in(query, table, &jiff::tz::TimeZone::UTC)
    }

    /// `parse`, with filters' times and the days, weeks and months in `zone`.
    pub fn parse_in(
        query: &str,
        table: &Table,
        zone: &jiff::tz::TimeZone,
    ) -> Result<ChartQuery, AppError> {
        let list = ListQuery::parse_in(query, table, zone)?;
        let (mut by, mut every) = (None, None);
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "by" if !v.is_empty() => by = Some(v.into_owned()),
                "every" if !v.is_empty() => every = Some(v.into_owned()),
                _ => {}
            }
        }
        let bucket = match every {
            None => Bucket::Day,
            Some(e) => Bucket::parse(&e).ok_or_else(|| {
                AppError::Invalid(format!("'{e}' is not a period; use day, week or month."))
            })?,
        };
        let grouping = match by {
            Some(name) => {
                let c = table.column(&name).ok_or_else(|| {
                    AppError::Invalid(format!("{} has no column '{name}'.", table.name))
                })?;
                Some(grouping_of(c, bucket).ok_or_else(|| {
                    AppError::Invalid(format!(
                        "'{name}' cannot be charted: choose a text, enum, boolean, date or timestamp column."
                    ))
                })?)
            }
            None => default_grouping(table, bucket),
        };
        Ok(ChartQuery { list, grouping })
    }

    /// This chart as a query string (the list's state, then `by` and `every`).
    pub fn to_query(&self) -> String {
        let mut s = self.list.to_query(Some(1), None);
        if let Some(g) = &self.grouping {
            let mut extra = url::form_urlencoded::Serializer::new(String::new());
            extra.append_pair("by", g.column());
            if let Grouping::Time(_, b) = g {
                extra.append_pair("every", b.name());
            }
            if !s.is_empty() {
                s.push('&');
            }
            s.push_str(&extra.finish());
        }
        s
    }
}

fn grouping_of(c: &Column, bucket: Bucket) -> Option<Grouping> {
    if groups_by_time(c) {
        Some(Grouping::Time(c.name.clone(), bucket))
    } else if groups_by_value(c) {
        Some(Grouping::Values(c.name.clone()))
    } else {
        None
    }
}

fn default_grouping(table: &Table, bucket: Bucket) -> Option<Grouping> {
    let first = |f: &dyn Fn(&Column) -> bool| table.columns.iter().find(|c| f(c));
    first(&|c| c.kind == Kind::Enum)
        .or_else(|| first(&groups_by_time))
        .or_else(|| first(&|c| groups_by_value(c) && !c.primary_key))
        .and_then(|c| grouping_of(c, bucket))
}

/// Counts per group, in display order.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub points: Vec<(String, i64)>,
    /// Rows counted (all groups, also those not shown).
    pub total: i64,
    /// The bound cut the count: the figures come from the first `ROW_CAP` rows only.
    pub approximate: bool,
    /// Groups beyond those shown.
    pub more_groups: bool,
}

/// Count the rows `q` selects per group, bounded.
pub fn group_counts(conn: &mut DbConn, table: &Table, q: &ChartQuery) -> Result<Series, AppError> {
    let Some(grouping) = &q.grouping else {
        return Ok(Series::default());
    };
    let column = table.column(grouping.column()).ok_or(AppError::NotFound)?;
    let offsets = match grouping {
        Grouping::Time(..) => Offsets::for_tables(&q.list.zone),
        Grouping::Values(_) => Offsets::utc(),
    };
    let build = |conn: &DbConn, cap: Option<i64>| group_sql(conn, table, q, &offsets, column, cap);
    match backend_of(conn) {
        Backend::Sqlite => {
            let sql = build(&*conn, Some(ROW_CAP))?;
            Ok(series(sql.load(conn)?, grouping, Some(ROW_CAP)))
        }
        Backend::Postgres => {
            // A full count if it is quick; past the timeout, the first ROW_CAP rows.
            let full = build(&*conn, None)?;
            match with_timeout(conn, &full) {
                Ok(rows) => Ok(series(rows, grouping, None)),
                Err(e) if e.to_string().contains("statement timeout") => {
                    let capped = build(&*conn, Some(ROW_CAP))?;
                    Ok(series(
                        with_timeout(conn, &capped)?,
                        grouping,
                        Some(ROW_CAP),
                    ))
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Run a read on Postgres under `statement_timeout`, in a transaction of its own.
fn with_timeout(conn: &mut DbConn, sql: &Sql) -> diesel::QueryResult<Vec<Vec<Value>>> {
    conn.transaction(|conn| {
        let mut limit = Sql::new(Backend::Postgres);
        limit.push(&format!("SET LOCAL statement_timeout = {PG_TIMEOUT_MS}"));
        limit.execute(conn)?;
        sql.load(conn)
    })
}

/// `SELECT g, COUNT(*), total FROM (SELECT <group expression> AS g FROM t WHERE … [LIMIT
/// cap + 1]) GROUP BY g ORDER BY … LIMIT n`.
fn group_sql(
    conn: &DbConn,
    table: &Table,
    chart: &ChartQuery,
    offsets: &Offsets,
    column: &Column,
    cap: Option<i64>,
) -> Result<Sql, AppError> {
    let Some(grouping) = &chart.grouping else {
        return Err(AppError::NotFound);
    };
    let q = &chart.list;
    let backend = backend_of(conn);
    let mut sql = Sql::new(backend);
    sql.push("SELECT g, COUNT(*), CAST(SUM(COUNT(*)) OVER () AS BIGINT) FROM (SELECT ");
    match grouping {
        Grouping::Values(_) => {
            sql.column_as_text(column);
        }
        Grouping::Time(_, bucket) => {
            zoned::push_bucket(&mut sql, &column.name, column.kind, *bucket, offsets)
        }
    }
    sql.push(" AS g");
    crate::engine::rules::push_from(&mut sql, table, &[crate::catalog::rules::Action::Read]);
    q.push_where(&mut sql, table)?;
    if let Some(cap) = cap {
        sql.push(&format!(" LIMIT {}", cap + 1));
    }
    sql.push(") AS grouped GROUP BY g");
    match grouping {
        Grouping::Values(_) => sql.push(&format!(" ORDER BY 2 DESC, 1 LIMIT {}", MAX_BARS + 1)),
        // The latest buckets (NULL sorts first descending on Postgres, last on SQLite: one more).
        Grouping::Time(..) => sql.push(&format!(" ORDER BY 1 DESC LIMIT {}", MAX_POINTS + 2)),
    };
    Ok(sql)
}

fn series(rows: Vec<Vec<Value>>, grouping: &Grouping, cap: Option<i64>) -> Series {
    let int = |v: Option<&Value>| match v {
        Some(Value::Int(n)) => *n,
        Some(Value::Text(t)) => t.parse().unwrap_or(0),
        _ => 0,
    };
    let total = rows.first().map_or(0, |r| int(r.get(2)));
    let mut points: Vec<(String, i64)> = rows
        .iter()
        .filter_map(|r| {
            let label = match r.first() {
                Some(Value::Null) | None => None,
                Some(v) => v.as_text(),
            };
            match (label, grouping) {
                (None, Grouping::Time(..)) => None,
                (None, Grouping::Values(_)) => Some(("(null)".to_string(), int(r.get(1)))),
                (Some(l), _) => Some((l, int(r.get(1)))),
            }
        })
        .collect();
    let limit = match grouping {
        Grouping::Values(_) => MAX_BARS,
        Grouping::Time(..) => MAX_POINTS,
    };
    let more_groups = points.len() > limit;
    points.truncate(limit);
    if matches!(grouping, Grouping::Time(..)) {
        points.reverse();
    }
    Series {
        points,
        total,
        approximate: cap.is_some_and(|c| total > c),
        more_groups,
    }
}

/// What a cache lookup found.
pub enum Cached<T> {
    Fresh(Arc<T>),
    /// Older than the time to live, but another request is computing it now: use this.
    Stale(Arc<T>),
    /// Compute it (and `put` it).
    Miss,
}

type Entry = (Instant, Arc<dyn Any + Send + Sync>, bool);

/// Aggregates remembered for `AGGREGATE_TTL` per key (the key names the role and the
/// query): a busy dashboard asks the database once per key every few seconds, and while one
/// request recomputes an expired entry the others are served the previous figures.
#[derive(Default)]
pub struct AggregateCache {
    entries: Mutex<HashMap<String, Entry>>,
}

pub const AGGREGATE_TTL: Duration = Duration::from_secs(5);
/// A stale entry is served while recomputed for at most this long.
const STALE_FOR: Duration = Duration::from_secs(30);

impl AggregateCache {
    pub fn lookup<T: Any + Send + Sync>(&self, key: &str) -> Cached<T> {
        let Ok(mut entries) = self.entries.lock() else {
            return Cached::Miss;
        };
        let Some((at, value, refreshing)) = entries.get_mut(key) else {
            return Cached::Miss;
        };
        let Ok(value) = value.clone().downcast::<T>() else {
            return Cached::Miss;
        };
        let age = at.elapsed();
        if age < AGGREGATE_TTL {
            Cached::Fresh(value)
        } else if age < STALE_FOR && *refreshing {
            Cached::Stale(value)
        } else if age < STALE_FOR {
            *refreshing = true;
            Cached::Miss
        } else {
            Cached::Miss
        }
    }

    pub fn put<T: Any + Send + Sync>(&self, key: String, value: Arc<T>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 2_000 {
                entries.retain(|_, (at, _, _)| at.elapsed() < AGGREGATE_TTL);
            }
            entries.insert(key, (Instant::now(), value, false));
        }
    }

    /// Forget every entry whose key starts with `prefix` (after a change on this instance).
    pub fn forget(&self, prefix: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|k, _| !k.starts_with(prefix));
        }
    }

    /// A failed recomputation lets the next request try again.
    pub fn release(&self, key: &str) {
        if let Ok(mut entries) = self.entries.lock()
            && let Some(e) = entries.get_mut(key)
        {
            e.2 = false;
        }
    }
}
