//! Date-and-time input as the record form, the API and imports take it: `YYYY-MM-DD HH:MM`
//! with optional seconds and fraction, a `T` or a space between date and time, and an
//! optional zone — `Z`, ` UTC` (as Gatehouse shows times), or an offset as Postgres writes
//! it (`+00`, `+05:30`, `-0800`). A time with a zone is stored as UTC; one without is taken
//! as UTC already. The common exact form `YYYY-MM-DD HH:MM:SS` is checked by hand, without
//! chrono's format parser: an import meets it a million times.
//!
//! The record form speaks the operator's time zone instead: a stored time is shown there
//! (`input_in`) and a time typed without a zone is read there (`parse_in`), so a round
//! trip stores the very same instant. Times in columns without a zone follow Gatehouse's
//! convention and are UTC, in the form as in lists.

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};

/// The time as UTC, `YYYY-MM-DD HH:MM:SS` (fractions of a second are dropped, as the form
/// always did), or `None` when the text is not a date and time.
pub fn parse_utc(text: &str) -> Option<String> {
    let (local, offset) = split_zone(text.trim())?;
    if offset == 0
        && let Some(exact) = exact_seconds(local)
    {
        return Some(exact);
    }
    let naive = parse_local(local)?;
    let utc = naive.checked_sub_signed(Duration::seconds(offset))?;
    Some(utc.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// The text before the zone, and the zone's offset east of UTC in seconds (0 without one).
fn split_zone(text: &str) -> Option<(&str, i64)> {
    for utc in ["Z", "z", " UTC", "UTC"] {
        if let Some(local) = text.strip_suffix(utc) {
            return Some((local.trim_end(), 0));
        }
    }
    // An offset's sign comes after the time (the date's own dashes are before byte 10).
    let Some(at) = text
        .get(10..)
        .and_then(|t| t.rfind(['+', '-']))
        .map(|i| i + 10)
    else {
        return Some((text, 0));
    };
    let sign = if text.as_bytes()[at] == b'-' { -1 } else { 1 };
    let zone = text[at + 1..].replace(':', "");
    if !zone.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match zone.len() {
        2 => (zone.parse::<i64>().ok()?, 0),
        4 => (
            zone[..2].parse::<i64>().ok()?,
            zone[2..].parse::<i64>().ok()?,
        ),
        _ => return None,
    };
    if hours > 15 || minutes > 59 {
        return None;
    }
    Some((text[..at].trim_end(), sign * (hours * 3600 + minutes * 60)))
}

/// A time typed in the record form, as UTC (`parse_utc`'s form): one without a zone is in
/// `zone` (in the hour a change of clocks skips, the later offset; in the hour it repeats,
/// the earlier — the form writes the offset itself for a time in that hour); one with a
/// zone or an offset keeps it.
pub fn parse_in(text: &str, zone: &jiff::tz::TimeZone) -> Option<String> {
    let trimmed = text.trim();
    let (local, _) = split_zone(trimmed)?;
    if local.len() != trimmed.len() {
        return parse_utc(trimmed);
    }
    let naive = match exact_seconds(local) {
        Some(exact) => NaiveDateTime::parse_from_str(&exact, "%Y-%m-%d %H:%M:%S").ok()?,
        None => parse_local(local)?,
    };
    let civil: jiff::civil::DateTime =
        naive.format("%Y-%m-%dT%H:%M:%S").to_string().parse().ok()?;
    let moment = zone.to_ambiguous_timestamp(civil).compatible().ok()?;
    Some(moment.strftime("%Y-%m-%d %H:%M:%S").to_string())
}

/// A stored time (with an offset, or plain and so UTC) as an instant.
pub fn instant(stored: &str) -> Option<jiff::Timestamp> {
    if let Some(naive) = plain_timestamp(stored) {
        return jiff::Timestamp::from_second(naive.and_utc().timestamp()).ok();
    }
    let shown = crate::engine::value::format_timestamp(stored);
    let naive =
        NaiveDateTime::parse_from_str(shown.trim_end_matches(" UTC"), "%Y-%m-%d %H:%M:%S").ok()?;
    jiff::Timestamp::from_second(naive.and_utc().timestamp()).ok()
}

/// A stored time as the record form's `datetime-local` value in `zone`
/// (`YYYY-MM-DDTHH:MM:SS`); in the hour a change of clocks repeats, with its offset, so
/// that reading it back cannot pick the other of the two instants.
pub fn input_in(stored: &str, zone: &jiff::tz::TimeZone) -> Option<String> {
    let zoned = instant(stored)?.to_zoned(zone.clone());
    let local = zoned.datetime();
    if zone.to_ambiguous_timestamp(local).is_ambiguous() {
        return Some(zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string());
    }
    Some(local.strftime("%Y-%m-%dT%H:%M:%S").to_string())
}

/// A stored time as pages show it exactly: in `zone`, with the zone's abbreviation.
pub fn exact_in(stored: &str, zone: &jiff::tz::TimeZone) -> Option<String> {
    let zoned = instant(stored)?.to_zoned(zone.clone());
    Some(zoned.strftime("%Y-%m-%d %H:%M:%S %Z").to_string())
}

/// `YYYY-MM-DD HH:MM:SS` exactly (a space or a `T`), checked and returned with a space.
fn exact_seconds(text: &str) -> Option<String> {
    let b = text.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b' ' | b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    NaiveTime::from_hms_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?)?;
    let mut out = text.to_string();
    if b[10] == b'T' {
        out.replace_range(10..11, " ");
    }
    Some(out)
}

fn parse_local(text: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
}

/// The six numbers of a timestamp written exactly `YYYY-MM-DD HH:MM:SS`, unchecked.
pub fn plain_parts(t: &str) -> Option<[u32; 6]> {
    let b = t.as_bytes();
    let shaped = b.len() == 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':';
    if !shaped {
        return None;
    }
    let num = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    Some([
        num(0, 4)?,
        num(5, 7)?,
        num(8, 10)?,
        num(11, 13)?,
        num(14, 16)?,
        num(17, 19)?,
    ])
}

/// A timestamp written exactly `YYYY-MM-DD HH:MM:SS` (a real date and time, no leap
/// second), read without parsing a format: the list shows fifty of them per page.
pub fn plain_timestamp(t: &str) -> Option<chrono::NaiveDateTime> {
    let [y, mo, d, h, mi, s] = plain_parts(t)?;
    chrono::NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, mo, d)?.and_hms_opt(h, mi, s)
}

#[cfg(test)]
mod tests {
    use super::{input_in, parse_in, parse_utc, plain_timestamp};

    #[test]
    fn plain_timestamps_read_as_the_parsers_read_them() {
        for t in [
            "2023-01-01 00:00:00",
            "2024-02-29 23:59:59",
            "0000-01-01 00:00:00",
            "9999-12-31 23:59:59",
            "2023-02-29 10:00:00",
            "2023-13-01 10:00:00",
            "2023-01-01 24:00:00",
            "2023-06-30 23:59:60",
            "2023-01-01T10:00:00",
            "2023-01-01 10:00:00.5",
            "2023-01-01 10:00:00+02",
            "2023-01-01 10:00",
            "2023-0a-01 10:00:00",
            "20230-1-01 10:00:00",
            "not a time at all!!",
        ] {
            let slow = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok();
            let fast = plain_timestamp(t);
            assert!(fast.is_none() || fast == slow, "{t}: {fast:?} vs {slow:?}");
            if t.len() == 19 && !t.ends_with(":60") {
                assert_eq!(fast, slow, "{t}");
            }
        }
        // The shortcut of format_timestamp gives what the parsers gave.
        for t in [
            "2023-01-01 00:00:00",
            "2023-02-29 10:00:00",
            "2023-06-30 23:59:60",
        ] {
            let parsed = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f")
                .map(|dt| dt.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|_| t.to_string());
            assert_eq!(crate::engine::value::format_timestamp(t), parsed);
        }
    }

    fn zone(name: &str) -> jiff::tz::TimeZone {
        jiff::tz::db().get(name).unwrap()
    }

    #[test]
    fn the_form_shows_and_reads_times_in_the_operators_zone_without_shifting_them() {
        let kolkata = zone("Asia/Kolkata");
        assert_eq!(
            input_in("2026-01-15 12:00:00+00", &kolkata).as_deref(),
            Some("2026-01-15T17:30:00")
        );
        assert_eq!(
            parse_in("2026-01-15T17:30:00", &kolkata).as_deref(),
            Some("2026-01-15 12:00:00")
        );
        assert_eq!(
            parse_in("2026-01-15T17:30", &kolkata).as_deref(),
            Some("2026-01-15 12:00:00")
        );
        // A time with its own offset keeps it.
        assert_eq!(
            parse_in("2026-01-15 17:30:00+00", &kolkata).as_deref(),
            Some("2026-01-15 17:30:00")
        );
        assert_eq!(parse_in("soon", &kolkata), None);
        // New York falls back on 2026-11-01: 01:30 happens twice. Both round trip.
        let new_york = zone("America/New_York");
        for stored in [
            "2026-11-01 05:30:00",
            "2026-11-01 06:30:00",
            "2026-07-01 12:00:00",
        ] {
            let shown = input_in(stored, &new_york).unwrap();
            assert_eq!(
                parse_in(&shown, &new_york).as_deref(),
                Some(stored),
                "{shown}"
            );
        }
        assert_eq!(
            input_in("2026-11-01 05:30:00", &new_york).as_deref(),
            Some("2026-11-01T01:30:00-04:00")
        );
        assert_eq!(
            input_in("2026-07-01 12:00:00", &new_york).as_deref(),
            Some("2026-07-01T08:00:00")
        );
        // In the hour it skips (02:30 on 2026-03-08), the later offset.
        assert_eq!(
            parse_in("2026-03-08T02:30", &new_york).as_deref(),
            Some("2026-03-08 07:30:00")
        );
    }

    #[test]
    fn times_with_and_without_a_zone_come_out_as_utc() {
        let utc = |t: &str| parse_utc(t);
        assert_eq!(
            utc("2026-01-02 03:04:05").as_deref(),
            Some("2026-01-02 03:04:05")
        );
        assert_eq!(
            utc("2026-01-02T03:04:05").as_deref(),
            Some("2026-01-02 03:04:05")
        );
        assert_eq!(
            utc(" 2026-01-02 03:04 ").as_deref(),
            Some("2026-01-02 03:04:00")
        );
        assert_eq!(
            utc("2026-01-02T03:04").as_deref(),
            Some("2026-01-02 03:04:00")
        );
        assert_eq!(
            utc("2026-01-02 03:04:05.25").as_deref(),
            Some("2026-01-02 03:04:05")
        );
        // As Postgres writes timestamptz text, and as Gatehouse shows it.
        assert_eq!(
            utc("2026-01-02 03:04:05+00").as_deref(),
            Some("2026-01-02 03:04:05")
        );
        assert_eq!(
            utc("2026-01-02 03:04:05+05:30").as_deref(),
            Some("2026-01-01 21:34:05")
        );
        assert_eq!(
            utc("2026-01-02 03:04:05.5-08").as_deref(),
            Some("2026-01-02 11:04:05")
        );
        assert_eq!(
            utc("2026-01-02T03:04:05-0130").as_deref(),
            Some("2026-01-02 04:34:05")
        );
        assert_eq!(
            utc("2026-01-02T03:04:05Z").as_deref(),
            Some("2026-01-02 03:04:05")
        );
        assert_eq!(
            utc("2026-01-02 03:04:05 UTC").as_deref(),
            Some("2026-01-02 03:04:05")
        );
        for bad in [
            "",
            "2026-01-02",
            "2026-02-30 03:04:05",
            "2026-01-02 25:04:05",
            "2026-01-02 03:04:05+5",
            "2026-01-02 03:04:05+16",
            "2026-01-02 03:04:05+0a",
            "2026-01-02 03:04:05 Europe/Paris",
            "yesterday",
            "éééééééééééé-é",
        ] {
            assert_eq!(utc(bad), None, "{bad}");
        }
    }
}
