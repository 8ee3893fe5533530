//! The row-rule editor's preview: how many rows of a table one operator would see under a
//! draft rule, counted by the database with the rule bound for them and written into the
//! WHERE by `rules::push_scope` (identifiers quoted, values bound). Bounded, so a preview on
//! a huge table does not scan it all.

use crate::catalog::Table;
use crate::catalog::rules::Scope;
use crate::db::DbConn;
use crate::engine::rules::push_scope;
use crate::engine::sql::Sql;
use crate::engine::store::{Count, backend_of};
use crate::engine::value::Value;
use crate::error::AppError;

/// Counting stops past this many rows (shown as "100,000+").
pub const PREVIEW_LIMIT: i64 = 100_000;

/// The rows of `table` that `scope` lets through (every row with `None`), up to the limit.
pub fn count_under(
    conn: &mut DbConn,
    table: &Table,
    scope: Option<&Scope>,
) -> Result<Count, AppError> {
    let mut sql = Sql::new(backend_of(conn));
    sql.push("SELECT COUNT(*) FROM (SELECT 1 FROM ")
        .ident(&table.name);
    if let Some(scope) = scope {
        sql.push(" WHERE ");
        push_scope(&mut sql, scope);
    }
    sql.push(&format!(" LIMIT {}) AS bounded", PREVIEW_LIMIT + 1));
    let n = match sql.load(conn)?.first().and_then(|r| r.first()) {
        Some(Value::Int(n)) => *n,
        Some(Value::Text(t)) => t.parse().unwrap_or(0),
        _ => 0,
    };
    Ok(if n > PREVIEW_LIMIT {
        Count::AtLeast(PREVIEW_LIMIT)
    } else {
        Count::Exact(n)
    })
}
