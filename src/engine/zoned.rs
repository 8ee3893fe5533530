//! The operator's days, for what reads a typed time or counts per day. A value typed
//! without a zone for a date-and-time column — a list filter, a bulk "set" — is read in the
//! operator's zone (`parse_input_in`), and a date alone for such a column means that whole
//! day there (`day_bounds`). Counts per day, week or month are the operator's too: the
//! zone's offsets over a window are computed here with jiff (`Offsets`), so both backends
//! agree with the pages (a day may be 23 or 25 hours), and the database buckets each row by
//! them (`push_bucket`). The API keeps UTC: it passes `TimeZone::UTC`.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::catalog::{Column, Kind};
use crate::db::Backend;
use crate::engine::aggregate::Bucket;
use crate::engine::sql::Sql;
use crate::engine::timestamp;
use crate::engine::value::{Value, parse_input};

/// More changes of clocks than this are not written into one query (the offset of the
/// last one holds after it).
const MAX_CHANGES: usize = 400;

/// A value typed for `column`: a date and time without a zone is in `zone` (in the hour
/// a change of clocks skips or repeats, as the record form reads it); one with `Z` or an
/// offset keeps it; any other value as `parse_input` reads it.
pub fn parse_input_in(column: &Column, raw: &str, zone: &TimeZone) -> Result<Value, String> {
    let utc = match column.kind {
        Kind::DateTime | Kind::DateTimeTz => timestamp::parse_in(raw, zone),
        _ => None,
    };
    parse_input(column, utc.as_deref().unwrap_or(raw))
}

/// A date alone (`2026-11-27`) typed for a date-and-time column: the first instant of
/// that day in `zone` and the first of the next, as UTC `YYYY-MM-DD HH:MM:SS`.
pub fn day_bounds(column: &Column, raw: &str, zone: &TimeZone) -> Option<(String, String)> {
    if !matches!(column.kind, Kind::DateTime | Kind::DateTimeTz) {
        return None;
    }
    local_day(raw, zone)
}

fn local_day(raw: &str, zone: &TimeZone) -> Option<(String, String)> {
    let raw = raw.trim();
    if raw.len() != 10 {
        return None;
    }
    let date: jiff::civil::Date = raw.parse().ok()?;
    let start = date.to_zoned(zone.clone()).ok()?;
    let end = date.tomorrow().ok()?.to_zoned(zone.clone()).ok()?;
    Some((utc_text(start.timestamp()), utc_text(end.timestamp())))
}

/// An instant as Gatehouse writes UTC: `YYYY-MM-DD HH:MM:SS`.
pub fn utc_text(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// The operator's calendar around `now`: the last `n` days (`YYYY-MM-DD`, oldest first),
/// the instant the first of them began, and the Monday of this week.
pub struct Calendar {
    pub days: Vec<String>,
    pub since: Timestamp,
    pub week: String,
}

impl Calendar {
    pub fn of(zone: &TimeZone, now: Timestamp, n: i64) -> Calendar {
        let today = now.to_zoned(zone.clone()).date();
        let back = |days: i64| {
            today
                .checked_sub(jiff::Span::new().days(days))
                .unwrap_or(today)
        };
        let first = back(n - 1);
        let since = first
            .to_zoned(zone.clone())
            .map(|z| z.timestamp())
            .unwrap_or(now);
        let week = back(i64::from(today.weekday().to_monday_zero_offset()));
        Calendar {
            days: (0..n).map(|i| back(n - 1 - i).to_string()).collect(),
            since,
            week: week.to_string(),
        }
    }
}

/// A zone's offsets from UTC over a window, in seconds: the one in force at its start,
/// then each change (its UTC instant as `YYYY-MM-DD HH:MM:SS`, the new offset), oldest first.
#[derive(Debug, Clone)]
pub struct Offsets {
    start: i32,
    changes: Vec<(String, i32)>,
}

impl Offsets {
    pub fn between(zone: &TimeZone, from: Timestamp, to: Timestamp) -> Offsets {
        let start = zone.to_offset(from).seconds();
        let (mut last, mut changes) = (start, Vec::new());
        for t in zone.following(from) {
            if t.timestamp() > to || changes.len() >= MAX_CHANGES {
                break;
            }
            let offset = t.offset().seconds();
            if offset != last {
                changes.push((utc_text(t.timestamp()), offset));
                last = offset;
            }
        }
        Offsets { start, changes }
    }

    /// Over the years a table's times are likely in: 1900 to ten years from now (before,
    /// the offset of 1900; after, the last one).
    pub fn for_tables(zone: &TimeZone) -> Offsets {
        let from = Timestamp::from_second(-2_208_988_800).unwrap_or(Timestamp::UNIX_EPOCH);
        let to = Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(24 * 3660))
            .unwrap_or(Timestamp::MAX);
        Offsets::between(zone, from, to)
    }

    /// No offset at all: UTC.
    pub fn utc() -> Offsets {
        Offsets {
            start: 0,
            changes: Vec::new(),
        }
    }

    /// Whether the window is all UTC (then the buckets are the plain UTC ones).
    pub fn is_utc(&self) -> bool {
        self.start == 0 && self.changes.is_empty()
    }
}

/// `column` as a UTC time without a zone: SQLite's `datetime()` of its text (whatever
/// ISO form it is stored in), Postgres's timestamp (a `timestamptz` read at UTC).
fn push_utc(sql: &mut Sql, column: &str, with_zone: bool) {
    match sql.backend() {
        Backend::Sqlite => sql.push("datetime(").ident(column).push(")"),
        Backend::Postgres if with_zone => sql.push("(").ident(column).push(" AT TIME ZONE 'UTC')"),
        Backend::Postgres => sql.ident(column),
    };
}

/// The offset in force at the row's time, in seconds: a number, or a CASE over the
/// changes, latest first (most rows are recent).
fn push_offset(sql: &mut Sql, column: &str, with_zone: bool, offsets: &Offsets) {
    if offsets.changes.is_empty() {
        sql.push(&offsets.start.to_string());
        return;
    }
    sql.push("CASE");
    for (at, offset) in offsets.changes.iter().rev() {
        sql.push(" WHEN ");
        push_utc(sql, column, with_zone);
        sql.push(" >= ");
        match sql.backend() {
            Backend::Sqlite => sql.bind(Value::Text(at.clone())),
            Backend::Postgres => sql
                .push("CAST(")
                .bind(Value::Text(at.clone()))
                .push(" AS TIMESTAMP)"),
        };
        sql.push(&format!(" THEN {offset}"));
    }
    sql.push(&format!(" ELSE {} END", offsets.start));
}

/// The day / week (starting Monday) / month a row's time falls in, as ISO text
/// (`YYYY-MM-DD`, the week's Monday, `YYYY-MM`), in the zone `offsets` describe. A date
/// column has no zone; a time column with UTC offsets keeps the plain UTC expression.
pub fn push_bucket(sql: &mut Sql, column: &str, kind: Kind, bucket: Bucket, offsets: &Offsets) {
    let zoned = matches!(kind, Kind::DateTime | Kind::DateTimeTz) && !offsets.is_utc();
    let with_zone = kind == Kind::DateTimeTz;
    match sql.backend() {
        Backend::Sqlite => {
            let (open, close) = match bucket {
                Bucket::Day => ("date(", ")"),
                Bucket::Week => ("date(", ", 'weekday 0', '-6 days')"),
                Bucket::Month => ("strftime('%Y-%m', ", ")"),
            };
            sql.push(open).ident(column);
            if zoned {
                // A modifier: `19800 seconds` moves the UTC time to the zone's.
                sql.push(", (");
                push_offset(sql, column, with_zone, offsets);
                sql.push(") || ' seconds'");
            }
            sql.push(close);
        }
        Backend::Postgres => {
            let format = match bucket {
                Bucket::Month => "YYYY-MM",
                _ => "YYYY-MM-DD",
            };
            sql.push(&format!("to_char(date_trunc('{}', ", bucket.name()));
            if zoned {
                push_utc(sql, column, with_zone);
                sql.push(" + (");
                push_offset(sql, column, with_zone, offsets);
                sql.push(") * INTERVAL '1 second'");
            } else {
                sql.ident(column);
            }
            sql.push(&format!("), '{format}')"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> TimeZone {
        jiff::tz::db().get(name).unwrap()
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_day_is_the_operators_day_also_when_clocks_change() {
        assert_eq!(
            local_day("2026-11-27", &zone("Asia/Kolkata")),
            Some(("2026-11-26 18:30:00".into(), "2026-11-27 18:30:00".into()))
        );
        // New York falls back on 2026-11-01: that day has 25 hours.
        assert_eq!(
            local_day("2026-11-01", &zone("America/New_York")),
            Some(("2026-11-01 04:00:00".into(), "2026-11-02 05:00:00".into()))
        );
        assert_eq!(local_day("2026-11-01 09:00", &TimeZone::UTC), None);
        assert_eq!(local_day("2026-02-30", &TimeZone::UTC), None);
        let offsets = Offsets::between(
            &zone("America/New_York"),
            at("2026-01-01T00:00:00Z"),
            at("2026-12-31T00:00:00Z"),
        );
        assert_eq!(offsets.start, -5 * 3600);
        assert_eq!(
            offsets.changes,
            vec![
                ("2026-03-08 07:00:00".to_string(), -4 * 3600),
                ("2026-11-01 06:00:00".to_string(), -5 * 3600),
            ]
        );
        assert!(Offsets::for_tables(&TimeZone::UTC).is_utc());
        let kolkata = Offsets::for_tables(&zone("Asia/Kolkata"));
        assert!(!kolkata.is_utc() && kolkata.changes.len() < 10);
        let calendar = Calendar::of(&zone("Asia/Kolkata"), at("2026-11-26T20:00:00Z"), 30);
        assert_eq!(calendar.days.len(), 30);
        assert_eq!(calendar.days.last().map(String::as_str), Some("2026-11-27"));
        assert_eq!(calendar.days[0], "2026-10-29");
        assert_eq!(calendar.since, at("2026-10-28T18:30:00Z"));
        assert_eq!(calendar.week, "2026-11-23");
    }
}
