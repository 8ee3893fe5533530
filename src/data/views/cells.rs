//! Values as the list shows them: enum values as coloured badges (a stable colour per
//! value), booleans as ✓/✗ with words for screen readers, timestamps relative to now with
//! the exact time in the operator's zone, long text and JSON folded behind an expander,
//! NULL subtle, foreign keys with the referenced row's label.

use crate::catalog::{Column, Kind, Table};
use crate::engine::keys::encode_part;
use crate::engine::store::ListPage;
use crate::engine::value::{Value, display};

/// How a cell's value is drawn (the template matches on it).
pub enum Shown {
    Plain,
    Null,
    Bool(bool),
    /// One of the badge tones (`tone-0` … `tone-7`).
    Badge(u8),
    /// `datetime` (ISO 8601 with offset) and the exact time in the operator's zone.
    Time {
        datetime: String,
        exact: String,
    },
    /// Text too long for a cell: the first part shown, the rest behind "expand".
    Long(String),
    /// JSON, pretty-printed behind "expand".
    Json(String),
}

pub struct Cell {
    pub text: String,
    pub class: &'static str,
    pub link: Option<String>,
    pub shown: Shown,
}

/// What a list renders values against: the operator's time zone and the moment of the page.
pub struct Presenter {
    pub zone: jiff::tz::TimeZone,
    pub now: jiff::Timestamp,
}

impl Presenter {
    pub fn new(zone: jiff::tz::TimeZone) -> Presenter {
        Presenter {
            zone,
            now: jiff::Timestamp::now(),
        }
    }
}

/// The icon of a column's type (a symbol of the vendored sprite).
pub fn kind_icon(column: &Column) -> &'static str {
    match column.kind {
        _ if column.primary_key => "key-round",
        Kind::Int | Kind::Float | Kind::Decimal => "hash",
        Kind::Bool => "toggle-left",
        Kind::Date => "calendar",
        Kind::Time | Kind::DateTime | Kind::DateTimeTz => "clock",
        Kind::Json => "braces",
        Kind::Enum => "list",
        Kind::Bytes => "file-digit",
        Kind::Array => "list",
        _ if !column.enum_values.is_empty() => "list",
        _ => "type",
    }
}

const TRUNCATE: usize = 80;
const TONES: u64 = 8;

/// A stable tone for an enum value: the same value has the same colour in every table.
pub fn tone(value: &str) -> u8 {
    // FNV-1a: tiny, and stable across releases (unlike the std hasher).
    let hash = value.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % TONES) as u8
}

pub fn cell(value: &Value, table: &Table, idx: usize, page: &ListPage, at: &Presenter) -> Cell {
    let column = &table.columns[idx];
    let mut cell = present(value, column, at);
    if let Some(fk) = table.foreign_key_of(&column.name)
        && let Some(key) = value.as_text()
    {
        if let Some(label) = page.labels.get(&column.name).and_then(|m| m.get(&key)) {
            cell.text = format!("{label} ({key})");
            cell.class = "fk";
            cell.shown = Shown::Plain;
        }
        cell.link = Some(format!(
            "/data/{}/{}",
            encode_part(&fk.ref_table),
            encode_part(&key)
        ));
    }
    cell
}

/// One value of `column`, shaped for a cell.
pub fn present(value: &Value, column: &Column, at: &Presenter) -> Cell {
    let plain = |text: String, class: &'static str, shown: Shown| Cell {
        text,
        class,
        link: None,
        shown,
    };
    if value.is_null() {
        return plain("NULL".into(), "null", Shown::Null);
    }
    let full = display(value, column);
    match column.kind {
        Kind::Bool => {
            let yes = value.as_bool().unwrap_or(false);
            return plain(full, "bool", Shown::Bool(yes));
        }
        Kind::Enum => return plain(full.clone(), "enum", Shown::Badge(tone(&full))),
        _ if !column.enum_values.is_empty() && column.enum_values.contains(&full) => {
            return plain(full.clone(), "enum", Shown::Badge(tone(&full)));
        }
        Kind::DateTime | Kind::DateTimeTz => {
            if let Some(moment) = value.as_text().as_deref().and_then(instant) {
                let zoned = moment.to_zoned(at.zone.clone());
                let shown = Shown::Time {
                    datetime: iso(&zoned),
                    exact: zoned.strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
                };
                return plain(relative(moment, at), "time", shown);
            }
        }
        Kind::Json => {
            let pretty = serde_json::from_str::<serde_json::Value>(&full)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_else(|_| full.clone());
            return plain(shorten(&full), "json", Shown::Json(pretty));
        }
        k if k.is_numeric() => return plain(full, "num", Shown::Plain),
        _ => {}
    }
    if full.is_empty() {
        return plain(full, "empty", Shown::Plain);
    }
    if full.chars().count() > TRUNCATE {
        return plain(shorten(&full), "text", Shown::Long(full));
    }
    plain(full, "text", Shown::Plain)
}

fn shorten(full: &str) -> String {
    let mut text: String = full.chars().take(TRUNCATE).collect();
    if text.len() < full.len() {
        text.push('…');
    }
    text
}

/// A stored timestamp as an instant: zoned ones by their offset, plain ones as UTC
/// (Gatehouse's convention for times without a zone).
pub fn instant(text: &str) -> Option<jiff::Timestamp> {
    if let Some(naive) = crate::engine::value::plain_timestamp(text) {
        return jiff::Timestamp::from_second(naive.and_utc().timestamp()).ok();
    }
    let shown = crate::engine::value::format_timestamp(text);
    let naive =
        chrono::NaiveDateTime::parse_from_str(shown.trim_end_matches(" UTC"), "%Y-%m-%d %H:%M:%S")
            .ok()?;
    let utc = naive.and_utc();
    jiff::Timestamp::from_second(utc.timestamp()).ok()
}

/// `%Y-%m-%dT%H:%M:%S%:z`, written without parsing a format for each of a page's cells
/// (years 0–9999 and offsets of whole minutes; anything else by `strftime`).
fn iso(z: &jiff::Zoned) -> String {
    let offset = z.offset().seconds();
    if !(0..=9999).contains(&z.year()) || offset % 60 != 0 {
        return z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
    }
    let (sign, minutes) = if offset < 0 {
        ('-', -offset / 60)
    } else {
        ('+', offset / 60)
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        z.year(),
        z.month(),
        z.day(),
        z.hour(),
        z.minute(),
        z.second(),
        minutes / 60,
        minutes % 60
    )
}

/// "3 h ago", "in 2 d", "just now"; beyond a month, the date in the operator's zone.
pub fn relative(moment: jiff::Timestamp, at: &Presenter) -> String {
    let seconds = at.now.as_second() - moment.as_second();
    let ahead = seconds < 0;
    let s = seconds.unsigned_abs();
    let amount = match s {
        0..45 => return "just now".into(),
        45..5_400 => format!("{} min", (s + 30) / 60),
        5_400..129_600 => format!("{} h", (s + 1_800) / 3_600),
        129_600..2_592_000 => format!("{} d", (s + 43_200) / 86_400),
        _ => {
            let z = moment.to_zoned(at.zone.clone());
            if (0..=9999).contains(&z.year()) {
                return format!("{:04}-{:02}-{:02}", z.year(), z.month(), z.day());
            }
            return z.strftime("%Y-%m-%d").to_string();
        }
    };
    if ahead {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_times_match_strftime() {
        let zones = [
            jiff::tz::TimeZone::UTC,
            jiff::tz::TimeZone::fixed(jiff::tz::offset(5)),
            jiff::tz::TimeZone::fixed(
                jiff::tz::Offset::from_seconds(-(3 * 3600 + 30 * 60)).unwrap(),
            ),
            jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(5 * 3600 + 45 * 60).unwrap()),
            jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(-61).unwrap()),
        ];
        for zone in zones {
            for second in [0, 1_700_000_000, -86_400 * 365 * 40, 253_402_300_000] {
                let Ok(t) = jiff::Timestamp::from_second(second) else {
                    continue;
                };
                let z = t.to_zoned(zone.clone());
                assert_eq!(iso(&z), z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string());
                let at = Presenter {
                    zone: zone.clone(),
                    now: t
                        .checked_add(jiff::SignedDuration::from_hours(24 * 400))
                        .unwrap_or(t),
                };
                if at.now != t {
                    assert_eq!(relative(t, &at), z.strftime("%Y-%m-%d").to_string());
                }
            }
        }
    }
}
