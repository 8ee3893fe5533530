//! What one column's values look like in the API — as the OpenAPI document declares them
//! and as the API checks them, from one description so the two cannot drift: query
//! parameters of the list (filters, `q`, `sort`, `page`, `per_page`) and members of JSON
//! bodies. The API is stricter than the pages' forms: a value the document does not allow
//! is refused (400 in the address, 422 in a body), never silently ignored.

use serde_json::{Value as Json, json};

use crate::catalog::{Column, Kind, Table};
use crate::db::Backend;
use crate::engine::query::{Op, PAGE_SIZES};
use crate::error::AppError;

/// Any text without a NUL (refused everywhere, see `web::nul`).
pub const NO_NUL: &str = "^[^\\u0000]*$";
/// One item of an `in` list of text: no comma (it separates items), no NUL, and something
/// besides white space (items are trimmed, an empty one is dropped).
const TEXT_ITEM: &str = "^[^,\\u0000]*[^,\\u0000\\s][^,\\u0000]*$";
/// Items of one `in` list. The engine takes up to 1000; the API takes fewer so a list
/// fits in an address (the HTTP layer refuses addresses over 64 KiB with a bare 400).
const MAX_ITEMS: usize = 100;
const TIME: &str = "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,6})?)?$";

/// The range of an integer column: Postgres types are 16, 32 or 64 bits; SQLite's are 64.
fn int_range(c: &Column, backend: Backend) -> (i64, i64) {
    let t = c.data_type.to_ascii_lowercase();
    match backend {
        Backend::Postgres if t.starts_with("smallint") => (i16::MIN.into(), i16::MAX.into()),
        Backend::Postgres if t.starts_with("integer") => (i32::MIN.into(), i32::MAX.into()),
        _ => (i64::MIN, i64::MAX),
    }
}

/// Postgres's `real` is 32 bits; SQLite's REAL is a double.
fn float_limit(c: &Column, backend: Backend) -> f64 {
    if backend == Backend::Postgres && c.data_type.eq_ignore_ascii_case("real") {
        3.4e38
    } else {
        f64::MAX
    }
}

/// `numeric(p,s)`: at most p−s digits before the point and s after it.
fn decimal_digits(c: &Column) -> Option<(usize, usize)> {
    let (_, args) = c.data_type.split_once('(')?;
    let args = args.strip_suffix(')')?;
    let (p, s) = args.split_once(',').unwrap_or((args, "0"));
    let (p, s): (usize, usize) = (p.trim().parse().ok()?, s.trim().parse().ok()?);
    (p >= s).then_some((p - s, s))
}

/// The declared scale of a decimal column, where it has one.
pub fn scale(c: &Column) -> Option<usize> {
    decimal_digits(c).map(|(_, s)| s)
}

/// A timestamp as the engine reads it (`YYYY-MM-DD HH:MM:SS[.f][+00]`) in RFC 3339, UTC.
pub fn rfc3339(text: &str) -> Option<String> {
    let utc = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z")
                .ok()
                .map(|t| t.naive_utc())
        })?;
    Some(utc.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string())
}

fn decimal_pattern(c: &Column) -> String {
    match decimal_digits(c) {
        Some((int, 0)) => format!("^-?[0-9]{{1,{int}}}$"),
        Some((0, frac)) => format!("^-?0?\\.[0-9]{{1,{frac}}}$"),
        Some((int, frac)) => format!("^-?[0-9]{{1,{int}}}(\\.[0-9]{{1,{frac}}})?$"),
        None => "^-?[0-9]+(\\.[0-9]+)?$".into(),
    }
}

/// Postgres refuses text longer than `varchar(n)` / `char(n)`; SQLite keeps any length.
fn max_length(c: &Column, backend: Backend) -> Option<usize> {
    let t = c.data_type.to_ascii_lowercase();
    if backend != Backend::Postgres || !(t.starts_with("character") || t.starts_with("varchar")) {
        return None;
    }
    let (_, n) = t.split_once('(')?;
    n.strip_suffix(')')?.trim().parse().ok()
}

/// The schema of one value of the column as a client sends it (without null), with an
/// example the API takes.
pub fn input_schema(c: &Column, backend: Backend) -> Json {
    let mut schema = input_type(c, backend);
    if let (Some(obj), Some(example)) = (schema.as_object_mut(), example(c, backend)) {
        obj.insert("examples".into(), json!([example]));
    }
    schema
}

/// A value of the column's type that the API takes (the database may still refuse it,
/// for a unique value or a missing reference).
fn example(c: &Column, backend: Backend) -> Option<Json> {
    Some(match c.kind {
        Kind::Int => json!(1),
        Kind::Float => json!(1.5),
        Kind::Decimal => json!(match decimal_digits(c) {
            Some((0, _)) => "0.5",
            Some((_, 0)) => "1",
            _ => "1.5",
        }),
        Kind::Bool => json!(true),
        Kind::Date => json!("2026-01-31"),
        Kind::Time => json!("09:30"),
        Kind::DateTime | Kind::DateTimeTz => json!("2026-01-31T09:30:00Z"),
        Kind::Uuid => json!("0190b5a2-7c1e-7d2a-9f3b-5c8d2e1f4a6b"),
        Kind::Enum => json!(c.enum_values.first()?),
        Kind::Json => return None,
        Kind::Text | Kind::Array | Kind::Bytes | Kind::Unknown => {
            let n = max_length(c, backend).unwrap_or(7).min(7);
            json!("example".chars().take(n).collect::<String>())
        }
    })
}

fn input_type(c: &Column, backend: Backend) -> Json {
    match c.kind {
        Kind::Int => {
            let (min, max) = int_range(c, backend);
            json!({ "type": "integer", "format": "int64", "minimum": min, "maximum": max })
        }
        Kind::Float if float_limit(c, backend) < f64::MAX => {
            json!({ "type": "number", "minimum": -3.4e38, "maximum": 3.4e38 })
        }
        Kind::Float => json!({ "type": "number" }),
        Kind::Decimal => json!({ "type": "string", "pattern": decimal_pattern(c) }),
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::Date => json!({ "type": "string", "format": "date" }),
        Kind::Time => json!({ "type": "string", "pattern": TIME }),
        Kind::DateTime | Kind::DateTimeTz => json!({ "type": "string", "format": "date-time" }),
        Kind::Uuid => json!({ "type": "string", "format": "uuid" }),
        Kind::Enum => json!({ "type": "string", "enum": c.enum_values }),
        Kind::Json => json!({}),
        Kind::Text | Kind::Array | Kind::Bytes | Kind::Unknown => match max_length(c, backend) {
            Some(n) => json!({ "type": "string", "pattern": NO_NUL, "maxLength": n }),
            None => json!({ "type": "string", "pattern": NO_NUL }),
        },
    }
}

/// The schema of one value of the column as the API answers it.
pub fn output_schema(c: &Column) -> Json {
    match c.kind {
        Kind::Int => json!({ "type": "integer" }),
        Kind::Float => json!({ "type": "number" }),
        Kind::Decimal => json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$" }),
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::Date => json!({ "type": "string", "format": "date" }),
        Kind::DateTime | Kind::DateTimeTz => json!({ "type": "string", "format": "date-time" }),
        Kind::Uuid => json!({ "type": "string", "format": "uuid" }),
        Kind::Enum => json!({ "type": "string", "enum": c.enum_values }),
        Kind::Json => json!({}),
        Kind::Bytes => {
            json!({ "type": "string", "description": "binary, shown as \\x-prefixed hex; read-only" })
        }
        Kind::Time | Kind::Array | Kind::Text | Kind::Unknown => json!({ "type": "string" }),
    }
}

/// Python's `\s` (the document's patterns are read by Python tools too) is Rust's white
/// space plus the four ASCII separators.
fn is_space(ch: char) -> bool {
    ch.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&ch)
}

fn is_digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn decimal_ok(c: &Column, s: &str) -> bool {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let (max_int, max_frac) = decimal_digits(c).unwrap_or((usize::MAX, usize::MAX));
    let frac_ok = frac.is_none_or(|f| max_frac > 0 && is_digits(f, 1, max_frac));
    let int_ok = if max_int == 0 {
        frac.is_some() && (int.is_empty() || int == "0")
    } else {
        is_digits(int, 1, max_int)
    };
    int_ok && frac_ok
}

fn time_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let two = |i: usize, max: u8| {
        b.get(i..i + 2).is_some_and(|d| {
            d.iter().all(u8::is_ascii_digit) && (d[0] - b'0') * 10 + d[1] - b'0' <= max
        })
    };
    let base = b.len() >= 5 && two(0, 23) && b[2] == b':' && two(3, 59);
    match b.len() {
        5 => base,
        8 => base && b[5] == b':' && two(6, 59),
        n => {
            base && n > 9
                && n <= 15
                && b[5] == b':'
                && two(6, 59)
                && b[8] == b'.'
                && is_digits(&s[9..], 1, 6)
        }
    }
}

/// RFC 3339 date-time, as UTC text the engine takes (`YYYY-MM-DD HH:MM:SS.f`).
fn date_time(s: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?.naive_utc();
    (1..=9999)
        .contains(&chrono::Datelike::year(&t))
        .then(|| t.format("%Y-%m-%d %H:%M:%S%.f").to_string())
}

/// A value of the column written as text (a query parameter, or a JSON string), checked
/// against `input_schema`; the text for the engine's `parse_input`, or why not.
pub fn checked_text(c: &Column, backend: Backend, raw: &str) -> Result<String, String> {
    // Python reads `$` as "end, or before a final newline": accept exactly that much.
    let s = raw.strip_suffix('\n').unwrap_or(raw);
    let ok = match c.kind {
        Kind::Int => {
            let (min, max) = int_range(c, backend);
            // JSON Schema counts 42.0 and 4.2e1 as integers: take them, as whole numbers.
            let number = serde_json::from_str::<serde_json::Number>(raw)
                .ok()
                .filter(|_| raw.trim() == raw);
            // An integer literal must fit as it is; a fractional or exponent form only
            // where a double holds it exactly (below 2^53).
            let literal = !raw.contains(['.', 'e', 'E']);
            let whole = number.and_then(|n| match n.as_i64() {
                Some(i) => Some(i),
                None if literal => None,
                None => n
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0)
                    .map(|f| f as i64),
            });
            return match whole {
                Some(n) if (min..=max).contains(&n) => Ok(n.to_string()),
                _ => Err(format!("Enter a whole number from {min} to {max}.")),
            };
        }
        Kind::Float => {
            raw.trim() == raw
                && serde_json::from_str::<serde_json::Number>(raw).is_ok_and(|n| {
                    n.as_f64()
                        .is_some_and(|f| f.is_finite() && f.abs() <= float_limit(c, backend))
                })
        }
        Kind::Decimal => decimal_ok(c, s),
        Kind::Bool => raw == "true" || raw == "false",
        Kind::Date => {
            raw.len() == 10
                && chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                    .is_ok_and(|d| chrono::Datelike::year(&d) >= 1)
        }
        Kind::Time => time_ok(s),
        Kind::DateTime | Kind::DateTimeTz => {
            return date_time(raw).ok_or_else(|| {
                "Enter a date and time as RFC 3339, such as 2026-01-31T09:30:00Z.".into()
            });
        }
        Kind::Uuid => raw.len() == 36 && uuid::Uuid::parse_str(raw).is_ok(),
        Kind::Enum => c.enum_values.iter().any(|v| v == raw),
        Kind::Json => true,
        Kind::Text | Kind::Array | Kind::Bytes | Kind::Unknown => {
            max_length(c, backend).is_none_or(|n| raw.chars().count() <= n)
        }
    };
    if ok {
        Ok(raw.to_string())
    } else {
        Err(refusal(c, backend))
    }
}

fn refusal(c: &Column, backend: Backend) -> String {
    match c.kind {
        Kind::Float => "Enter a number, such as 3.14.".into(),
        Kind::Decimal => format!("Enter a decimal number matching {}.", decimal_pattern(c)),
        Kind::Bool => "Enter true or false.".into(),
        Kind::Date => "Enter a date as YYYY-MM-DD.".into(),
        Kind::Time => "Enter a time as HH:MM or HH:MM:SS.".into(),
        Kind::Uuid => "Enter a UUID such as 0190b5a2-7c1e-7d2a-9f3b-5c8d2e1f4a6b.".into(),
        Kind::Enum => format!("Choose one of: {}.", c.enum_values.join(", ")),
        _ => match max_length(c, backend) {
            Some(n) => format!("Enter at most {n} characters."),
            None => "This value is not allowed here.".into(),
        },
    }
}

/// Columns the list can filter on.
pub fn filterable(c: &Column) -> bool {
    !matches!(
        c.kind,
        Kind::Bytes | Kind::Unknown | Kind::Json | Kind::Array
    )
}

/// The declared schema of `{column}__{op}`, with its serialisation.
pub fn filter_parameter(c: &Column, op: Op, backend: Backend) -> Json {
    let name = format!("{}__{}", c.name, op.name());
    let text = json!({ "type": "string", "pattern": NO_NUL });
    let schema = match op {
        Op::IsNull => json!({ "type": "boolean" }),
        Op::Contains | Op::StartsWith => text,
        Op::In => {
            let items = match c.kind {
                Kind::Text => json!({ "type": "string", "pattern": TEXT_ITEM }),
                Kind::Enum => {
                    let usable: Vec<&String> = c
                        .enum_values
                        .iter()
                        .filter(|v| !v.contains(',') && !v.is_empty() && v.trim() == v.as_str())
                        .collect();
                    json!({ "type": "string", "enum": usable })
                }
                _ => input_schema(c, backend),
            };
            let schema =
                json!({ "type": "array", "items": items, "minItems": 1, "maxItems": MAX_ITEMS });
            return json!({ "name": name, "in": "query", "schema": schema, "style": "form", "explode": false });
        }
        _ if c.kind == Kind::Text => text,
        _ => input_schema(c, backend),
    };
    json!({ "name": name, "in": "query", "schema": schema })
}

/// One filter's value checked against `filter_parameter`; the value for the engine.
fn checked_filter(c: &Column, op: Op, backend: Backend, raw: &str) -> Result<String, String> {
    match op {
        Op::IsNull if raw == "true" || raw == "false" => Ok(raw.into()),
        Op::IsNull => Err("Enter true or false.".into()),
        Op::Contains | Op::StartsWith => Ok(raw.into()),
        _ if c.kind == Kind::Text && op != Op::In => Ok(raw.into()),
        Op::In => {
            let items: Vec<&str> = raw.split(',').collect();
            if items.len() > MAX_ITEMS {
                return Err(format!("A list takes at most {MAX_ITEMS} values."));
            }
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(match c.kind {
                    Kind::Text if item.chars().any(|ch| !is_space(ch)) => item.to_string(),
                    Kind::Text => return Err("An item of the list is empty.".into()),
                    _ => checked_text(c, backend, item)?,
                });
            }
            Ok(out.join(","))
        }
        _ => checked_text(c, backend, raw),
    }
}

/// The list's query string checked against the document's parameters: anything it does
/// not declare is a 400 naming the parameter. Returns the query for `ListQuery::parse`
/// (date-times turned into the engine's UTC text).
pub fn checked_list_query(
    query: &str,
    table: &Table,
    backend: Backend,
) -> Result<String, AppError> {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let bad = |m: String| AppError::Invalid(format!("Parameter {key}: {m}"));
        let value = match key.as_ref() {
            "q" => value.to_string(),
            "sort" if value.is_empty() => return Err(bad("choose a column to sort by.".into())),
            "sort" => value.to_string(),
            "page" if is_digits(&value, 1, 8) => value.to_string(),
            "page" => return Err(bad("enter a page number from 1 to 10000000.".into())),
            "per_page" if PAGE_SIZES.iter().any(|n| n.to_string() == value) => value.to_string(),
            "per_page" => return Err(bad("choose 25, 50, 100 or 500.".into())),
            "count" if value == "exact" => value.to_string(),
            "view" if is_digits(&value, 1, 18) => value.to_string(),
            "view" => return Err(bad("enter the number of a saved view.".into())),
            "count" => return Err(bad("the only choice is 'exact'.".into())),
            k => {
                let filter = k.rsplit_once("__").and_then(|(col, op)| {
                    Some((table.column(col).filter(|c| filterable(c))?, Op::parse(op)?))
                });
                let Some((c, op)) = filter else {
                    return Err(bad(
                        "the list takes no such parameter; see the OpenAPI document.".into(),
                    ));
                };
                checked_filter(c, op, backend, &value).map_err(bad)?
            }
        };
        out.append_pair(&key, &value);
    }
    Ok(out.finish())
}
