//! The alterations with the most cases: adding a column (SQLite's ADD COLUMN limits),
//! dropping a column (refused while referenced; indexes go with it), dropping an index
//! (a Postgres UNIQUE constraint, an SQLite UNIQUE declared with the table).

use super::{Draft, Refusable, alter, column, draft, rebuilt};
use crate::catalog::{Catalog, Table};
use crate::db::{Backend, DbConn};
use crate::engine::ddl::create::{column_sql, has_rows, index_sql};
use crate::engine::ddl::{ColumnSpec, IndexSpec, ident, impact};
use crate::engine::sql::quote;

pub(super) fn add_column(
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
            &IndexSpec {
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
        let mut d = refuse_on!(rebuilt(conn, table, summary, |sq| sq.add_column(&sql))?);
        d.statements.extend(unique);
        return Ok(Ok(d));
    }
    let mut statements = vec![format!("{} ADD COLUMN {sql}", alter(table))];
    statements.extend(unique);
    Ok(Ok(draft(summary, statements)))
}

pub(super) fn drop_column(
    conn: &mut DbConn,
    backend: Backend,
    table: &Table,
    name: &str,
) -> Refusable<Draft> {
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
        refuse_on!(rebuilt(conn, table, summary, |sq| sq.drop_column(name))?)
    };
    if !gone.is_empty() {
        d.notes.push(format!(
            "Indexes dropped with the column: {}.",
            gone.join(", ")
        ));
    }
    d.confirm_name = Some(name.to_string());
    d.renamed = Some(crate::engine::ddl::Renamed::ColumnDropped {
        table: t.clone(),
        column: name.to_string(),
    });
    Ok(Ok(d))
}

pub(super) fn drop_index(
    conn: &mut DbConn,
    backend: Backend,
    table: &Table,
    name: &str,
) -> Refusable<Draft> {
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
        let sql = if impact::is_constraint(conn, t, name)? {
            format!("{} DROP CONSTRAINT {}", alter(table), quote(name))
        } else {
            format!("DROP INDEX {}", quote(name))
        };
        return Ok(Ok(draft(summary, vec![sql])));
    }
    if name.starts_with("sqlite_autoindex_") {
        return rebuilt(conn, table, summary, |sq| sq.drop_unique(name));
    }
    Ok(Ok(draft(
        summary,
        vec![format!("DROP INDEX {}", quote(name))],
    )))
}
