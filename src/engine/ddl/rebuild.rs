//! SQLite's 12-step table rebuild (<https://www.sqlite.org/lang_altertable.html#otheralter>)
//! for the changes `ALTER TABLE` cannot make there: the table as its own `CREATE TABLE`
//! text declares it (taken apart by `sqltext`), changed in one clause, created under a new
//! name, filled with the old rows, swapped in; its indexes and triggers, other tables'
//! triggers that name it and the views that use it created again. `apply` runs it with
//! foreign keys off, in one transaction, checked by `foreign_key_check`.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::create::quoted_list;
use super::sqltext::{self, ClauseKind, ColumnText, ConstraintText, Element, names};
use crate::db::DbConn;
use crate::engine::sql::quote;
use crate::error::AppError;

/// A column as the table's text declares it.
#[derive(Debug, Clone)]
pub struct SqColumn {
    pub text: ColumnText,
    /// GENERATED ALWAYS AS: computed, never copied.
    pub generated: bool,
}

/// An SQLite table as the rebuild needs it: its own text taken apart (so CHECK, COLLATE,
/// generated columns and named constraints are written back as they were), and what is
/// created again around it.
#[derive(Debug, Clone)]
pub struct SqTable {
    pub name: String,
    pub columns: Vec<SqColumn>,
    pub constraints: Vec<ConstraintText>,
    /// What follows the column list: `WITHOUT ROWID`, `STRICT`.
    pub tail: String,
    /// UNIQUE constraints declared with the table: (their automatic index, columns).
    pub uniques: Vec<(String, Vec<String>)>,
    /// CREATE INDEX statements: (name, columns, sql).
    pub indexes: Vec<(String, Vec<String>, String)>,
    pub triggers: Vec<String>,
    /// Triggers of other tables that name this one: (name, sql), dropped before the swap
    /// (SQLite checks them when the new table is renamed) and created again after.
    pub other_triggers: Vec<(String, String)>,
    /// Views that use the table: (name, sql), dropped before and created again after.
    pub views: Vec<(String, String)>,
    /// AUTOINCREMENT's high-water mark, carried to the new table so keys are not reused.
    pub sequence: Option<i64>,
}

#[derive(QueryableByName)]
struct Col {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    hidden: i64,
}

#[derive(QueryableByName)]
struct Idx {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    origin: String,
    #[diesel(sql_type = Nullable<Text>)]
    col: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    sql: Option<String>,
}

#[derive(QueryableByName)]
struct Object {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    sql: Option<String>,
}

#[derive(QueryableByName)]
struct Trigger {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    on_table: String,
    #[diesel(sql_type = Text)]
    sql: String,
}

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

const UNMATCHED: &str = "Gatehouse could not match this table's definition to its columns, so it cannot rebuild it: change it with the sqlite3 tool instead.";

/// Read `table`; `Err` when it holds something the rebuild could not carry over.
pub fn read(conn: &mut DbConn, table: &str) -> Result<Result<SqTable, String>, AppError> {
    let own =
        diesel::sql_query("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind::<Text, _>(table)
            .get_result::<Object>(conn)?;
    let create = own.sql.unwrap_or_default();
    if create
        .trim_start()
        .to_ascii_uppercase()
        .starts_with("CREATE VIRTUAL")
    {
        return Ok(Err(
            "This is a virtual table: SQLite cannot rebuild it here.".into(),
        ));
    }
    let text = match sqltext::table(&create) {
        Ok(t) => t,
        Err(message) => return Ok(Err(message)),
    };
    let cols = diesel::sql_query("SELECT name, hidden FROM pragma_table_xinfo(?) ORDER BY cid")
        .bind::<Text, _>(table)
        .load::<Col>(conn)?;
    let (mut columns, mut constraints) = (Vec::new(), Vec::new());
    for e in text.elements {
        match e {
            Element::Column(c) => columns.push(c),
            Element::Constraint(c) => constraints.push(c),
        }
    }
    let matched =
        cols.len() == columns.len() && cols.iter().zip(&columns).all(|(c, t)| c.name == t.name);
    if !matched || cols.iter().any(|c| c.hidden == 1) {
        return Ok(Err(UNMATCHED.into()));
    }
    let idx = diesel::sql_query(
        "SELECT il.name AS name, il.origin AS origin, ii.name AS col, m.sql AS sql \
         FROM pragma_index_list(?) il JOIN pragma_index_info(il.name) ii \
         LEFT JOIN sqlite_master m ON m.type = 'index' AND m.name = il.name \
         ORDER BY il.seq DESC, ii.seqno",
    )
    .bind::<Text, _>(table)
    .load::<Idx>(conn)?;
    let mut uniques: Vec<(String, Vec<String>)> = Vec::new();
    let mut indexes: Vec<(String, Vec<String>, String)> = Vec::new();
    for i in idx {
        let col = i.col.unwrap_or_default();
        match i.origin.as_str() {
            "pk" => {}
            "u" => match uniques.iter_mut().find(|(n, _)| *n == i.name) {
                Some((_, cols)) => cols.push(col),
                None => uniques.push((i.name, vec![col])),
            },
            _ => match indexes.iter_mut().find(|(n, _, _)| *n == i.name) {
                Some((_, cols, _)) => cols.push(col),
                None => indexes.push((i.name, vec![col], i.sql.unwrap_or_default())),
            },
        }
    }
    let triggers = diesel::sql_query(
        "SELECT name, tbl_name AS on_table, sql FROM sqlite_master \
         WHERE type = 'trigger' AND sql IS NOT NULL ORDER BY rowid",
    )
    .load::<Trigger>(conn)?;
    let (mut own_triggers, mut other_triggers) = (Vec::new(), Vec::new());
    for t in triggers {
        let sql = t.sql;
        if t.on_table.eq_ignore_ascii_case(table) {
            own_triggers.push(sql);
        } else if names(&sql, table) {
            other_triggers.push((t.name, sql));
        }
    }
    let views =
        diesel::sql_query("SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY rowid")
            .load::<Object>(conn)?
            .into_iter()
            .filter_map(|o| o.sql.map(|s| (o.name, s)))
            .filter(|(_, s)| names(s, table))
            .collect();
    let sequence = if names(&create, "AUTOINCREMENT") {
        diesel::sql_query("SELECT seq FROM sqlite_sequence WHERE name = ?")
            .bind::<Text, _>(table)
            .get_result::<Seq>(conn)
            .optional()?
            .map(|s| s.seq)
    } else {
        None
    };
    Ok(Ok(SqTable {
        name: table.to_string(),
        columns: cols
            .iter()
            .zip(columns)
            .map(|(c, text)| SqColumn {
                text,
                generated: c.hidden != 0,
            })
            .collect(),
        constraints,
        tail: text.tail,
        uniques,
        indexes,
        triggers: own_triggers,
        other_triggers,
        views,
        sequence,
    }))
}

/// A string literal of SQL.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl SqTable {
    fn column_mut(&mut self, name: &str) -> Result<&mut ColumnText, String> {
        let table = self.name.clone();
        self.columns
            .iter_mut()
            .map(|c| &mut c.text)
            .find(|c| c.name == name)
            .ok_or_else(|| format!("{table} has no column named \"{name}\"."))
    }

    /// Replace the column's DEFAULT clause (`None`: no default).
    pub fn set_default(&mut self, name: &str, expr: Option<String>) -> Result<(), String> {
        let c = self.column_mut(name)?;
        c.clauses.retain(|c| c.kind != ClauseKind::Default);
        if let Some(e) = expr {
            c.clauses.push(sqltext::Clause {
                kind: ClauseKind::Default,
                text: format!("DEFAULT {e}"),
            });
        }
        Ok(())
    }

    pub fn set_not_null(&mut self, name: &str, not_null: bool) -> Result<(), String> {
        let c = self.column_mut(name)?;
        c.clauses
            .retain(|c| c.kind != ClauseKind::Null && c.kind != ClauseKind::NotNull);
        if not_null {
            c.clauses.push(sqltext::Clause {
                kind: ClauseKind::NotNull,
                text: "NOT NULL".into(),
            });
        }
        Ok(())
    }

    /// Add a column from its definition (as `create::column_sql` writes it).
    pub fn add_column(&mut self, definition: &str) -> Result<(), String> {
        match sqltext::element(definition)? {
            Element::Column(text) => {
                self.columns.push(SqColumn {
                    text,
                    generated: false,
                });
                Ok(())
            }
            Element::Constraint(_) => Err(format!("\"{definition}\" is not a column.")),
        }
    }

    /// Add a table constraint (a FOREIGN KEY) from its text.
    pub fn add_constraint(&mut self, text: &str) -> Result<(), String> {
        match sqltext::element(text)? {
            Element::Constraint(c) => {
                self.constraints.push(c);
                Ok(())
            }
            Element::Column(_) => Err(format!("\"{text}\" is not a constraint.")),
        }
    }

    /// Drop a column with the UNIQUE and FOREIGN KEY constraints and indexes over it;
    /// refused, naming them, while a CHECK, a generated column, a trigger or a view names it.
    pub fn drop_column(&mut self, name: &str) -> Result<(), String> {
        self.column_mut(name)?;
        let t = self.name.clone();
        let mut users: Vec<String> = Vec::new();
        for c in self.columns.iter().filter(|c| c.text.name != name) {
            if c.text.clause_names(name) {
                users.push(format!(
                    "column {} (a CHECK or generated expression)",
                    c.text.name
                ));
            }
        }
        for c in &self.constraints {
            if c.keyword == "CHECK" && names(&c.text, name) {
                users.push(format!("the table constraint {}", c.text));
            }
        }
        for sql in &self.triggers {
            if names(sql, name) {
                users.push(format!("the trigger {}", trigger_name(sql)));
            }
        }
        for (trigger, sql) in &self.other_triggers {
            if names(sql, name) {
                users.push(format!("the trigger {trigger}"));
            }
        }
        for (view, sql) in &self.views {
            if names(sql, name) {
                users.push(format!("the view {view}"));
            }
        }
        if !users.is_empty() {
            return Err(format!(
                "{} of {t} names the column {name}, which would then no longer exist: change or drop it first.",
                users.join("; ")
            ));
        }
        self.columns.retain(|c| c.text.name != name);
        self.constraints
            .retain(|c| !c.columns.iter().any(|c| c == name));
        self.uniques
            .retain(|(_, cols)| !cols.iter().any(|c| c == name));
        self.indexes
            .retain(|(_, cols, sql)| !cols.iter().any(|c| c == name) && !names(sql, name));
        Ok(())
    }

    /// Drop a UNIQUE constraint declared with the table, known by its automatic index.
    pub fn drop_unique(&mut self, index: &str) -> Result<(), String> {
        let not_found = || format!("{} has no UNIQUE constraint behind {index}.", self.name);
        let cols = self
            .uniques
            .iter()
            .find(|(n, _)| n == index)
            .map(|(_, cols)| cols.clone())
            .ok_or_else(not_found)?;
        if let [col] = cols.as_slice()
            && let Some(c) = self
                .columns
                .iter_mut()
                .find(|c| c.text.name == *col && c.text.has(ClauseKind::Unique))
        {
            let at = c
                .text
                .clauses
                .iter()
                .position(|c| c.kind == ClauseKind::Unique);
            if let Some(at) = at {
                c.text.clauses.remove(at);
            }
        } else {
            let at = self
                .constraints
                .iter()
                .position(|c| c.keyword == "UNIQUE" && c.columns == cols)
                .ok_or_else(not_found)?;
            self.constraints.remove(at);
        }
        self.uniques.retain(|(n, _)| n != index);
        Ok(())
    }

    /// The CREATE TABLE statement of this definition under `name`.
    pub fn create_sql(&self, name: &str) -> String {
        let lines: Vec<String> = self
            .columns
            .iter()
            .map(|c| c.text.sql())
            .chain(self.constraints.iter().map(|c| c.text.clone()))
            .collect();
        format!(
            "CREATE TABLE {} (\n    {}\n){}",
            quote(name),
            lines.join(",\n    "),
            self.tail
        )
    }
}

/// The name of a trigger from its CREATE TRIGGER text (for messages).
fn trigger_name(sql: &str) -> String {
    let Ok(ts) = sqltext::tokens(sql) else {
        return String::new();
    };
    let at = ts
        .iter()
        .position(|t| t.text(sql).eq_ignore_ascii_case("TRIGGER"))
        .map_or(0, |n| n + 1);
    let skip = ["IF", "NOT", "EXISTS"];
    ts.iter()
        .skip(at)
        .find(|t| !skip.contains(&t.text(sql).to_ascii_uppercase().as_str()))
        .and_then(|t| t.ident(sql))
        .unwrap_or_default()
}

/// The statements that turn `old` into `new` (same name), keeping every row: the stored
/// columns both have are copied; indexes on columns `new` lost are not created again.
pub fn statements(old: &SqTable, new: &SqTable) -> Vec<String> {
    let temp = format!("{}__gatehouse_rebuild", old.name);
    let mut out = Vec::new();
    for (view, _) in &old.views {
        out.push(format!("DROP VIEW {}", quote(view)));
    }
    for (trigger, _) in &old.other_triggers {
        out.push(format!("DROP TRIGGER {}", quote(trigger)));
    }
    out.push(new.create_sql(&temp));
    let stored = |t: &SqTable, name: &str| {
        t.columns
            .iter()
            .any(|c| c.text.name == name && !c.generated)
    };
    let common: Vec<&str> = new
        .columns
        .iter()
        .map(|c| c.text.name.as_str())
        .filter(|n| stored(new, n) && stored(old, n))
        .collect();
    out.push(format!(
        "INSERT INTO {} ({cols}) SELECT {cols} FROM {}",
        quote(&temp),
        quote(&old.name),
        cols = quoted_list(&common)
    ));
    if let Some(seq) = old.sequence {
        out.push(format!(
            "DELETE FROM sqlite_sequence WHERE name = {}",
            literal(&temp)
        ));
        out.push(format!(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ({}, {seq})",
            literal(&temp)
        ));
    }
    out.push(format!("DROP TABLE {}", quote(&old.name)));
    out.push(format!(
        "ALTER TABLE {} RENAME TO {}",
        quote(&temp),
        quote(&new.name)
    ));
    for (_, _, sql) in &new.indexes {
        out.push(sql.clone());
    }
    out.extend(new.triggers.iter().cloned());
    for (_, sql) in &new.other_triggers {
        out.push(sql.clone());
    }
    for (_, sql) in &new.views {
        out.push(sql.clone());
    }
    out
}
