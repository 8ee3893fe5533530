//! The record form: one field per column, by type, and the parsing of a submitted form
//! back into typed values with a message per field. Field names are `f.<column>` and
//! `null.<column>` (the "set to NULL" box), so no column name can collide with ours.

use std::collections::BTreeMap;

use crate::catalog::{Column, Kind, Table};
use crate::engine::store::Row;
use crate::engine::timestamp;
use crate::engine::value::{Value, display_in, input_value_in, parse_input};
use crate::web::form::{Pairs, get};

pub struct Field {
    pub name: String,
    pub input_type: &'static str,
    pub step: &'static str,
    pub value: String,
    /// The value as read-only pages show it (a time with its zone; otherwise `value`).
    pub shown: String,
    pub checked: bool,
    pub is_null: bool,
    pub nullable: bool,
    pub required: bool,
    pub editable: bool,
    pub type_label: String,
    pub options: Vec<String>,
    pub error: Option<String>,
    /// For a foreign key: where the picker looks rows up, and the referenced table.
    pub lookup_url: Option<String>,
    pub ref_table: Option<String>,
    pub ref_link: Option<String>,
    /// The referenced row's label (set on the record page).
    pub ref_label: Option<String>,
}

/// Keys the database generates identify the row: shown, never edited.
fn editable(c: &Column) -> bool {
    c.editable() && !(c.generated && c.primary_key)
}

/// Long or multi-line text, or a column whose name says it holds prose, gets a textarea.
fn wants_textarea(c: &Column, value: &str) -> bool {
    let prose = [
        "note", "desc", "bio", "body", "content", "comment", "message", "text", "summary",
    ];
    value.len() > 80
        || value.contains('\n')
        || prose.iter().any(|p| c.name.to_lowercase().contains(p))
}

fn input_type(c: &Column, value: &str) -> &'static str {
    match c.kind {
        Kind::Int | Kind::Float | Kind::Decimal => "number",
        Kind::Bool => "checkbox",
        Kind::Date => "date",
        Kind::DateTime | Kind::DateTimeTz => "datetime-local",
        Kind::Time => "time",
        Kind::Json | Kind::Array => "textarea",
        Kind::Enum => "select",
        Kind::Text if wants_textarea(c, value) => "textarea",
        Kind::Text => "text",
        Kind::Uuid => "text",
        Kind::Bytes | Kind::Unknown => "readonly",
    }
}

/// The fields for a row (or for a new row when `row` is None), with what the user typed
/// and the messages when a submission is shown again; times in the operator's `zone`.
pub fn fields(
    table: &Table,
    row: Option<&Row>,
    submitted: Option<&Pairs>,
    errors: &BTreeMap<String, String>,
    zone: &jiff::tz::TimeZone,
) -> Vec<Field> {
    let creating = row.is_none();
    table
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| !(creating && c.generated && c.primary_key))
        .map(|(i, c)| {
            let stored = row.and_then(|r| r.values.get(i));
            let (value, is_null, checked) = match submitted {
                Some(p) => {
                    let v = get(p, &format!("f.{}", c.name)).unwrap_or("").to_string();
                    let null = get(p, &format!("null.{}", c.name)).is_some();
                    let checked = c.kind == Kind::Bool && !v.is_empty() && v != "false";
                    (v, null, checked)
                }
                None => match stored {
                    Some(v) => (
                        input_value_in(v, c, zone),
                        v.is_null(),
                        v.as_bool() == Some(true),
                    ),
                    None => (String::new(), false, false),
                },
            };
            let kind_of_input = match input_type(c, &value) {
                // A time in the hour a change of clocks repeats carries its offset, which
                // a datetime-local input would refuse.
                "datetime-local" if value.get(19..).is_some_and(|t| t.contains(['+', '-'])) => {
                    "text"
                }
                other => other,
            };
            let value = if kind_of_input == "readonly" {
                stored.map(|v| display_in(v, c, zone)).unwrap_or_default()
            } else {
                value
            };
            let is_time = matches!(c.kind, Kind::DateTime | Kind::DateTimeTz);
            let shown = match stored {
                Some(v) if is_time && submitted.is_none() => display_in(v, c, zone),
                _ => value.clone(),
            };
            let fk = table.foreign_key_of(&c.name);
            Field {
                name: c.name.clone(),
                input_type: if c.editable() {
                    kind_of_input
                } else {
                    "readonly"
                },
                step: if c.kind == Kind::Int { "1" } else { "any" },
                value,
                shown,
                checked,
                is_null,
                nullable: c.nullable,
                required: c.required() && c.kind != Kind::Bool,
                editable: editable(c),
                type_label: c.data_type.clone(),
                options: c.enum_values.clone(),
                error: errors.get(&c.name).cloned(),
                lookup_url: fk.map(|_| {
                    format!(
                        "/data/{}/lookup?column={}",
                        crate::engine::keys::encode_part(&table.name),
                        crate::engine::keys::encode_part(&c.name)
                    )
                }),
                ref_table: fk.map(|f| f.ref_table.clone()),
                ref_link: fk.and_then(|f| {
                    let v = stored?.as_text()?;
                    Some(format!(
                        "/data/{}/{}",
                        crate::engine::keys::encode_part(&f.ref_table),
                        crate::engine::keys::encode_part(&v)
                    ))
                }),
                ref_label: None,
            }
        })
        .collect()
}

/// Parse a submitted form into (column index, value) pairs to write, or field messages.
/// On create, empty fields of columns with a default are left to the database. Times
/// typed without a zone are in the operator's `zone`.
pub fn parse(
    table: &Table,
    pairs: &Pairs,
    creating: bool,
    zone: &jiff::tz::TimeZone,
) -> Result<Vec<(usize, Value)>, BTreeMap<String, String>> {
    let mut values = Vec::new();
    let mut errors = BTreeMap::new();
    for (i, c) in table.columns.iter().enumerate() {
        if !editable(c) {
            continue;
        }
        let raw = get(pairs, &format!("f.{}", c.name));
        if get(pairs, &format!("null.{}", c.name)).is_some() {
            if c.nullable {
                values.push((i, Value::Null));
            } else {
                errors.insert(c.name.clone(), "This field cannot be empty (NULL).".into());
            }
            continue;
        }
        let raw = match (raw, c.kind) {
            (None, Kind::Bool) => "",
            // A field the form did not send is left as it is.
            (None, _) => continue,
            (Some(r), _) => r,
        };
        if raw.trim().is_empty() && c.kind != Kind::Text && c.kind != Kind::Bool {
            if creating && (c.default.is_some() || c.generated) {
                continue;
            }
            if c.nullable {
                values.push((i, Value::Null));
            } else {
                errors.insert(c.name.clone(), "This field is required.".into());
            }
            continue;
        }
        if raw.is_empty() && c.kind == Kind::Text && creating && c.default.is_some() {
            continue;
        }
        let utc = match c.kind {
            Kind::DateTime | Kind::DateTimeTz => timestamp::parse_in(raw, zone),
            _ => None,
        };
        match parse_input(c, utc.as_deref().unwrap_or(raw)) {
            Ok(v) => values.push((i, v)),
            Err(m) => {
                errors.insert(c.name.clone(), m);
            }
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}
