//! Changes to an existing table, per backend. Postgres alters in place (its DDL is
//! transactional); SQLite does what `ALTER TABLE` can there (add and rename columns,
//! rename the table, indexes) and rebuilds the table for the rest (defaults, NOT NULL,
//! dropping a column or a UNIQUE constraint, adding a foreign key).

use super::create::{column_sql, has_rows, index_name, index_sql, quoted_list};
use super::rebuild::{self, SqColumn, SqForeignKey, SqTable};
use super::types::default_sql;
use super::{Change, ColumnSpec, Plan, Renamed, backend_of, ident, impact};
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
                    with_column(sq, name, |c| c.default = expr.clone())
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
                    with_column(sq, name, |c| c.not_null = *not_null)
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
            if pg {
                draft(
                    summary,
                    vec![format!(
                        "{} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {}",
                        alter(table),
                        quote(&name),
                        quoted_list(&cols),
                        quote(ref_table),
                        quoted_list(&refs),
                        on_delete.sql()
                    )],
                )
            } else {
                refuse_on!(rebuilt(conn, table, summary, |sq| {
                    sq.foreign_keys.push(SqForeignKey {
                        columns: columns.clone(),
                        ref_table: ref_table.clone(),
                        ref_columns: key.clone(),
                        on_update: "NO ACTION".into(),
                        on_delete: on_delete.sql().into(),
                    });
                    Ok(())
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
            d
        }
    }))
}

fn add_column(
    conn: &mut DbConn,
    backend: Backend,
    catalog: &Catalog,
    table: &Table,
    spec: &ColumnSpec,
) -> Refusable<Draft> {
    let t = &table.name;
    refuse_on!(ident::check(&spec.name, "column"));
    if table.column(&spec.name).is_some() {
        return Ok(Err(format!(
            "{t} has a column named \"{}\" already.",
            spec.name
        )));
    }
    if spec.primary_key {
        return Ok(Err(
            "A column added to an existing table cannot join its primary key.".into(),
        ));
    }
    let no_default = spec.default.as_deref().is_none_or(|d| d.trim().is_empty());
    if spec.not_null && no_default && has_rows(conn, t)? {
        return Ok(Err(format!(
            "{t} has {} rows, and a NOT NULL column needs a value in each of them: give the column a default, or add it without NOT NULL, fill it, then make it NOT NULL.",
            impact::rows(conn, t)?
        )));
    }
    let summary = format!("add column {} to {t}", spec.name);
    if backend == Backend::Postgres {
        let sql = refuse_on!(column_sql(backend, catalog, spec, false));
        return Ok(Ok(draft(
            summary,
            vec![format!("{} ADD COLUMN {sql}", alter(table))],
        )));
    }
    // SQLite's ADD COLUMN takes neither UNIQUE (an index is made instead), nor NOT NULL
    // without a default, nor a reference with a default: those rebuild the table.
    let plain = ColumnSpec {
        unique: false,
        ..spec.clone()
    };
    let sql = refuse_on!(column_sql(backend, catalog, &plain, false));
    let unique = spec.unique.then(|| {
        index_sql(
            t,
            &super::IndexSpec {
                columns: vec![spec.name.clone()],
                unique: true,
            },
            |_| true,
        )
    });
    let unique = match unique {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => return Ok(Err(e)),
        None => None,
    };
    if (spec.not_null && no_default) || (spec.references.is_some() && !no_default) {
        let default = match spec.default.as_deref().filter(|_| !no_default) {
            Some(raw) => Some(refuse_on!(default_sql(
                &spec.ty.as_column(backend),
                raw,
                backend
            ))),
            None => None,
        };
        let key = spec
            .references
            .as_ref()
            .and_then(|(r, _)| catalog.tables.get(r))
            .map(|r| r.key_columns());
        let mut d = refuse_on!(rebuilt(conn, table, summary, |sq| {
            sq.columns.push(SqColumn {
                name: spec.name.clone(),
                decl: spec.ty.sql(backend),
                not_null: spec.not_null,
                default: default.clone(),
                pk: 0,
            });
            if let Some((r, on_delete)) = &spec.references {
                sq.foreign_keys.push(SqForeignKey {
                    columns: vec![spec.name.clone()],
                    ref_table: r.clone(),
                    ref_columns: key.clone().unwrap_or_default(),
                    on_update: "NO ACTION".into(),
                    on_delete: on_delete.sql().into(),
                });
            }
            Ok(())
        })?);
        d.statements.extend(unique);
        return Ok(Ok(d));
    }
    let mut statements = vec![format!("{} ADD COLUMN {sql}", alter(table))];
    statements.extend(unique);
    Ok(Ok(draft(summary, statements)))
}

fn drop_column(conn: &mut DbConn, backend: Backend, table: &Table, name: &str) -> Refusable<Draft> {
    let t = &table.name;
    let c = refuse_on!(column(table, name));
    if c.primary_key {
        return Ok(Err(format!(
            "{name} is part of the primary key of {t}: it cannot be dropped."
        )));
    }
    if table.columns.len() == 1 {
        return Ok(Err(format!(
            "{name} is the only column of {t}: drop the table instead."
        )));
    }
    let referrers: Vec<String> = table
        .referrers
        .iter()
        .filter(|r| r.ref_columns.iter().any(|c| c == name))
        .map(|r| format!("{} ({})", r.table, r.columns.join(", ")))
        .collect();
    if !referrers.is_empty() {
        return Ok(Err(format!(
            "Other tables refer to {t}.{name}: {}. Drop or change those foreign keys first.",
            referrers.join("; ")
        )));
    }
    let summary = format!("drop column {name} of {t} and its values");
    let gone: Vec<String> = table
        .indexes
        .iter()
        .filter(|i| i.columns.iter().any(|c| c == name))
        .map(|i| i.name.clone())
        .collect();
    let mut d = if backend == Backend::Postgres {
        draft(
            summary,
            vec![format!("{} DROP COLUMN {}", alter(table), quote(name))],
        )
    } else {
        refuse_on!(rebuilt(conn, table, summary, |sq| {
            sq.columns.retain(|c| c.name != name);
            sq.uniques
                .retain(|(_, cols)| !cols.iter().any(|c| c == name));
            sq.indexes
                .retain(|(_, cols, _)| !cols.iter().any(|c| c == name));
            sq.foreign_keys
                .retain(|f| !f.columns.iter().any(|c| c == name));
            Ok(())
        })?)
    };
    if !gone.is_empty() {
        d.notes.push(format!(
            "Indexes dropped with the column: {}.",
            gone.join(", ")
        ));
    }
    d.confirm_name = Some(name.to_string());
    Ok(Ok(d))
}

fn drop_index(conn: &mut DbConn, backend: Backend, table: &Table, name: &str) -> Refusable<Draft> {
    let t = &table.name;
    let Some(index) = table.indexes.iter().find(|i| i.name == name) else {
        return Ok(Err(format!("{t} has no index named \"{name}\".")));
    };
    let keys = table.key_columns();
    if index.unique && index.columns == keys {
        return Ok(Err(format!("{name} is the primary key's index: it stays.")));
    }
    let summary = format!("drop index {name} of {t}");
    if backend == Backend::Postgres {
        let sql = if super::impact::is_constraint(conn, t, name)? {
            format!("{} DROP CONSTRAINT {}", alter(table), quote(name))
        } else {
            format!("DROP INDEX {}", quote(name))
        };
        return Ok(Ok(draft(summary, vec![sql])));
    }
    if name.starts_with("sqlite_autoindex_") {
        return rebuilt(conn, table, summary, |sq| {
            sq.uniques.retain(|(n, _)| n != name);
            Ok(())
        });
    }
    Ok(Ok(draft(
        summary,
        vec![format!("DROP INDEX {}", quote(name))],
    )))
}

fn with_column(sq: &mut SqTable, name: &str, f: impl FnOnce(&mut SqColumn)) -> Result<(), String> {
    match sq.columns.iter_mut().find(|c| c.name == name) {
        Some(c) => {
            f(c);
            Ok(())
        }
        None => Err(format!("{} has no column named \"{name}\".", sq.name)),
    }
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
        "SQLite cannot make this change in place: the table is rebuilt (a new table, the rows copied, the old one dropped, the new one renamed, indexes, triggers and views created again), in one transaction."
            .into(),
    );
    Ok(Ok(d))
}
