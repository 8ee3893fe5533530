//! What can go wrong writing a row, in terms the form can show: a message next to a field
//! (NOT NULL, unique), a message for the whole form (foreign key, CHECK, a value the
//! database would not take), a conflict with a newer version of the row, or a real error.

use std::collections::BTreeMap;

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::catalog::Table;
use crate::catalog::rules::Action;
use crate::engine::store::Row;
use crate::error::AppError;

#[derive(Debug)]
pub enum WriteError {
    /// Column name → message, plus an optional message for the whole form.
    Invalid(BTreeMap<String, String>, Option<String>),
    ForeignKey(String),
    Conflict(Box<Row>),
    App(AppError),
}

impl From<DieselError> for WriteError {
    fn from(e: DieselError) -> Self {
        WriteError::App(e.into())
    }
}

impl From<AppError> for WriteError {
    fn from(e: AppError) -> Self {
        WriteError::App(e)
    }
}

/// A unique value clash under a read rule.
pub const CONFLICTS_HIDDEN: &str = "These values conflict with an existing row (a value that must be unique); nothing was written.";

fn field(column: &str, message: String) -> WriteError {
    WriteError::Invalid(BTreeMap::from([(column.to_string(), message)]), None)
}

fn form(message: String) -> WriteError {
    WriteError::Invalid(BTreeMap::new(), Some(message))
}

/// The columns SQLite names in "UNIQUE constraint failed: t.a, t.b".
fn sqlite_columns(message: &str) -> Vec<String> {
    message
        .split_once(':')
        .map(|(_, cols)| {
            cols.split(',')
                .filter_map(|c| c.trim().rsplit_once('.').map(|(_, col)| col.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Turn a database refusal into something the operator can act on.
pub fn classify(e: DieselError, table: &Table, _hint: Option<&str>) -> WriteError {
    let DieselError::DatabaseError(kind, info) = &e else {
        return WriteError::App(e.into());
    };
    let message = info.message().lines().next().unwrap_or("").to_string();
    let constraint = info.constraint_name().map(str::to_string);
    let columns: Vec<String> = match (info.column_name(), &constraint) {
        (Some(c), _) => vec![c.to_string()],
        (None, Some(name)) => table
            .indexes
            .iter()
            .find(|i| &i.name == name)
            .map(|i| i.columns.clone())
            .or_else(|| {
                table
                    .foreign_keys
                    .iter()
                    .find(|f| &f.name == name)
                    .map(|f| f.columns.clone())
            })
            .unwrap_or_default(),
        (None, None) => sqlite_columns(&message),
    };
    let first = columns.first().cloned();
    match kind {
        DatabaseErrorKind::NotNullViolation => match first {
            Some(c) => field(&c, "This field is required.".into()),
            None => form("A required field is empty.".into()),
        },
        // Under a read rule the other row may be hidden: say nothing of it, its key, or
        // which of its values clashed (the same words whether it is hidden or not).
        DatabaseErrorKind::UniqueViolation if table.scope(Action::Read).is_some() => {
            form(CONFLICTS_HIDDEN.into())
        }
        DatabaseErrorKind::UniqueViolation => match (first, columns.len()) {
            (Some(c), 1) => field(
                &c,
                "Another row already has this value; it must be unique.".into(),
            ),
            _ => form(format!(
                "Another row already has the same {}; together they must be unique.",
                columns.join(", ")
            )),
        },
        DatabaseErrorKind::ForeignKeyViolation => {
            let target = table.foreign_keys.iter().find(|f| {
                Some(&f.name) == constraint.as_ref()
                    || first.as_ref().is_some_and(|c| f.columns.contains(c))
            });
            match target {
                Some(fk) if fk.columns.len() == 1 => {
                    // Also used for deletes, whose message names the referencing tables instead.
                    WriteError::Invalid(
                        BTreeMap::from([(fk.columns[0].clone(), format!("No row of {} has this value.", fk.ref_table))]),
                        None,
                    )
                    .or_foreign_key(&message)
                }
                _ => WriteError::ForeignKey(
                    "A value refers to a row that does not exist (a foreign key), or other rows still refer to this one."
                        .into(),
                ),
            }
        }
        DatabaseErrorKind::CheckViolation => form(match constraint {
            Some(name) => {
                format!("The database refused these values: they break the rule \"{name}\".")
            }
            None => format!("The database refused these values: {message}."),
        }),
        _ if looks_like_bad_value(&message) => {
            form(format!("The database could not use a value: {message}."))
        }
        _ => WriteError::App(e.into()),
    }
}

/// Postgres's "invalid input syntax …", "value too long …", "out of range" and similar
/// messages describe the value, not the server: safe and useful to show.
fn looks_like_bad_value(message: &str) -> bool {
    [
        "invalid input syntax for type",
        "invalid input value for enum",
        "value too long for type",
        "out of range",
        "malformed array literal",
        "malformed range literal",
        "datatype mismatch",
    ]
    .iter()
    .any(|m| message.to_lowercase().contains(m))
}

impl WriteError {
    /// A foreign-key refusal on delete (Postgres names the referencing side) stays a
    /// foreign-key error; on insert or update it is a field error.
    fn or_foreign_key(self, message: &str) -> WriteError {
        if message.contains("is still referenced") {
            WriteError::ForeignKey(message.to_string())
        } else {
            self
        }
    }
}
