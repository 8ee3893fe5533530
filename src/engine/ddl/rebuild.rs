//! SQLite's 12-step table rebuild (<https://www.sqlite.org/lang_altertable.html#otheralter>)
//! for the changes `ALTER TABLE` cannot make there: the table as it is (read from
//! `pragma_*` and `sqlite_master`), changed, created under a new name, filled with the old
//! rows, swapped in, its indexes, triggers and the views that use it created again. `apply`
//! runs it with foreign keys off, in one transaction, checked by `foreign_key_check`.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::create::quoted_list;
use super::impact::mentions;
use crate::db::DbConn;
use crate::engine::sql::quote;
use crate::error::AppError;

#[derive(Debug, Clone)]
pub struct SqColumn {
    pub name: String,
    pub decl: String,
    pub not_null: bool,
    /// The DEFAULT expression as SQLite keeps it (SQL text the database wrote).
    pub default: Option<String>,
    pub pk: i64,
}

#[derive(Debug, Clone)]
pub struct SqForeignKey {
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    pub on_update: String,
    pub on_delete: String,
}

/// An SQLite table as the rebuild needs it.
#[derive(Debug, Clone)]
pub struct SqTable {
    pub name: String,
    pub columns: Vec<SqColumn>,
    pub autoincrement: bool,
    pub without_rowid: bool,
    /// UNIQUE constraints declared with the table: (their automatic index, columns).
    pub uniques: Vec<(String, Vec<String>)>,
    pub foreign_keys: Vec<SqForeignKey>,
    /// CREATE INDEX statements: (name, columns, sql).
    pub indexes: Vec<(String, Vec<String>, String)>,
    pub triggers: Vec<String>,
    /// Views that use the table: (name, sql), dropped before and created again after.
    pub views: Vec<(String, String)>,
}

#[derive(QueryableByName)]
struct Col {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    decl: String,
    #[diesel(sql_type = BigInt)]
    not_null: i64,
    #[diesel(sql_type = Nullable<Text>)]
    dflt: Option<String>,
    #[diesel(sql_type = BigInt)]
    pk: i64,
    #[diesel(sql_type = BigInt)]
    hidden: i64,
}

#[derive(QueryableByName)]
struct Fk {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    ref_table: String,
    #[diesel(sql_type = Text)]
    from_col: String,
    #[diesel(sql_type = Nullable<Text>)]
    to_col: Option<String>,
    #[diesel(sql_type = Text)]
    on_update: String,
    #[diesel(sql_type = Text)]
    on_delete: String,
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

/// Read `table`; `Err` when it holds something the rebuild could not carry over.
pub fn read(conn: &mut DbConn, table: &str) -> Result<Result<SqTable, String>, AppError> {
    let own =
        diesel::sql_query("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind::<Text, _>(table)
            .get_result::<Object>(conn)?;
    let create = own.sql.unwrap_or_default().to_ascii_uppercase();
    for (word, what) in [
        ("CHECK", "CHECK constraints"),
        ("COLLATE", "collations"),
        ("GENERATED", "generated columns"),
        ("CONSTRAINT", "named constraints"),
    ] {
        if mentions(&create, word) {
            return Ok(Err(format!(
                "This table declares {what}, which this change would have to rebuild the table without (SQLite cannot alter them in place): change it with the sqlite3 tool instead."
            )));
        }
    }
    let cols = diesel::sql_query(
        "SELECT name, type AS decl, \"notnull\" AS not_null, dflt_value AS dflt, pk, hidden \
         FROM pragma_table_xinfo(?) ORDER BY cid",
    )
    .bind::<Text, _>(table)
    .load::<Col>(conn)?;
    if cols.iter().any(|c| c.hidden != 0) {
        return Ok(Err(
            "This table has hidden or generated columns: SQLite cannot rebuild it here.".into(),
        ));
    }
    let fks = diesel::sql_query(
        "SELECT id, \"table\" AS ref_table, \"from\" AS from_col, \"to\" AS to_col, on_update, on_delete \
         FROM pragma_foreign_key_list(?) ORDER BY id, seq",
    )
    .bind::<Text, _>(table)
    .load::<Fk>(conn)?;
    let mut foreign_keys: Vec<(i64, SqForeignKey)> = Vec::new();
    for f in fks {
        match foreign_keys.iter_mut().find(|(id, _)| *id == f.id) {
            Some((_, fk)) => {
                fk.columns.push(f.from_col);
                fk.ref_columns.extend(f.to_col);
            }
            None => foreign_keys.push((
                f.id,
                SqForeignKey {
                    columns: vec![f.from_col],
                    ref_table: f.ref_table,
                    ref_columns: f.to_col.into_iter().collect(),
                    on_update: f.on_update,
                    on_delete: f.on_delete,
                },
            )),
        }
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
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? ORDER BY rowid",
    )
    .bind::<Text, _>(table)
    .load::<Object>(conn)?
    .into_iter()
    .filter_map(|o| o.sql)
    .collect();
    let views =
        diesel::sql_query("SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY rowid")
            .load::<Object>(conn)?
            .into_iter()
            .filter_map(|o| o.sql.map(|s| (o.name, s)))
            .filter(|(_, s)| mentions(s, table))
            .collect();
    Ok(Ok(SqTable {
        name: table.to_string(),
        columns: cols
            .into_iter()
            .map(|c| SqColumn {
                name: c.name,
                decl: c.decl,
                not_null: c.not_null != 0,
                default: c.dflt,
                pk: c.pk,
            })
            .collect(),
        autoincrement: mentions(&create, "AUTOINCREMENT"),
        without_rowid: create
            .replace(char::is_whitespace, "")
            .contains("WITHOUTROWID"),
        uniques,
        foreign_keys: foreign_keys.into_iter().map(|(_, f)| f).collect(),
        indexes,
        triggers,
        views,
    }))
}

/// A stored default written back: simple literals as they are, anything else in
/// parentheses (SQLite keeps `DEFAULT (expr)` without them).
fn default_expr(d: &str) -> String {
    let simple = d.starts_with('\'')
        || d.parse::<f64>().is_ok()
        || [
            "NULL",
            "TRUE",
            "FALSE",
            "CURRENT_TIMESTAMP",
            "CURRENT_DATE",
            "CURRENT_TIME",
        ]
        .contains(&d.to_ascii_uppercase().as_str());
    if simple {
        d.to_string()
    } else {
        format!("({d})")
    }
}

impl SqTable {
    /// The CREATE TABLE statement of this definition under `name`.
    pub fn create_sql(&self, name: &str) -> String {
        let keys: Vec<&SqColumn> = {
            let mut k: Vec<&SqColumn> = self.columns.iter().filter(|c| c.pk > 0).collect();
            k.sort_by_key(|c| c.pk);
            k
        };
        let mut lines = Vec::new();
        for c in &self.columns {
            let mut line = quote(&c.name);
            if !c.decl.is_empty() {
                line.push(' ');
                line.push_str(&c.decl);
            }
            if c.not_null {
                line.push_str(" NOT NULL");
            }
            if let Some(d) = &c.default {
                line.push_str(" DEFAULT ");
                line.push_str(&default_expr(d));
            }
            if keys.len() == 1 && c.pk > 0 {
                line.push_str(" PRIMARY KEY");
                if self.autoincrement {
                    line.push_str(" AUTOINCREMENT");
                }
            }
            lines.push(line);
        }
        if keys.len() > 1 {
            let names: Vec<&str> = keys.iter().map(|c| c.name.as_str()).collect();
            lines.push(format!("PRIMARY KEY ({})", quoted_list(&names)));
        }
        for (_, cols) in &self.uniques {
            let names: Vec<&str> = cols.iter().map(String::as_str).collect();
            lines.push(format!("UNIQUE ({})", quoted_list(&names)));
        }
        for f in &self.foreign_keys {
            let cols: Vec<&str> = f.columns.iter().map(String::as_str).collect();
            let mut line = format!(
                "FOREIGN KEY ({}) REFERENCES {}",
                quoted_list(&cols),
                quote(&f.ref_table)
            );
            if !f.ref_columns.is_empty() {
                let refs: Vec<&str> = f.ref_columns.iter().map(String::as_str).collect();
                line.push_str(&format!(" ({})", quoted_list(&refs)));
            }
            for (what, action) in [("UPDATE", &f.on_update), ("DELETE", &f.on_delete)] {
                if action != "NO ACTION" {
                    line.push_str(&format!(" ON {what} {action}"));
                }
            }
            lines.push(line);
        }
        format!(
            "CREATE TABLE {} (\n    {}\n){}",
            quote(name),
            lines.join(",\n    "),
            if self.without_rowid {
                " WITHOUT ROWID"
            } else {
                ""
            }
        )
    }
}

/// The statements that turn `old` into `new` (same name), keeping every row: the columns
/// both have are copied; indexes on columns `new` lost are not created again.
pub fn statements(old: &SqTable, new: &SqTable) -> Vec<String> {
    let temp = format!("{}__gatehouse_rebuild", old.name);
    let mut out = Vec::new();
    for (view, _) in &old.views {
        out.push(format!("DROP VIEW {}", quote(view)));
    }
    out.push(new.create_sql(&temp));
    let common: Vec<&str> = new
        .columns
        .iter()
        .filter(|c| old.columns.iter().any(|o| o.name == c.name))
        .map(|c| c.name.as_str())
        .collect();
    out.push(format!(
        "INSERT INTO {} ({cols}) SELECT {cols} FROM {}",
        quote(&temp),
        quote(&old.name),
        cols = quoted_list(&common)
    ));
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
    for (_, sql) in &new.views {
        out.push(sql.clone());
    }
    out
}
