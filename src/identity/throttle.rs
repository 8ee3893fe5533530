//! Sign-in throttling, stored in the database so it holds across instances: after 5
//! failures for one account or 20 from one address within 15 minutes, attempts are refused
//! for a delay that doubles with each further failure (30 s, 1 min, 2 min … at most 15 min).

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::dsl::{count_star, max};
use diesel::prelude::*;

use crate::db::schema::gh_login_failures as f;
use crate::db::{DbConn, new_id};

pub const ACCOUNT_LIMIT: i64 = 5;
pub const ADDRESS_LIMIT: i64 = 20;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
const FIRST_DELAY: Duration = Duration::from_secs(30);
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

/// Why an attempt is refused, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    pub wait: Duration,
}

impl Locked {
    pub fn message(&self) -> String {
        let secs = u64::try_from(self.wait.as_millis().div_ceil(1000))
            .unwrap_or(u64::MAX)
            .max(1);
        let wait = if secs < 90 {
            format!("{secs} seconds")
        } else {
            format!("{} minutes", secs.div_ceil(60))
        };
        format!("Too many failed sign-in attempts. Try again in {wait}.")
    }
}

/// The delay after `failures` failures, when `limit` are allowed freely.
pub fn delay(failures: i64, limit: i64) -> Option<Duration> {
    let excess = failures - limit;
    if excess < 0 {
        return None;
    }
    let factor = 1u32 << excess.min(10) as u32;
    Some((FIRST_DELAY * factor).min(MAX_DELAY))
}

fn window_start(now: NaiveDateTime) -> NaiveDateTime {
    now - chrono::Duration::from_std(WINDOW).unwrap_or(chrono::Duration::zero())
}

fn lock_for(
    failures: i64,
    last: Option<NaiveDateTime>,
    limit: i64,
    now: NaiveDateTime,
) -> Option<Duration> {
    let until = last? + chrono::Duration::from_std(delay(failures, limit)?).ok()?;
    (until - now).to_std().ok().filter(|d| !d.is_zero())
}

/// Whether a sign-in for `email` from `ip` must be refused now.
pub fn check(
    conn: &mut DbConn,
    email: &str,
    ip: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<Locked>> {
    let since = window_start(now);
    let (by_account, last_account) = f::table
        .filter(f::email.eq(email))
        .filter(f::created_at.gt(since))
        .select((count_star(), max(f::created_at)))
        .first::<(i64, Option<NaiveDateTime>)>(conn)?;
    let (by_address, last_address) = f::table
        .filter(f::ip.eq(ip))
        .filter(f::created_at.gt(since))
        .select((count_star(), max(f::created_at)))
        .first::<(i64, Option<NaiveDateTime>)>(conn)?;
    let wait = [
        lock_for(by_account, last_account, ACCOUNT_LIMIT, now),
        lock_for(by_address, last_address, ADDRESS_LIMIT, now),
    ]
    .into_iter()
    .flatten()
    .max();
    Ok(wait.map(|wait| Locked { wait }))
}

/// `check`, and when not locked, count this attempt as a failure straight away. Run it in a
/// write transaction; on Postgres a transaction-scoped advisory lock on the email makes
/// concurrent attempts for one account take turns.
pub fn check_and_record(
    conn: &mut DbConn,
    email: &str,
    ip: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<Locked>> {
    if let DbConn::Postgres(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))::text")
            .bind::<diesel::sql_types::Text, _>(email)
            .execute(c)?;
    }
    if let Some(locked) = check(conn, email, ip, now)? {
        return Ok(Some(locked));
    }
    record_failure(conn, email, ip, now)?;
    Ok(None)
}

pub fn record_failure(
    conn: &mut DbConn,
    email: &str,
    ip: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(f::table)
        .values((
            f::id.eq(new_id()),
            f::email.eq(email),
            f::ip.eq(ip),
            f::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A successful sign-in clears the account's failures and drops stale rows.
pub fn reset_account(conn: &mut DbConn, email: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(f::table.filter(f::email.eq(email))).execute(conn)?;
    diesel::delete(f::table.filter(f::created_at.lt(window_start(now)))).execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_starts_after_the_limit_and_doubles_up_to_the_cap() {
        assert_eq!(delay(4, 5), None);
        assert_eq!(delay(5, 5), Some(Duration::from_secs(30)));
        assert_eq!(delay(6, 5), Some(Duration::from_secs(60)));
        assert_eq!(delay(7, 5), Some(Duration::from_secs(120)));
        assert_eq!(delay(40, 5), Some(MAX_DELAY));
    }

    #[test]
    fn messages_name_the_wait() {
        assert!(
            Locked {
                wait: Duration::from_secs(30)
            }
            .message()
            .contains("30 seconds")
        );
        assert!(
            Locked {
                wait: Duration::from_secs(600)
            }
            .message()
            .contains("10 minutes")
        );
    }
}
