//! Running a plan: its statements and its `schema.changed` audit entry in one transaction
//! (SQLite's rebuild with foreign keys off around it and `foreign_key_check` inside), role
//! rights, row rules and saved views following a renamed table or column (views also forget a dropped
//! column), then the catalog read again at once.

use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::{Plan, Renamed};
use crate::audit::{self, Actor};
use crate::catalog::{Catalog, CatalogCache};
use crate::db::{DbConn, write_tx};
use crate::engine::saved;
use crate::error::{AppError, DbFault};
use crate::identity::{roles, row_rules};

/// A change that went through, and the catalog read after it.
pub struct Applied {
    pub catalog: Arc<Catalog>,
}

enum Failure {
    Refused(String),
    App(AppError),
}

impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        if let diesel::result::Error::DatabaseError(_, info) = &e
            && DbFault::of(&e).is_none()
        {
            // The database's own words about a schema change (a view in the way, a value
            // a new constraint refuses …) are what the operator needs.
            return Failure::Refused(format!(
                "The database refused the change, and nothing was changed: {}",
                info.message()
            ));
        }
        Failure::App(e.into())
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Run `plan`; `Ok(Err(message))` when the database refused it (nothing changed).
pub fn apply(
    conn: &mut DbConn,
    plan: &Plan,
    actor: &Actor,
    cache: &CatalogCache,
) -> Result<Result<Applied, String>, AppError> {
    if plan.rebuild.is_some() {
        // Outside the transaction: inside one, SQLite ignores this pragma.
        conn.batch_execute("PRAGMA foreign_keys = OFF")?;
    }
    let outcome = write_tx(conn, |conn| run(conn, plan, actor));
    if plan.rebuild.is_some() {
        conn.batch_execute("PRAGMA foreign_keys = ON")?;
    }
    match outcome {
        Ok(()) => Ok(Ok(Applied {
            catalog: cache.reload(conn)?,
        })),
        Err(Failure::Refused(message)) => Ok(Err(message)),
        Err(Failure::App(e)) => Err(e),
    }
}

fn run(conn: &mut DbConn, plan: &Plan, actor: &Actor) -> Result<(), Failure> {
    for statement in &plan.statements {
        diesel::sql_query(statement).execute(conn)?;
    }
    for table in plan.rebuild.iter().flatten() {
        let broken = diesel::sql_query("SELECT COUNT(*) AS n FROM pragma_foreign_key_check(?)")
            .bind::<Text, _>(table)
            .get_result::<Count>(conn)?
            .n;
        if broken > 0 {
            return Err(Failure::Refused(format!(
                "{broken} rows of {table} would refer to rows that do not exist (foreign_key_check): nothing was changed."
            )));
        }
    }
    match &plan.renamed {
        Some(Renamed::Table { from, to }) => {
            roles::rename_table_rights(conn, from, to)?;
            row_rules::rename_table_rules(conn, from, to)?;
            saved::rename_table(conn, from, to)?;
        }
        Some(Renamed::Column { table, from, to }) => {
            roles::rename_hidden_column(conn, table, from, to)?;
            row_rules::rename_rule_column(conn, table, from, to)?;
            saved::rename_column(conn, table, from, Some(to))?;
        }
        Some(Renamed::ColumnDropped { table, column }) => {
            saved::rename_column(conn, table, column, None)?;
        }
        Some(Renamed::TableDropped { table }) => {
            row_rules::forget_table_rules(conn, table)?;
        }
        None => {}
    }
    audit::record(
        conn,
        actor,
        "schema.changed",
        &plan.table,
        "",
        &serde_json::json!({ "change": plan.summary, "sql": plan.script() }),
    )?;
    Ok(())
}
