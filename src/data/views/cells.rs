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

pub use crate::web::when::Presenter;

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
            if let Some(when) = value.as_text().as_deref().and_then(|t| at.stored(t)) {
                let shown = Shown::Time {
                    datetime: when.datetime,
                    exact: when.exact,
                };
                return plain(when.relative, "time", shown);
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
