//! One `Value` for cells of tables whose shape is known only at run time: read from rows
//! of unknown shape on either backend, parsed from form input by column kind, bound as a
//! parameter, shown in pages and exported.

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::sqlite::{Sqlite, SqliteType, SqliteValue};
use diesel_dynamic_schema::dynamic_value::Any;

use crate::catalog::{Column, Kind};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Text, and everything read as text: decimals, dates, times, JSON, UUIDs, enums, arrays.
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as text, for URLs, CSV, comparisons and version hashes (NULL is `None`).
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Bool(b) => Some(if *b { "true" } else { "false" }.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Text(t) => Some(t.clone()),
            Value::Bytes(b) => Some(format!(
                "\\x{}",
                b.iter().map(|b| format!("{b:02x}")).collect::<String>()
            )),
        }
    }

    /// The value as JSON, typed by the column it came from.
    pub fn to_json(&self, kind: Kind) -> serde_json::Value {
        use serde_json::Value as J;
        match (self, kind) {
            (Value::Null, _) => J::Null,
            (Value::Bool(b), _) => J::Bool(*b),
            (Value::Int(i), Kind::Bool) => J::Bool(*i != 0),
            // Decimals are strings in JSON on both backends (rows are made exact on reading
            // by `decimal_value`; this keeps any other path from turning them into floats).
            (Value::Int(i), Kind::Decimal) => J::String(i.to_string()),
            (Value::Float(f), Kind::Decimal) if f.is_finite() => J::String(float_text(*f)),
            (Value::Int(i), _) => J::from(*i),
            (Value::Float(f), _) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            (Value::Text(t), Kind::Json) => {
                serde_json::from_str(t).unwrap_or_else(|_| J::String(t.clone()))
            }
            (Value::Text(t), Kind::Bool) => J::Bool(matches!(t.as_str(), "t" | "true" | "1")),
            (Value::Text(t), Kind::Int) => t
                .parse::<i64>()
                .map_or_else(|_| J::String(t.clone()), J::from),
            (v, _) => v.as_text().map_or(J::Null, J::String),
        }
    }

    /// Truthiness of a boolean column on either backend (SQLite stores 0/1).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            Value::Text(t) => match t.as_str() {
                "t" | "true" | "1" => Some(true),
                "f" | "false" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }
}

const BOOL_OID: u32 = 16;
const BYTEA_OID: u32 = 17;
const INT8_OID: u32 = 20;
const INT2_OID: u32 = 21;
const INT4_OID: u32 = 23;
const FLOAT4_OID: u32 = 700;
const FLOAT8_OID: u32 = 701;

impl FromSql<Any, Pg> for Value {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        use diesel::sql_types as t;
        Ok(match value.get_oid().get() {
            BOOL_OID => Value::Bool(<bool as FromSql<t::Bool, Pg>>::from_sql(value)?),
            INT2_OID => Value::Int(<i16 as FromSql<t::SmallInt, Pg>>::from_sql(value)?.into()),
            INT4_OID => Value::Int(<i32 as FromSql<t::Integer, Pg>>::from_sql(value)?.into()),
            INT8_OID => Value::Int(<i64 as FromSql<t::BigInt, Pg>>::from_sql(value)?),
            FLOAT4_OID => Value::Float(<f32 as FromSql<t::Float, Pg>>::from_sql(value)?.into()),
            FLOAT8_OID => Value::Float(<f64 as FromSql<t::Double, Pg>>::from_sql(value)?),
            BYTEA_OID => Value::Bytes(value.as_bytes().to_vec()),
            // Every other type is selected as CAST(… AS TEXT), whose binary form is UTF-8.
            _ => Value::Text(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        })
    }

    fn from_nullable_sql(value: Option<PgValue<'_>>) -> deserialize::Result<Self> {
        match value {
            Some(v) => <Value as FromSql<Any, Pg>>::from_sql(v),
            None => Ok(Value::Null),
        }
    }
}

impl FromSql<Any, Sqlite> for Value {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        use diesel::sql_types as t;
        Ok(match value.value_type() {
            Some(SqliteType::Long) => {
                Value::Int(<i64 as FromSql<t::BigInt, Sqlite>>::from_sql(value)?)
            }
            Some(SqliteType::Double) => {
                Value::Float(<f64 as FromSql<t::Double, Sqlite>>::from_sql(value)?)
            }
            Some(SqliteType::Binary) => {
                Value::Bytes(<Vec<u8> as FromSql<t::Binary, Sqlite>>::from_sql(value)?)
            }
            None => Value::Null,
            _ => Value::Text(<String as FromSql<t::Text, Sqlite>>::from_sql(value)?),
        })
    }

    fn from_nullable_sql(value: Option<SqliteValue<'_, '_, '_>>) -> deserialize::Result<Self> {
        match value {
            Some(v) => <Value as FromSql<Any, Sqlite>>::from_sql(v),
            None => Ok(Value::Null),
        }
    }
}

/// Parse what a user typed for `column` into a value to bind, or say what is wrong.
/// Why text holding a NUL character is refused, wherever it arrives.
pub const NUL_REFUSED: &str =
    "This contains a NUL character (\\0), which the database cannot store.";

pub fn parse_input(column: &Column, raw: &str) -> Result<Value, String> {
    if raw.contains('\0') {
        // Postgres refuses NUL in text and SQLite would store it into pages it breaks:
        // one refusal for both backends.
        return Err(NUL_REFUSED.into());
    }
    let trimmed = raw.trim();
    match column.kind {
        Kind::Int => trimmed
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| "Enter a whole number, such as 42.".to_string()),
        Kind::Float => match trimmed.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err("Enter a number, such as 3.14.".into()),
        },
        Kind::Decimal => {
            let digits = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
            let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
            let ok = !digits.is_empty()
                && (int.chars().all(|c| c.is_ascii_digit()))
                && frac.chars().all(|c| c.is_ascii_digit())
                && !(int.is_empty() && frac.is_empty());
            if ok {
                // Rounded to the declared scale as Postgres does on storing; SQLite would
                // keep every digit typed.
                let exact = column.decimal_scale().and_then(|s| with_scale(trimmed, s));
                Ok(Value::Text(exact.unwrap_or_else(|| trimmed.to_string())))
            } else {
                Err("Enter a decimal number, such as 12.50.".into())
            }
        }
        Kind::Bool => match trimmed {
            "on" | "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "" | "off" | "false" | "0" | "no" => Ok(Value::Bool(false)),
            _ => Err("Choose yes or no.".into()),
        },
        Kind::Date => chrono::NaiveDate::parse_from_str(trimmed, "%Y-%m-%d")
            .map(|d| Value::Text(d.format("%Y-%m-%d").to_string()))
            .map_err(|_| "Enter a date as YYYY-MM-DD.".to_string()),
        Kind::Time => ["%H:%M:%S%.f", "%H:%M"]
            .iter()
            .find_map(|f| chrono::NaiveTime::parse_from_str(trimmed, f).ok())
            .map(|t| Value::Text(t.format("%H:%M:%S").to_string()))
            .ok_or_else(|| "Enter a time as HH:MM or HH:MM:SS.".to_string()),
        Kind::DateTime | Kind::DateTimeTz => {
            let text = crate::engine::timestamp::parse_utc(trimmed)
                .ok_or_else(|| "Enter a date and time as YYYY-MM-DD HH:MM.".to_string())?;
            // Times without a zone are taken as UTC, the zone pages show them in; a time
            // with one (`+05:30`, as Postgres writes it) is turned into UTC.
            Ok(Value::Text(if column.kind == Kind::DateTimeTz {
                format!("{text}+00")
            } else {
                text
            }))
        }
        Kind::Uuid => uuid::Uuid::parse_str(trimmed)
            .map(|u| Value::Text(u.hyphenated().to_string()))
            .map_err(|_| "Enter a UUID such as 0190b5a2-7c1e-7d2a-9f3b-5c8d2e1f4a6b.".to_string()),
        Kind::Json => serde_json::from_str::<serde_json::Value>(raw)
            .map(|_| Value::Text(raw.to_string()))
            .map_err(|e| format!("This is not valid JSON: {e}.")),
        Kind::Enum => {
            if column.enum_values.iter().any(|v| v == raw) {
                Ok(Value::Text(raw.to_string()))
            } else {
                Err(format!("Choose one of: {}.", column.enum_values.join(", ")))
            }
        }
        Kind::Text | Kind::Array => Ok(Value::Text(raw.to_string())),
        Kind::Bytes | Kind::Unknown => Err("This column cannot be edited here.".into()),
    }
}

/// A decimal column's value as exact text with its declared scale (`178.50`, `5.00`).
/// SQLite stores a NUMERIC value as an INTEGER, a REAL (exact to 15 significant digits, as
/// SQLite itself converts it) or TEXT; Postgres sends its own text, already in this form.
/// Anything that is not a plain decimal number (`NaN`, stray text) is left as it is.
pub fn decimal_value(value: Value, column: &Column) -> Value {
    if column.kind != Kind::Decimal {
        return value;
    }
    let text = match &value {
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_finite() => float_text(*f),
        Value::Text(t) => t.clone(),
        _ => return value,
    };
    match column.decimal_scale() {
        Some(scale) => with_scale(&text, scale).map_or(value, Value::Text),
        None if matches!(value, Value::Text(_)) => value,
        None => Value::Text(text),
    }
}

/// A float as decimal text to 15 significant digits, without trailing zeros: what the
/// stored REAL meant (`0.1 + 0.2` is `0.3`), never the noise of its last bits.
pub fn float_text(f: f64) -> String {
    let sci = format!("{f:.14e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return f.to_string();
    };
    let Ok(exp) = exp.parse::<i64>() else {
        return f.to_string();
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    if digits.is_empty() {
        return "0".into();
    }
    let sign = if mantissa.starts_with('-') { "-" } else { "" };
    let point = exp + 1;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

/// Decimal text with exactly `scale` fraction digits, rounded half away from zero as
/// Postgres rounds `numeric`; `None` if `text` is not a plain decimal number.
pub fn with_scale(text: &str, scale: u32) -> Option<String> {
    let t = text.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let scale = scale as usize;
    let int = if int.is_empty() { "0" } else { int };
    let mut kept: Vec<u8> = int
        .bytes()
        .chain(frac.bytes().chain(std::iter::repeat(b'0')).take(scale))
        .collect();
    if frac.as_bytes().get(scale).is_some_and(|d| *d >= b'5') {
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, b'1');
                break;
            }
            i -= 1;
            if kept[i] == b'9' {
                kept[i] = b'0';
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    let (int, frac) = kept.split_at(kept.len() - scale);
    let int = std::str::from_utf8(int).ok()?.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = std::str::from_utf8(frac).ok()?;
    let zero = int == "0" && frac.bytes().all(|b| b == b'0');
    let sign = if negative && !zero { "-" } else { "" };
    Some(if scale == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    })
}

/// A value as the list and record pages show it.
pub fn display(value: &Value, column: &Column) -> String {
    match (value, column.kind) {
        (Value::Null, _) => String::new(),
        (v, Kind::Bool) => match v.as_bool() {
            Some(true) => "✓".into(),
            Some(false) => "✗".into(),
            None => v.as_text().unwrap_or_default(),
        },
        (Value::Text(t), Kind::DateTime | Kind::DateTimeTz) => format_timestamp(t),
        (Value::Bytes(b), _) => format!("{} bytes", b.len()),
        (v, _) => v.as_text().unwrap_or_default(),
    }
}

/// Timestamps in one format everywhere: `YYYY-MM-DD HH:MM:SS`, with `UTC` for zoned ones.
pub fn format_timestamp(t: &str) -> String {
    // Already in that format (what SQLite stores and Postgres sends for a plain timestamp
    // without fractions): the parsers below would give it back unchanged, valid or not.
    if crate::engine::timestamp::plain_parts(t).is_some() {
        return t.to_string();
    }
    if let Ok(dt) = chrono::DateTime::parse_from_str(&normalize_offset(t), "%Y-%m-%d %H:%M:%S%.f%z")
    {
        return format!("{} UTC", dt.naive_utc().format("%Y-%m-%d %H:%M:%S"));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(t, f) {
            return dt.format("%Y-%m-%d %H:%M:%S").to_string();
        }
    }
    t.to_string()
}

/// Postgres writes offsets as `+00`; chrono wants `+0000`.
fn normalize_offset(t: &str) -> String {
    // `get` rather than slicing: the text may hold multi-byte characters anywhere.
    let tail = t.len().checked_sub(3).and_then(|start| t.get(start..));
    if let Some(tail) = tail
        && (tail.starts_with('+') || tail.starts_with('-'))
        && tail[1..].chars().all(|c| c.is_ascii_digit())
    {
        return format!("{t}00");
    }
    t.to_string()
}

/// The value as an HTML input wants it (`datetime-local` needs a `T`).
pub fn input_value(value: &Value, column: &Column) -> String {
    match (value, column.kind) {
        (Value::Null, _) => String::new(),
        (Value::Text(t), Kind::DateTime | Kind::DateTimeTz) => {
            let shown = format_timestamp(t);
            shown.trim_end_matches(" UTC").replacen(' ', "T", 1)
        }
        (v, Kind::Bool) => match v.as_bool() {
            Some(true) => "on".into(),
            _ => String::new(),
        },
        (v, _) => v.as_text().unwrap_or_default(),
    }
}

/// `display`, with times in `zone` (the record pages).
pub fn display_in(value: &Value, column: &Column, zone: &jiff::tz::TimeZone) -> String {
    match (value, column.kind) {
        (Value::Text(t), Kind::DateTime | Kind::DateTimeTz) => {
            crate::engine::timestamp::exact_in(t, zone).unwrap_or_else(|| display(value, column))
        }
        _ => display(value, column),
    }
}

/// `input_value`, with times in `zone` (the record form; `parse_in` reads them back).
pub fn input_value_in(value: &Value, column: &Column, zone: &jiff::tz::TimeZone) -> String {
    match (value, column.kind) {
        (Value::Text(t), Kind::DateTime | Kind::DateTimeTz) => {
            crate::engine::timestamp::input_in(t, zone)
                .unwrap_or_else(|| input_value(value, column))
        }
        _ => input_value(value, column),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_their_scale_without_float_noise() {
        assert_eq!(float_text(0.1 + 0.2), "0.3");
        assert_eq!(float_text(178.5), "178.5");
        assert_eq!(float_text(-0.000125), "-0.000125");
        assert_eq!(float_text(1e20), "100000000000000000000");
        assert_eq!(float_text(0.0), "0");
        assert_eq!(with_scale("178.5", 2).as_deref(), Some("178.50"));
        assert_eq!(with_scale("5", 2).as_deref(), Some("5.00"));
        assert_eq!(with_scale("0.3", 2).as_deref(), Some("0.30"));
        assert_eq!(with_scale("2.675", 2).as_deref(), Some("2.68"));
        assert_eq!(with_scale("-9.995", 2).as_deref(), Some("-10.00"));
        assert_eq!(with_scale("-0.001", 2).as_deref(), Some("0.00"));
        assert_eq!(with_scale(".5", 0).as_deref(), Some("1"));
        assert_eq!(with_scale("007.10", 1).as_deref(), Some("7.1"));
        assert_eq!(
            with_scale("12345678901234567890.125", 2).as_deref(),
            Some("12345678901234567890.13")
        );
        assert_eq!(with_scale("NaN", 2), None);
        assert_eq!(with_scale("1e5", 2), None);
    }

    #[test]
    fn odd_text_in_timestamp_columns_is_shown_not_a_crash() {
        assert_eq!(format_timestamp("éé"), "éé");
        assert_eq!(
            format_timestamp("2024-01-02 03:04:05+00"),
            "2024-01-02 03:04:05 UTC"
        );
        assert_eq!(
            format_timestamp("2024-01-02T03:04:05"),
            "2024-01-02 03:04:05"
        );
        assert_eq!(format_timestamp(""), "");
    }
}
