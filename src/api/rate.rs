//! The per-token API rate limit, held across every instance on one database.
//!
//! Requests are counted per token in fixed one-minute windows (of wall-clock time, the same
//! on every instance). The shared count lives in `gh_api_rate`; an instance does not write
//! it per request but leases a slice of the window's budget (one upsert per slice) and
//! spends it locally. The limit is never exceeded across instances; at worst a client is
//! refused early by the slices other instances hold unspent (a twentieth of the limit
//! each). When a window's budget is gone, this instance refuses without asking again until
//! the next window. If the lease cannot be written (a read-only or faulty database), the
//! instance counts alone for that slice rather than failing the request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::gh_api_rate as r;

const WINDOW_SECS: i64 = 60;

/// What this instance holds of each token's current window.
#[derive(Default)]
pub struct RateLimiter {
    budgets: Mutex<HashMap<String, Budget>>,
    /// The last window whose older rows this instance deleted.
    pruned: AtomicI64,
}

#[derive(Clone, Copy)]
struct Budget {
    window: i64,
    /// Leased and not spent yet.
    left: u32,
    /// The shared budget of this window is gone: refuse without asking.
    exhausted: bool,
}

/// The current window and the seconds until it ends.
pub fn window_now() -> (i64, u64) {
    let secs = chrono::Utc::now().timestamp();
    let window = secs.div_euclid(WINDOW_SECS);
    let left = (window + 1) * WINDOW_SECS - secs;
    (window, u64::try_from(left).unwrap_or(1).max(1))
}

/// How many requests one lease takes from the shared budget.
pub fn slice_of(limit: u32) -> u32 {
    (limit / 20).clamp(1, 50)
}

impl RateLimiter {
    /// Spend one request of what this instance holds: `Some(Ok)` allowed, `Some(Err(wait))`
    /// refused, `None` when a lease is needed first.
    pub fn take(&self, token: &str, window: i64, wait: u64) -> Option<Result<(), u64>> {
        let Ok(mut b) = self.budgets.lock() else {
            return Some(Ok(()));
        };
        let budget = b.get_mut(token).filter(|b| b.window == window)?;
        if budget.left > 0 {
            budget.left -= 1;
            return Some(Ok(()));
        }
        budget.exhausted.then_some(Err(wait))
    }

    /// Add what a lease granted (zero: the window's budget is gone).
    pub fn grant(&self, token: &str, window: i64, granted: u32) {
        let Ok(mut b) = self.budgets.lock() else {
            return;
        };
        if b.len() > 10_000 {
            b.retain(|_, v| v.window == window);
        }
        let budget = b.entry(token.to_string()).or_insert(Budget {
            window,
            left: 0,
            exhausted: false,
        });
        if budget.window != window {
            *budget = Budget {
                window,
                left: 0,
                exhausted: false,
            };
        }
        budget.left += granted;
        budget.exhausted = granted == 0;
    }

    /// Whether this instance should delete the rows of past windows now (once a window).
    pub fn prune_due(&self, window: i64) -> bool {
        self.pruned.swap(window, Ordering::Relaxed) != window
    }
}

/// Take a slice of `token_id`'s budget for `window` from the shared count; returns how many
/// requests were granted (zero when the limit is reached).
pub fn lease(
    conn: &mut DbConn,
    token_id: &str,
    window: i64,
    limit: u32,
    prune: bool,
) -> QueryResult<u32> {
    let slice = i64::from(slice_of(limit));
    let insert = diesel::insert_into(r::table)
        .values((
            r::token_id.eq(token_id),
            r::window_start.eq(window),
            r::used.eq(slice),
        ))
        .on_conflict((r::token_id, r::window_start))
        .do_update()
        .set(r::used.eq(r::used + slice))
        .returning(r::used);
    let used: i64 = crate::db::write_tx(conn, |conn| match conn {
        DbConn::Postgres(c) => insert.get_result(c),
        DbConn::Sqlite(c) => insert.get_result(c),
    })?;
    if prune {
        diesel::delete(r::table.filter(r::window_start.lt(window - 1))).execute(conn)?;
    }
    Ok(granted(used, slice, i64::from(limit)))
}

/// Of the slice just added (making the count `used`), what is still within `limit`.
fn granted(used: i64, slice: i64, limit: i64) -> u32 {
    let before = used - slice;
    u32::try_from((limit - before).clamp(0, slice)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_grants_only_what_is_left_of_the_limit() {
        assert_eq!(granted(30, 30, 600), 30);
        assert_eq!(granted(600, 30, 600), 30);
        assert_eq!(granted(610, 30, 600), 20);
        assert_eq!(granted(640, 30, 600), 0);
    }

    #[test]
    fn local_budget_is_spent_then_refused_once_exhausted() {
        let l = RateLimiter::default();
        assert_eq!(l.take("t", 1, 9), None);
        l.grant("t", 1, 2);
        assert_eq!(l.take("t", 1, 9), Some(Ok(())));
        assert_eq!(l.take("t", 1, 9), Some(Ok(())));
        assert_eq!(l.take("t", 1, 9), None);
        l.grant("t", 1, 0);
        assert_eq!(l.take("t", 1, 9), Some(Err(9)));
        assert_eq!(l.take("t", 2, 9), None, "a new window asks again");
    }
}
