//! How many rows a view holds: bounded counts, estimates for large unfiltered tables, the
//! labels they are shown with, and a short-lived cache of them.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::catalog::Table;
use crate::db::DbConn;
use crate::engine::query::ListQuery;
use crate::engine::sql::Sql;
use crate::engine::store::labels::LabelCache;
use crate::engine::store::marks::PageMarks;
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
/// counts at once; changes made elsewhere show within `COUNT_TTL` plus the time one count
/// takes (while one request counts again, the others show the figure it replaces).
///
/// One count per statement at a time: when a count is missing, the first request to miss
/// it counts and the others wait for its figure (a search's count over a large table can
/// take 100 ms; eight of them at once behind 32 clients made the slowest requests slow).
#[derive(Default)]
pub struct CountCache {
    entries: Mutex<Entries>,
    /// Signalled whenever a count is stored or given up.
    done: Condvar,
    /// Where deep pages start (`marks`): forgotten with the counts.
    pub(super) marks: PageMarks,
    /// The labels of list pages' foreign keys (`labels`): forgotten with the counts.
    pub(super) labels: LabelCache,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, Entry>,
    /// Bumped by every invalidation: a count begun before a write is not stored after it.
    generation: u64,
}

struct Entry {
    table: String,
    /// When it was counted, and the figure; `None` while the first count is under way.
    counted: Option<(Instant, Count)>,
    /// A request is counting it (again).
    counting: bool,
}

const COUNT_TTL: Duration = Duration::from_secs(5);
/// How long a request waits for another's count before counting itself.
const WAIT_AT_MOST: Duration = Duration::from_secs(10);

/// What a request does about one count.
enum Turn {
    /// Use this figure.
    Have(Count),
    /// Count, then hand the figure to [`CountCache::finish`] (dropping the claim without it
    /// lets a waiting request count instead).
    Count(Claim),
}

/// The right to store one count, taken at `generation`.
struct Claim {
    key: String,
    generation: u64,
}

impl CountCache {
    fn turn(&self, key: &str, table: &str) -> Turn {
        let Ok(mut entries) = self.entries.lock() else {
            return Turn::Count(Claim::none());
        };
        let deadline = Instant::now() + WAIT_AT_MOST;
        loop {
            let generation = entries.generation;
            let claim = || Claim {
                key: key.to_string(),
                generation,
            };
            match entries.map.get_mut(key) {
                Some(e) => match e.counted {
                    Some((at, c)) if at.elapsed() < COUNT_TTL || e.counting => {
                        return Turn::Have(c);
                    }
                    Some(_) => {
                        e.counting = true;
                        return Turn::Count(claim());
                    }
                    None if !e.counting => {
                        e.counting = true;
                        return Turn::Count(claim());
                    }
                    None => {}
                },
                None => {
                    if entries.map.len() > 1000 {
                        entries.map.retain(|_, e| {
                            e.counting || e.counted.is_some_and(|(at, _)| at.elapsed() < COUNT_TTL)
                        });
                    }
                    let entry = Entry {
                        table: table.to_string(),
                        counted: None,
                        counting: true,
                    };
                    entries.map.insert(key.to_string(), entry);
                    return Turn::Count(claim());
                }
            }
            // Another request is counting a figure nobody has yet: wait for it.
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Turn::Count(Claim::none());
            }
            entries = match self.done.wait_timeout(entries, left) {
                Ok((e, _)) => e,
                Err(_) => return Turn::Count(Claim::none()),
            };
        }
    }

    /// Store the count a claim was for (unless the table was written meanwhile), or give
    /// the claim up (`None`: the count failed).
    fn finish(&self, claim: Claim, count: Option<Count>) {
        if claim.key.is_empty() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            let current = entries.generation == claim.generation;
            if let Some(e) = entries.map.get_mut(&claim.key) {
                e.counting = false;
                if let Some(c) = count.filter(|_| current) {
                    e.counted = Some((Instant::now(), c));
                }
            }
        }
        self.done.notify_all();
    }

    /// Forget every table's counts, marks and labels: after a statement of the SQL console,
    /// which may have written any table.
    pub fn invalidate_all(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.generation += 1;
            entries.map.clear();
        }
        self.marks.forget_all();
        self.labels.forget_all();
        self.done.notify_all();
    }

    /// Forget the counts of a table that was just written.
    pub fn invalidate(&self, table: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.generation += 1;
            entries.map.retain(|_, e| e.table != table);
        }
        self.marks.forget(table);
        self.labels.forget(table);
        self.done.notify_all();
    }

    /// A write's outcome, passed through; the table's counts are forgotten if it wrote.
    pub fn written<T, E>(&self, table: &str, result: Result<T, E>) -> Result<T, E> {
        if result.is_ok() {
            self.invalidate(table);
        }
        result
    }
}

impl Claim {
    /// A claim that stores nothing (the cache could not be used).
    fn none() -> Claim {
        Claim {
            key: String::new(),
            generation: 0,
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
        && table.scope(crate::catalog::rules::Action::Read).is_none()
        && let Some(estimate) = table.estimated_rows
        && estimate > ESTIMATE_ABOVE
    {
        return Ok(Count::About(estimate));
    }
    let bound = (!q.exact_count).then_some(COUNT_LIMIT);
    let sql = count_sql(conn, table, q, bound)?;
    let cache = cache.filter(|_| !q.exact_count);
    let claim = match cache.map(|c| c.turn(&sql.cache_key(), &table.name)) {
        Some(Turn::Have(count)) => return Ok(count),
        Some(Turn::Count(claim)) => Some(claim),
        None => None,
    };
    let counted = load_count(conn, &sql).map(|n| {
        if !q.exact_count && n > COUNT_LIMIT {
            Count::AtLeast(COUNT_LIMIT)
        } else {
            Count::Exact(n)
        }
    });
    if let (Some(c), Some(claim)) = (cache, claim) {
        c.finish(claim, counted.as_ref().ok().copied());
    }
    counted
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counted(cache: &CountCache, key: &str, n: i64, counts: &AtomicUsize) -> Count {
        match cache.turn(key, "orders") {
            Turn::Have(c) => c,
            Turn::Count(claim) => {
                counts.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
                cache.finish(claim, Some(Count::Exact(n)));
                Count::Exact(n)
            }
        }
    }

    #[test]
    fn concurrent_misses_count_once_and_share_the_figure() {
        let cache = Arc::new(CountCache::default());
        let counts = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (cache, counts) = (cache.clone(), counts.clone());
                std::thread::spawn(move || counted(&cache, "k", 42, &counts))
            })
            .collect();
        for t in threads {
            let got = t.join().ok().map(|c| format!("{c:?}"));
            assert_eq!(got.as_deref(), Some("Exact(42)"));
        }
        assert_eq!(counts.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failed_count_lets_the_next_request_count() {
        let cache = CountCache::default();
        let Turn::Count(claim) = cache.turn("k", "orders") else {
            panic!("the first request counts");
        };
        cache.finish(claim, None);
        assert!(matches!(cache.turn("k", "orders"), Turn::Count(_)));
    }

    #[test]
    fn a_write_during_a_count_keeps_its_figure_out_of_the_cache() {
        let cache = CountCache::default();
        let Turn::Count(claim) = cache.turn("k", "orders") else {
            panic!("the first request counts");
        };
        cache.invalidate("orders");
        cache.finish(claim, Some(Count::Exact(1)));
        assert!(matches!(cache.turn("k", "orders"), Turn::Count(_)));
    }

    #[test]
    fn an_expired_count_is_counted_again_by_one_request() {
        let cache = CountCache::default();
        if let Turn::Count(claim) = cache.turn("k", "orders") {
            cache.finish(claim, Some(Count::Exact(1)));
        }
        if let Ok(mut e) = cache.entries.lock()
            && let Some(entry) = e.map.get_mut("k")
        {
            entry.counted = Some((Instant::now() - COUNT_TTL * 2, Count::Exact(1)));
        }
        assert!(matches!(cache.turn("k", "orders"), Turn::Count(_)));
        // While it counts, the others show the figure it replaces rather than waiting.
        assert!(matches!(
            cache.turn("k", "orders"),
            Turn::Have(Count::Exact(1))
        ));
    }
}
