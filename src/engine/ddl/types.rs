//! The column types the schema builder offers, each mapped to the real type of either
//! backend, and default values: parsed as a value of the column's type, then written as a
//! literal Gatehouse built itself (DDL cannot take bound parameters).

use crate::catalog::{Column, Kind};
use crate::db::Backend;
use crate::engine::sql::quote;
use crate::engine::value::{Value, float_text, parse_input};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnType {
    Integer,
    BigInt,
    /// decimal(precision, scale)
    Decimal(u32, u32),
    Text,
    /// varchar(length)
    Varchar(u32),
    Boolean,
    Date,
    Timestamp,
    TimestampTz,
    Uuid,
    Json,
    /// A Postgres enum type that exists, with its labels.
    Enum(String, Vec<String>),
}

/// The choices of the type list: (code, label); the first is preselected.
pub const TYPE_CHOICES: &[(&str, &str)] = &[
    ("text", "text"),
    ("integer", "integer"),
    ("bigint", "big integer"),
    ("decimal", "decimal (precision, scale)"),
    ("varchar", "varchar (length)"),
    ("boolean", "boolean"),
    ("date", "date"),
    ("timestamp", "timestamp"),
    ("timestamptz", "timestamp with time zone"),
    ("uuid", "uuid"),
    ("json", "json"),
];

impl ColumnType {
    /// The type from the form: its code, the length or precision, the scale, and the enum
    /// types that exist (name, labels) for `enum:NAME`.
    pub fn parse(
        code: &str,
        size: &str,
        scale: &str,
        enums: &[(String, Vec<String>)],
    ) -> Result<ColumnType, String> {
        let number = |raw: &str, what: &str, min: u32, max: u32| -> Result<u32, String> {
            match raw.trim().parse::<u32>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(format!(
                    "Give the {what} as a whole number from {min} to {max}."
                )),
            }
        };
        Ok(match code {
            "integer" => ColumnType::Integer,
            "bigint" => ColumnType::BigInt,
            "decimal" => {
                let p = number(size, "precision", 1, 1000)?;
                let s = if scale.trim().is_empty() {
                    0
                } else {
                    number(scale, "scale", 0, p)?
                };
                ColumnType::Decimal(p, s)
            }
            "text" => ColumnType::Text,
            "varchar" => ColumnType::Varchar(number(size, "length", 1, 10_485_760)?),
            "boolean" => ColumnType::Boolean,
            "date" => ColumnType::Date,
            "timestamp" => ColumnType::Timestamp,
            "timestamptz" => ColumnType::TimestampTz,
            "uuid" => ColumnType::Uuid,
            "json" => ColumnType::Json,
            other => match other.strip_prefix("enum:") {
                Some(name) => match enums.iter().find(|(n, _)| n == name) {
                    Some((n, labels)) => ColumnType::Enum(n.clone(), labels.clone()),
                    None => return Err(format!("There is no enum type named \"{name}\".")),
                },
                None => return Err(format!("\"{other}\" is not a type on the list.")),
            },
        })
    }

    /// The type as this backend declares it.
    pub fn sql(&self, backend: Backend) -> String {
        let pg = backend == Backend::Postgres;
        match self {
            ColumnType::Integer if pg => "integer".into(),
            ColumnType::Integer => "INTEGER".into(),
            ColumnType::BigInt if pg => "bigint".into(),
            ColumnType::BigInt => "BIGINT".into(),
            ColumnType::Decimal(p, s) if pg => format!("numeric({p},{s})"),
            ColumnType::Decimal(p, s) => format!("NUMERIC({p},{s})"),
            ColumnType::Text if pg => "text".into(),
            ColumnType::Text => "TEXT".into(),
            ColumnType::Varchar(n) if pg => format!("varchar({n})"),
            ColumnType::Varchar(n) => format!("VARCHAR({n})"),
            ColumnType::Boolean if pg => "boolean".into(),
            ColumnType::Boolean => "BOOLEAN".into(),
            ColumnType::Date if pg => "date".into(),
            ColumnType::Date => "DATE".into(),
            ColumnType::Timestamp if pg => "timestamp".into(),
            ColumnType::Timestamp => "TIMESTAMP".into(),
            ColumnType::TimestampTz if pg => "timestamptz".into(),
            ColumnType::TimestampTz => "TIMESTAMPTZ".into(),
            ColumnType::Uuid if pg => "uuid".into(),
            ColumnType::Uuid => "UUID".into(),
            // jsonb: the type Postgres recommends (comparable, indexable) for JSON data.
            ColumnType::Json if pg => "jsonb".into(),
            ColumnType::Json => "JSON".into(),
            ColumnType::Enum(name, _) => quote(name),
        }
    }

    /// A stand-in catalog column of this type, to parse values as the pages will.
    pub fn as_column(&self, backend: Backend) -> Column {
        let (kind, enum_values) = match self {
            ColumnType::Integer | ColumnType::BigInt => (Kind::Int, Vec::new()),
            ColumnType::Decimal(..) => (Kind::Decimal, Vec::new()),
            ColumnType::Text | ColumnType::Varchar(_) => (Kind::Text, Vec::new()),
            ColumnType::Boolean => (Kind::Bool, Vec::new()),
            ColumnType::Date => (Kind::Date, Vec::new()),
            ColumnType::Timestamp => (Kind::DateTime, Vec::new()),
            ColumnType::TimestampTz if backend == Backend::Postgres => {
                (Kind::DateTimeTz, Vec::new())
            }
            ColumnType::TimestampTz => (Kind::DateTime, Vec::new()),
            ColumnType::Uuid => (Kind::Uuid, Vec::new()),
            ColumnType::Json => (Kind::Json, Vec::new()),
            ColumnType::Enum(_, labels) => (Kind::Enum, labels.clone()),
        };
        Column {
            name: String::new(),
            data_type: self.sql(backend),
            cast_type: self.sql(backend),
            kind,
            nullable: true,
            default: None,
            primary_key: false,
            generated: false,
            enum_values,
        }
    }
}

/// `ON DELETE` of a foreign key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    NoAction,
    Restrict,
    Cascade,
    SetNull,
}

pub const ON_DELETE_CHOICES: &[(&str, &str)] = &[
    ("no action", "refuse (no action)"),
    ("restrict", "refuse at once (restrict)"),
    ("cascade", "delete the rows referring to it (cascade)"),
    ("set null", "empty the reference (set null)"),
];

impl OnDelete {
    pub fn parse(raw: &str) -> Result<OnDelete, String> {
        Ok(match raw {
            "" | "no action" => OnDelete::NoAction,
            "restrict" => OnDelete::Restrict,
            "cascade" => OnDelete::Cascade,
            "set null" => OnDelete::SetNull,
            other => return Err(format!("\"{other}\" is not an ON DELETE choice.")),
        })
    }

    pub fn sql(self) -> &'static str {
        match self {
            OnDelete::NoAction => "NO ACTION",
            OnDelete::Restrict => "RESTRICT",
            OnDelete::Cascade => "CASCADE",
            OnDelete::SetNull => "SET NULL",
        }
    }
}

/// A text literal: single quotes, embedded quotes doubled. On Postgres, text holding a
/// backslash is written as an escape string (`E'…'`, backslashes doubled), which means the
/// same whatever the server's `standard_conforming_strings`.
pub fn text_literal(text: &str, backend: Backend) -> String {
    let quoted = text.replace('\'', "''");
    if backend == Backend::Postgres && text.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// The DEFAULT expression for what the operator typed, checked against the column: a value
/// of its type written as a literal, or the current date or time for temporal columns.
pub fn default_sql(column: &Column, raw: &str, backend: Backend) -> Result<String, String> {
    let word = raw.trim().to_ascii_lowercase();
    match column.kind {
        Kind::DateTime | Kind::DateTimeTz
            if ["now", "now()", "current_timestamp"].contains(&word.as_str()) =>
        {
            return Ok("CURRENT_TIMESTAMP".into());
        }
        Kind::Date if ["today", "current_date"].contains(&word.as_str()) => {
            return Ok("CURRENT_DATE".into());
        }
        _ => {}
    }
    let value = parse_input(column, raw).map_err(|e| format!("Default: {e}"))?;
    if let Some(n) = varchar_length(&column.data_type)
        && raw.chars().count() > n
    {
        return Err(format!("Default: at most {n} characters."));
    }
    Ok(match value {
        Value::Null => "NULL".into(),
        Value::Bool(b) => match backend {
            Backend::Sqlite => i64::from(b).to_string(),
            Backend::Postgres => if b { "TRUE" } else { "FALSE" }.into(),
        },
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float_text(f),
        // A checked decimal is digits, a sign and a point: a bare number literal.
        Value::Text(t) if column.kind == Kind::Decimal => t,
        Value::Text(t) => text_literal(&t, backend),
        Value::Bytes(_) => return Err("Default: this type takes no default here.".into()),
    })
}

/// The n of `varchar(n)` / `character varying(n)`.
fn varchar_length(data_type: &str) -> Option<usize> {
    let t = data_type.to_ascii_lowercase();
    if !(t.starts_with("varchar") || t.starts_with("character varying")) {
        return None;
    }
    t.split_once('(')?.1.split_once(')')?.0.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_literals_of_the_type() {
        let text = ColumnType::Varchar(5).as_column(Backend::Postgres);
        assert_eq!(
            default_sql(&text, "it's", Backend::Postgres).unwrap(),
            "'it''s'"
        );
        assert!(default_sql(&text, "toolong", Backend::Postgres).is_err());
        let int = ColumnType::Integer.as_column(Backend::Sqlite);
        assert_eq!(default_sql(&int, "42", Backend::Sqlite).unwrap(), "42");
        assert!(default_sql(&int, "1; DROP TABLE x", Backend::Sqlite).is_err());
        let dec = ColumnType::Decimal(8, 2).as_column(Backend::Sqlite);
        assert_eq!(default_sql(&dec, "1.5", Backend::Sqlite).unwrap(), "1.50");
        let b = ColumnType::Boolean.as_column(Backend::Postgres);
        assert_eq!(default_sql(&b, "yes", Backend::Postgres).unwrap(), "TRUE");
        let ts = ColumnType::TimestampTz.as_column(Backend::Postgres);
        assert_eq!(
            default_sql(&ts, "now", Backend::Postgres).unwrap(),
            "CURRENT_TIMESTAMP"
        );
        assert_eq!(
            default_sql(&text, r"a\'", Backend::Postgres).unwrap(),
            r"E'a\\'''"
        );
        let j = ColumnType::Json.as_column(Backend::Postgres);
        assert!(default_sql(&j, "{bad", Backend::Postgres).is_err());
    }
}
