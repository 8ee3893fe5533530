//! Row rules in SQL: a rule checked against the catalog (`RowRule::validate`), and a rule
//! bound for an operator (`catalog::rules::Scope`) written as one condition that the row
//! store ANDs into the WHERE of every statement it builds for the table. The one
//! enforcement mechanism: a path that reads or writes rows through the engine with the
//! role's view of the catalog gets it.

use crate::catalog::rules::{Action, Bound, Condition, Op, RowRule, RuleValue, Scope};
use crate::catalog::{RowKey, Table};
use crate::engine::query::{Filter, filter_condition};
use crate::engine::sql::Sql;

impl RowRule {
    /// Every condition names a column of `table` and an operator, and every constant
    /// parses for the column's kind (as a list filter's value would).
    pub fn validate(&self, table: &Table) -> Result<(), String> {
        for c in self.conditions() {
            let col = table
                .column(&c.column)
                .ok_or_else(|| format!("{} has no column '{}'.", table.name, c.column))?;
            let raw = match &c.value {
                RuleValue::Constant(v) => v.clone(),
                RuleValue::MeAttr(key) if key.is_empty() => {
                    return Err(format!("{}: $me. needs an attribute name.", c.to_text()));
                }
                // The operator's values are checked when bound; a value that does not
                // parse for the column then lets no row through.
                _ => continue,
            };
            if raw.is_empty() && !matches!(c.op, Op::Eq | Op::Ne) {
                return Err(format!("{} has no value.", c.to_text()));
            }
            filter_condition(
                &mut Sql::new(crate::db::Backend::Sqlite),
                &filter(c, raw),
                col,
            )
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

fn filter(c: &Condition, raw: String) -> Filter {
    Filter {
        column: c.column.clone(),
        op: c.op,
        raw,
    }
}

/// One bound condition, or `1 = 0` when its value does not parse for the column (an
/// attribute `abc` against a number column): false, never an error, never every row.
fn push_bound(sql: &mut Sql, b: &Bound) {
    let mut attempt = Sql::new(sql.backend());
    let f = filter(&b.condition, b.raw.clone());
    if filter_condition(&mut attempt, &f, &b.column).is_ok() {
        let _ = filter_condition(sql, &f, &b.column);
    } else {
        sql.push("1 = 0");
    }
}

/// The scope as one parenthesised condition.
pub fn push_scope(sql: &mut Sql, scope: &Scope) {
    match scope {
        Scope::Closed(_) => {
            sql.push("1 = 0");
        }
        Scope::Open { all, any } => {
            sql.push("(");
            let mut first = true;
            for b in all {
                if !first {
                    sql.push(" AND ");
                }
                first = false;
                push_bound(sql, b);
            }
            if !any.is_empty() {
                if !first {
                    sql.push(" AND ");
                }
                first = false;
                sql.push("(");
                for (i, b) in any.iter().enumerate() {
                    if i > 0 {
                        sql.push(" OR ");
                    }
                    push_bound(sql, b);
                }
                sql.push(")");
            }
            if first {
                sql.push("1 = 1");
            }
            sql.push(")");
        }
    }
}

/// ` WHERE <rule>` (or ` AND <rule>` after another condition, `has_where`) for `action` on
/// `table`; nothing when the operator has no rule there. Whether a WHERE is now open.
pub fn push_rule(sql: &mut Sql, table: &Table, action: Action, has_where: bool) -> bool {
    match table.scope(action) {
        Some(scope) => {
            sql.push(if has_where { " AND " } else { " WHERE " });
            push_scope(sql, scope);
            true
        }
        None => has_where,
    }
}

/// ` FROM <table>`, or, when the operator has a rule for one of `actions` there,
/// ` FROM (SELECT * FROM <table> WHERE <rules>) AS <table>`: every statement that reads rows
/// through it sees only the rows the rules let through, whatever else it adds (filters,
/// keys, counts, groups, locks). Both planners flatten such a subquery into the outer one.
pub fn push_from(sql: &mut Sql, table: &Table, actions: &[Action]) {
    sql.push(" FROM ");
    let scopes: Vec<&Scope> = actions.iter().filter_map(|a| table.scope(*a)).collect();
    if scopes.is_empty() {
        sql.ident(&table.name);
        return;
    }
    sql.push("(SELECT ");
    if table.key == RowKey::RowId {
        sql.push("rowid AS rowid, ");
    }
    sql.push("* FROM ").ident(&table.name).push(" WHERE ");
    for (i, scope) in scopes.into_iter().enumerate() {
        if i > 0 {
            sql.push(" AND ");
        }
        push_scope(sql, scope);
    }
    sql.push(") AS ").ident(&table.name);
}

/// The conditions of `action`'s rule that a row (its values bound as `(column, value)`
/// pairs in a `SELECT … WHERE`) fails, named for a refusal: see `store::write`.
pub fn bound_conditions(table: &Table, action: Action) -> Vec<Bound> {
    match table.scope(action) {
        Some(Scope::Open { all, .. }) => all.clone(),
        _ => Vec::new(),
    }
}

/// Whether the table has a rule for `action` for this operator.
pub fn ruled(table: &Table, action: Action) -> bool {
    table.scope(action).is_some()
}

/// Push one bound condition (for naming a failing one).
pub fn push_condition(sql: &mut Sql, b: &Bound) {
    push_bound(sql, b);
}

/// The operator's read rule on `table` as text with its values (empty without one): part
/// of the key of anything cached per role from the table's rows.
pub fn scope_key(table: &Table) -> String {
    match table.scope(Action::Read) {
        Some(scope) => {
            let mut sql = Sql::new(crate::db::Backend::Sqlite);
            push_scope(&mut sql, scope);
            sql.cache_key()
        }
        None => String::new(),
    }
}
