//! Writes under row rules: a created or updated row must be inside the operator's rule
//! for that action (an update may leave it when the role allows), checked in the write's
//! transaction against the row as stored, and refused by naming the condition it fails.

use std::collections::BTreeMap;

use crate::catalog::Table;
use crate::catalog::rules::{Action, RowRule, Scope};
use crate::db::DbConn;
use crate::engine::errors::WriteError;
use crate::engine::rules::{push_condition, push_scope};
use crate::engine::sql::Sql;
use crate::engine::store::count::load_count;
use crate::engine::store::row::{backend_of, push_key_where};
use crate::engine::value::Value;

/// How many rows at `key` (0 or 1) satisfy `what`, read from the table itself.
fn holds(
    conn: &mut DbConn,
    table: &Table,
    key: &[Value],
    what: impl FnOnce(&mut Sql),
) -> Result<bool, WriteError> {
    let mut sql = Sql::new(backend_of(conn));
    sql.push("SELECT COUNT(*) FROM ").ident(&table.name);
    push_key_where(&mut sql, table, key);
    sql.push(" AND ");
    what(&mut sql);
    Ok(load_count(conn, &sql)? > 0)
}

/// A refusal that cannot name its condition.
const UNNAMED: &str = "the row would be outside the rows your role may work with";

/// Refuse, naming the failing condition, unless the row at `key` (just written in this
/// transaction) is inside the operator's rule for `action`.
pub(super) fn require_inside(
    conn: &mut DbConn,
    table: &Table,
    key: &[Value],
    action: Action,
) -> Result<(), WriteError> {
    let Some(scope) = table.scope(action) else {
        return Ok(());
    };
    if action == Action::Update && table.scopes.as_ref().is_some_and(|s| s.allow_move_out) {
        return Ok(());
    }
    if holds(conn, table, key, |sql| push_scope(sql, scope))? {
        return Ok(());
    }
    // A refusal names a condition only when the operator sees every column it names: a
    // hidden column's name (or the value it must have) is not theirs to learn.
    let visible = |b: &crate::catalog::rules::Bound| table.column(&b.column.name).is_some();
    let (column, reason) = match scope {
        Scope::Closed(_) => (None, UNNAMED.to_string()),
        Scope::Open { all, any } => {
            let mut failed = None;
            for b in all {
                if !holds(conn, table, key, |sql| push_condition(sql, b))? {
                    failed = Some(if visible(b) {
                        (Some(b.column.name.clone()), b.describe())
                    } else {
                        (None, UNNAMED.to_string())
                    });
                    break;
                }
            }
            failed.unwrap_or_else(|| {
                if !any.iter().all(visible) {
                    return (None, UNNAMED.to_string());
                }
                let names: Vec<String> = any.iter().map(|b| b.describe()).collect();
                (
                    None,
                    format!("one of these must hold: {}", names.join("; ")),
                )
            })
        }
    };
    let verb = match action {
        Action::Create => "create",
        _ => "save",
    };
    let message = format!("Your role's row rule does not let you {verb} this row: {reason}.");
    let fields: BTreeMap<String, String> =
        column.map(|c| (c, message.clone())).into_iter().collect();
    Err(WriteError::Invalid(fields, Some(message)))
}

/// Whether a row exists at `key` at all, whatever the rules say (an upsert must not
/// overwrite a row the operator cannot see).
pub(super) fn exists(conn: &mut DbConn, table: &Table, key: &[Value]) -> Result<bool, WriteError> {
    holds(conn, table, key, |sql| {
        sql.push("1 = 1");
    })
}

/// Whether the row at `key` is inside `rule` bound with no operator (a webhook endpoint's
/// role: `$me` conditions are false).
pub(super) fn row_inside(
    conn: &mut DbConn,
    table: &Table,
    key: &[Value],
    rule: &RowRule,
) -> diesel::QueryResult<bool> {
    let scope = rule.bind(table, None);
    let mut sql = Sql::new(backend_of(conn));
    sql.push("SELECT COUNT(*) FROM ").ident(&table.name);
    push_key_where(&mut sql, table, key);
    sql.push(" AND ");
    push_scope(&mut sql, &scope);
    let rows = sql.load(conn)?;
    Ok(matches!(rows.first().and_then(|r| r.first()), Some(Value::Int(n)) if *n > 0))
}
