//! What an import will do: the mode, the key rows are matched on, and where each of the
//! table's columns takes its value (a field of the file, a constant, NULL, or nothing);
//! and the parsing of one cell by the column's kind, with the record form's messages.

use std::sync::Arc;

use crate::catalog::{Column, Kind, RowKey, Table};
use crate::engine::value::{NUL_REFUSED, Value, parse_input};
use crate::identity::permissions::Action;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every row is new.
    Insert,
    /// A row whose key exists replaces that row's mapped columns; others are inserted.
    Upsert,
    /// Every row must exist already; its mapped columns are changed.
    Update,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "insert" => Some(Mode::Insert),
            "upsert" => Some(Mode::Upsert),
            "update" => Some(Mode::Update),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Insert => "insert",
            Mode::Upsert => "upsert",
            Mode::Update => "update",
        }
    }

    pub fn creates(self) -> bool {
        self != Mode::Update
    }

    /// The rights the mode needs on the table: create to insert, update to change rows,
    /// both to upsert.
    pub fn needs(self) -> &'static [Action] {
        match self {
            Mode::Insert => &[Action::Create],
            Mode::Update => &[Action::Update],
            Mode::Upsert => &[Action::Create, Action::Update],
        }
    }
}

/// Where a column's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Not written: the database's default on insert, unchanged on update.
    Skip,
    /// The file's field at this index.
    Field(usize),
    /// The same text for every row, parsed as a cell would be.
    Constant(String),
    Null,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub table: Arc<Table>,
    pub mode: Mode,
    /// The columns rows are matched on (upsert, update): the primary key or a unique column.
    pub key: Vec<usize>,
    /// One source per column of the table, in catalog order.
    pub sources: Vec<Source>,
    /// The file's header.
    pub headers: Vec<String>,
}

/// The column a header names, case-insensitively and ignoring surrounding spaces.
pub fn column_for(table: &Table, header: &str) -> Option<usize> {
    let h = header.trim();
    table.columns.iter().position(|c| c.name == h).or_else(|| {
        table
            .columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(h))
    })
}

/// Each column mapped to the header of the same name, when the file has one.
pub fn default_sources(table: &Table, headers: &[String]) -> Vec<Source> {
    let mut sources = vec![Source::Skip; table.columns.len()];
    for (i, h) in headers.iter().enumerate() {
        if let Some(c) = column_for(table, h)
            && sources[c] == Source::Skip
            && importable(&table.columns[c])
        {
            sources[c] = Source::Field(i);
        }
    }
    sources
}

/// Headers that name no column of the table (as the caller's role sees it).
pub fn unknown_headers(table: &Table, headers: &[String]) -> Vec<String> {
    headers
        .iter()
        .filter(|h| column_for(table, h).is_none())
        .cloned()
        .collect()
}

/// Whether values can be imported into the column at all.
pub fn importable(c: &Column) -> bool {
    c.editable()
}

impl Plan {
    /// Check a mapping against the table: the key exists and is unique, update and upsert
    /// have it mapped, nothing is mapped into a column that cannot take values, and every
    /// constant parses.
    pub fn new(
        table: Arc<Table>,
        mode: Mode,
        key: Option<&str>,
        sources: Vec<Source>,
        headers: Vec<String>,
    ) -> Result<Plan, String> {
        if let Some(reason) = table.read_only_reason() {
            return Err(reason.to_string());
        }
        let key = key_columns(&table, mode, key)?;
        for (i, (c, s)) in table.columns.iter().zip(&sources).enumerate() {
            if *s != Source::Skip && !importable(c) {
                return Err(format!("Column {} cannot be imported into.", c.name));
            }
            if let Source::Field(f) = s
                && *f >= headers.len()
            {
                return Err(format!(
                    "Column {} is mapped to a field the file does not have.",
                    c.name
                ));
            }
            if let Source::Constant(text) = s {
                cell(c, text, mode.creates())
                    .map_err(|m| format!("The constant for {}: {m}", c.name))?;
            }
            if *s == Source::Null && !c.nullable {
                return Err(format!("Column {} cannot be set to NULL.", c.name));
            }
            if mode != Mode::Insert && key.contains(&i) && matches!(s, Source::Skip | Source::Null)
            {
                return Err(format!(
                    "Rows are matched on {}: map it to a column of the file.",
                    c.name
                ));
            }
        }
        if sources.iter().all(|s| *s == Source::Skip) {
            return Err("No column is mapped: nothing would be imported.".into());
        }
        Ok(Plan {
            table,
            mode,
            key,
            sources,
            headers,
        })
    }

    /// The row's values by column (`None`: not written), or the problems as (column, message).
    pub fn row_values(
        &self,
        fields: &[Result<&str, String>],
    ) -> (Vec<Option<Value>>, Vec<(String, String)>) {
        let mut values = Vec::with_capacity(self.sources.len());
        let mut problems = Vec::new();
        for (i, (c, s)) in self.table.columns.iter().zip(&self.sources).enumerate() {
            let raw = match s {
                Source::Skip => {
                    values.push(None);
                    continue;
                }
                Source::Null => {
                    values.push(Some(Value::Null));
                    continue;
                }
                Source::Constant(t) => Ok(t.as_str()),
                Source::Field(f) => fields.get(*f).cloned().unwrap_or(Ok("")),
            };
            let parsed = raw.and_then(|r| cell(c, r, self.mode.creates()));
            match parsed {
                Ok(None) if self.mode != Mode::Insert && self.key.contains(&i) => {
                    problems.push((
                        c.name.clone(),
                        "This field is required: rows are matched on it.".into(),
                    ));
                    values.push(None);
                }
                Ok(v) => values.push(v),
                Err(m) => {
                    problems.push((c.name.clone(), m));
                    values.push(None);
                }
            }
        }
        (values, problems)
    }
}

/// The columns rows are matched on: the chosen column (which must be unique), else the
/// primary key. Plain inserts match on nothing.
fn key_columns(table: &Table, mode: Mode, key: Option<&str>) -> Result<Vec<usize>, String> {
    let index = |name: &str| table.columns.iter().position(|c| c.name == name);
    if let Some(name) = key.map(str::trim).filter(|k| !k.is_empty()) {
        let i = column_for(table, name)
            .ok_or_else(|| format!("The key column {name} is not a column of {}.", table.name))?;
        let col = &table.columns[i].name;
        let unique = table.key == RowKey::Primary(vec![col.clone()])
            || table
                .indexes
                .iter()
                .any(|ix| ix.unique && ix.columns.len() == 1 && &ix.columns[0] == col);
        if !unique {
            return Err(format!(
                "Rows can only be matched on a unique column; {col} is not unique."
            ));
        }
        return Ok(vec![i]);
    }
    match &table.key {
        RowKey::Primary(cols) => Ok(cols.iter().filter_map(|c| index(c)).collect()),
        _ if mode == Mode::Insert => Ok(Vec::new()),
        _ => Err(format!(
            "{} has no primary key: choose a unique column to match rows on.",
            table.name
        )),
    }
}

/// One cell for `column`: `Ok(None)` leaves the column to the database's default (an
/// empty cell on insert where there is one, or a generated key); otherwise the value as
/// the record form parses it, with its messages. An empty cell is NULL where the column
/// allows it (text keeps the empty string, as in the form).
pub fn cell(column: &Column, raw: &str, creating: bool) -> Result<Option<Value>, String> {
    if raw.contains('\0') {
        return Err(NUL_REFUSED.into());
    }
    let defaulted = column.default.is_some() || column.generated;
    if raw.trim().is_empty() && column.kind != Kind::Text {
        return if creating && defaulted {
            Ok(None)
        } else if column.nullable {
            Ok(Some(Value::Null))
        } else {
            Err("This field is required.".into())
        };
    }
    if raw.is_empty() && creating && column.default.is_some() {
        return Ok(None);
    }
    parse_input(column, raw).map(Some)
}
