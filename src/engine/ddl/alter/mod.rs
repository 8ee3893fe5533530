//! Changes to an existing table, per backend. Postgres alters in place (its DDL is
//! transactional); SQLite does what `ALTER TABLE` can there (add and rename columns,
//! rename the table, indexes) and rebuilds the table for the rest (defaults, NOT NULL,
//! dropping a column or a UNIQUE constraint, adding a foreign key).

use super::create::{index_name, index_sql, quoted_list};
use super::rebuild::{self, SqTable};
use super::types::default_sql;
use super::{Change, Plan, Renamed, backend_of, ident, impact};
use crate::catalog::{Catalog, Column, RowKey, Table};
use crate::db::{Backend, DbConn};
use crate::engine::sql::quote;
use crate::error::AppError;

type Refusable<T> = Result<Result<T, String>, AppError>;

macro_rules! refuse_on {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(message) => return Ok(Err(message)),
        }
    };
}

mod columns;
use columns::{add_column, drop_column, drop_index};

/// What a change is, before its plan is complete.
struct Draft {
    summary: String,
    statements: Vec<String>,
    rebuild: Option<Vec<String>>,
    notes: Vec<String>,
    confirm_name: Option<String>,
    renamed: Option<Renamed>,
}

fn draft(summary: String, statements: Vec<String>) -> Draft {
    Draft {
        summary,
        statements,
        rebuild: None,
        notes: Vec::new(),
        confirm_name: None,
        renamed: None,
    }
}

pub fn plan(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    change: &Change,
) -> Refusable<Plan> {
    let backend = backend_of(conn);
    let d = refuse_on!(draft_of(conn, backend, catalog, table, change)?);
    let mut impact = impact::of_table(conn, table)?;
    impact.notes = d.notes;
    Ok(Ok(Plan {
        backend,
        table: table.name.clone(),
        summary: d.summary,
        statements: d.statements,
        rebuild: d.rebuild,
        impact,
        confirm_name: d.confirm_name,
        renamed: d.renamed,
    }))
}

fn column<'t>(table: &'t Table, name: &str) -> Result<&'t Column, String> {
    table
        .column(name)
        .ok_or_else(|| format!("{} has no column named \"{name}\".", table.name))
}

fn alter(table: &Table) -> String {
    format!("ALTER TABLE {}", quote(&table.name))
}

fn draft_of(
    conn: &mut DbConn,
    backend: Backend,
    catalog: &Catalog,
    table: &Table,
    change: &Change,
) -> Refusable<Draft> {
    let t = &table.name;
    let pg = backend == Backend::Postgres;
    Ok(Ok(match change {
        Change::CreateTable(_) => {
            return Err(AppError::internal("create planned as an alteration"));
        }
        Change::AddColumn(spec) => return add_column(conn, backend, catalog, table, spec),
        Change::RenameColumn { from, to } => {
            refuse_on!(column(table, from));
            refuse_on!(ident::check(to, "column"));
            if table.column(to).is_some() {
                return Ok(Err(format!("{t} has a column named \"{to}\" already.")));
            }
            let mut d = draft(
                format!("rename column {from} of {t} to {to}"),
                vec![format!(
                    "{} RENAME COLUMN {} TO {}",
                    alter(table),
                    quote(from),
                    quote(to)
                )],
            );
            d.renamed = Some(Renamed::Column {
                table: t.clone(),
                from: from.clone(),
                to: to.clone(),
            });
            d
        }
        Change::SetDefault {
            column: name,
            default,
        } => {
            let c = refuse_on!(column(table, name));
            if c.generated {
                return Ok(Err(format!(
                    "The database fills {name} itself: it takes no default."
                )));
            }
            let expr = match default.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
                Some(raw) => Some(refuse_on!(default_sql(c, raw, backend))),
                None => None,
            };
            let summary = match &expr {
                Some(e) => format!("set the default of {t}.{name} to {e}"),
                None => format!("remove the default of {t}.{name}"),
            };
            if pg {
                let action = match &expr {
                    Some(e) => format!("SET DEFAULT {e}"),
                    None => "DROP DEFAULT".into(),
                };
                draft(
                    summary,
                    vec![format!(
                        "{} ALTER COLUMN {} {action}",
                        alter(table),
                        quote(name)
                    )],
                )
            } else {
                refuse_on!(rebuilt(conn, table, summary, |sq| {
                    sq.set_default(name, expr.clone())
                })?)
            }
        }
        Change::SetNotNull {
            column: name,
            not_null,
        } => {
            let c = refuse_on!(column(table, name));
            if *not_null {
                let n = impact::nulls(conn, t, name)?;
                if n > 0 {
                    return Ok(Err(format!(
                        "{n} rows of {t} have no value (NULL) in {name}: give them one first, then make it NOT NULL."
                    )));
                }
            } else if c.primary_key {
                return Ok(Err(format!(
                    "{name} is part of the primary key: it cannot hold NULL."
                )));
            }
            let summary = format!(
                "make {t}.{name} {}",
                if *not_null { "NOT NULL" } else { "nullable" }
            );
            if pg {
                let action = if *not_null {
                    "SET NOT NULL"
                } else {
                    "DROP NOT NULL"
                };
                draft(
                    summary,
                    vec![format!(
                        "{} ALTER COLUMN {} {action}",
                        alter(table),
                        quote(name)
                    )],
                )
            } else {
                refuse_on!(rebuilt(conn, table, summary, |sq| {
                    sq.set_not_null(name, *not_null)
                })?)
            }
        }
        Change::DropColumn { column: name } => return drop_column(conn, backend, table, name),
        Change::AddIndex(spec) => {
            let sql = refuse_on!(index_sql(t, spec, |c| table.column(c).is_some()));
            let name = index_name(t, &spec.columns, if spec.unique { "key" } else { "idx" });
            if table.indexes.iter().any(|i| i.name == name) {
                return Ok(Err(format!("{t} has an index named {name} already.")));
            }
            draft(
                format!(
                    "add {}index {name} to {t}",
                    if spec.unique { "unique " } else { "" }
                ),
                vec![sql],
            )
        }
        Change::DropIndex { name } => return drop_index(conn, backend, table, name),
        Change::AddForeignKey {
            columns,
            ref_table,
            on_delete,
        } => {
            for c in columns {
                refuse_on!(column(table, c));
            }
            let target = refuse_on!(
                catalog
                    .tables
                    .get(ref_table)
                    .filter(|r| !r.is_view)
                    .ok_or_else(|| format!("There is no table named \"{ref_table}\" to refer to."))
            );
            let RowKey::Primary(key) = &target.key else {
                return Ok(Err(format!("{ref_table} has no primary key to refer to.")));
            };
            if key.len() != columns.len() || columns.is_empty() {
                return Ok(Err(format!(
                    "The key of {ref_table} has {} column(s) ({}): choose as many columns, in that order.",
                    key.len(),
                    key.join(", ")
                )));
            }
            let name = index_name(t, columns, "fkey");
            let cols: Vec<&str> = columns.iter().map(String::as_str).collect();
            let refs: Vec<&str> = key.iter().map(String::as_str).collect();
            let summary = format!(
                "add a foreign key from {t} ({}) to {ref_table}",
                columns.join(", ")
            );
            let constraint = format!(
                "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {}",
                quote(&name),
                quoted_list(&cols),
                quote(ref_table),
                quoted_list(&refs),
                on_delete.sql()
            );
            if pg {
                draft(summary, vec![format!("{} ADD {constraint}", alter(table))])
            } else {
                refuse_on!(rebuilt(conn, table, summary, |sq| {
                    sq.add_constraint(&constraint)
                })?)
            }
        }
        Change::RenameTable { to } => {
            refuse_on!(ident::check(to, "table"));
            if catalog.tables.contains_key(to) {
                return Ok(Err(format!(
                    "A table or view named \"{to}\" exists already."
                )));
            }
            let mut d = draft(
                format!("rename table {t} to {to}"),
                vec![format!("{} RENAME TO {}", alter(table), quote(to))],
            );
            d.renamed = Some(Renamed::Table {
                from: t.clone(),
                to: to.clone(),
            });
            d.notes
                .push("Role rights on the table follow it to its new name.".into());
            d
        }
        Change::DropTable => {
            let referrers = impact::referrers(table);
            if !referrers.is_empty() {
                return Ok(Err(format!(
                    "Other tables refer to {t}: {}. Drop or change those foreign keys first.",
                    referrers.join("; ")
                )));
            }
            let views = impact::views(conn, t)?;
            if !views.is_empty() {
                return Ok(Err(format!(
                    "Views use {t}: {}. Drop them first.",
                    views.join(", ")
                )));
            }
            let mut d = draft(
                format!("drop table {t} and all its rows"),
                vec![format!("DROP TABLE {}", quote(t))],
            );
            d.confirm_name = Some(t.clone());
            d.renamed = Some(Renamed::TableDropped { table: t.clone() });
            d
        }
    }))
}

/// An SQLite rebuild of `table` changed by `change`, checked by `foreign_key_check` on the
/// table and the tables that refer to it.
fn rebuilt(
    conn: &mut DbConn,
    table: &Table,
    summary: String,
    change: impl FnOnce(&mut SqTable) -> Result<(), String>,
) -> Refusable<Draft> {
    let old = refuse_on!(rebuild::read(conn, &table.name)?);
    let mut new = old.clone();
    refuse_on!(change(&mut new));
    let mut check = vec![table.name.clone()];
    for r in &table.referrers {
        if !check.contains(&r.table) {
            check.push(r.table.clone());
        }
    }
    let mut d = draft(summary, rebuild::statements(&old, &new));
    d.rebuild = Some(check);
    d.notes.push(
        "SQLite cannot make this change in place: the table is rebuilt from its own definition with this change (a new table, the rows copied, the old one dropped, the new one renamed; its indexes and triggers, other tables' triggers that name it and the views that use it created again), in one transaction."
            .into(),
    );
    Ok(Ok(d))
}
