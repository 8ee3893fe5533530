//! Row rules, stored: per role, table and action a rule (`gh_role_rules`), and the operator
//! attributes their `$me.<key>` values read (`gh_user_attributes`). The language itself
//! (`RowRule`, `Condition`, `RuleValue`) lives in `catalog::rules`, beneath the engine that
//! turns a bound rule into SQL; `RowRule::validate` (columns, operators and values against
//! the catalog) is in `engine::rules`. Writers here audit; their callers then call
//! `RightsCache::forget_all` so the change holds at the next request on every instance.

use std::collections::BTreeMap;

use diesel::prelude::*;

use crate::audit::{self, Actor};
pub use crate::catalog::rules::{Action, Condition, Me, RowRule, RuleValue, Scope, Scopes};
use crate::catalog::{Catalog, Table};
use crate::db::schema::{gh_role_rules as rr, gh_user_attributes as ua};
use crate::db::{DbConn, write_tx};
use crate::error::AppError;

/// One stored rule of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRule {
    pub table: String,
    pub action: Action,
    pub rule: RowRule,
    /// Only meaningful for `update`: the row may leave the rule.
    pub allow_move_out: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    all: Vec<String>,
    any: Vec<String>,
}

fn to_json(rule: &RowRule) -> String {
    let lines = |c: &[Condition]| c.iter().map(Condition::to_text).collect();
    serde_json::to_string(&Stored {
        all: lines(&rule.all),
        any: lines(&rule.any),
    })
    .unwrap_or_default()
}

/// A stored rule that no longer reads fails closed: a condition on a column no table has.
fn from_json(text: &str) -> RowRule {
    serde_json::from_str::<Stored>(text)
        .ok()
        .and_then(|s| RowRule::parse(&s.all.join("\n"), &s.any.join("\n")).ok())
        .unwrap_or_else(|| RowRule {
            all: vec![Condition {
                column: "(unreadable rule)".into(),
                op: crate::catalog::rules::Op::Eq,
                value: RuleValue::Constant(String::new()),
            }],
            any: Vec::new(),
        })
}

/// Every rule of a role (all tables, all actions), by table then action.
pub fn rules_of_role(conn: &mut DbConn, role: &str) -> QueryResult<Vec<RoleRule>> {
    let rows: Vec<(String, String, String, bool)> = rr::table
        .filter(rr::role.eq(role))
        .select((rr::table_name, rr::action, rr::rule, rr::allow_move_out))
        .order((rr::table_name, rr::action))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(table, action, rule, allow_move_out)| {
            Some(RoleRule {
                table,
                action: Action::parse(&action)?,
                rule: from_json(&rule),
                allow_move_out,
            })
        })
        .collect())
}

/// Set (or with `None` or an empty rule, remove) a role's rule for one table and action,
/// audited as `role.rule_changed`. The administrator role never has rules. The caller
/// validates the rule against the catalog first (`RowRule::validate`).
pub fn set_rule(
    conn: &mut DbConn,
    role: &str,
    table: &str,
    action: Action,
    rule: Option<&RowRule>,
    allow_move_out: bool,
    actor: &Actor,
) -> Result<(), AppError> {
    if role == "admin" {
        return Err(AppError::Invalid(
            "The admin role sees every row: it has no row rules.".into(),
        ));
    }
    let rule = rule.filter(|r| !r.is_empty());
    write_tx(conn, |conn| {
        let key = (role, table, action.name());
        diesel::delete(rr::table.find(key)).execute(conn)?;
        if let Some(rule) = rule {
            diesel::insert_into(rr::table)
                .values((
                    rr::role.eq(role),
                    rr::table_name.eq(table),
                    rr::action.eq(action.name()),
                    rr::rule.eq(to_json(rule)),
                    rr::allow_move_out.eq(allow_move_out && action == Action::Update),
                ))
                .execute(conn)?;
        }
        let (all, any) = rule.map(RowRule::to_text).unwrap_or_default();
        audit::record(
            conn,
            actor,
            "role.rule_changed",
            "gh_roles",
            role,
            &serde_json::json!({
                "table": table, "action": action.name(), "all": all, "any": any,
                "allow_move_out": allow_move_out,
            }),
        )?;
        Ok(())
    })
}

/// An operator's attributes, by key.
pub fn attributes(conn: &mut DbConn, user_id: &str) -> QueryResult<BTreeMap<String, String>> {
    let rows: Vec<(String, String)> = ua::table
        .filter(ua::user_id.eq(user_id))
        .select((ua::key, ua::value))
        .order(ua::key)
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// At most this many attributes per operator.
pub const MAX_ATTRIBUTES: usize = 50;

/// Why an attribute cannot be stored, if it cannot: keys `[a-z][a-z0-9_]{0,39}` (not `id`
/// or `email`, which `$me.` already means), values at most 200 characters without NUL.
pub fn attribute_refusal(key: &str, value: &str) -> Option<String> {
    let mut chars = key.chars();
    let key_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && key.len() <= 40
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !key_ok {
        return Some(format!(
            "'{key}' is not an attribute name: a lower-case letter, then letters, digits or _ (at most 40)."
        ));
    }
    if key == "id" || key == "email" {
        return Some(format!(
            "'{key}' is the operator's own {key} ($me.{key}); choose another name."
        ));
    }
    if value.chars().count() > 200 || value.contains('\0') {
        return Some(format!(
            "The value of {key} is too long (at most 200 characters) or holds a NUL."
        ));
    }
    None
}

/// Replace an operator's attributes with `pairs` (all checked first: nothing is stored
/// when one is refused), audited as `user.attributes_changed`.
pub fn set_attributes(
    conn: &mut DbConn,
    user_id: &str,
    pairs: &[(String, String)],
    actor: &Actor,
) -> Result<(), AppError> {
    if pairs.len() > MAX_ATTRIBUTES {
        return Err(AppError::Invalid(format!(
            "An operator has at most {MAX_ATTRIBUTES} attributes."
        )));
    }
    let mut seen = BTreeMap::new();
    for (key, value) in pairs {
        if let Some(why) = attribute_refusal(key, value) {
            return Err(AppError::Invalid(why));
        }
        if seen.insert(key.clone(), value.clone()).is_some() {
            return Err(AppError::Invalid(format!(
                "The attribute {key} is given twice."
            )));
        }
    }
    write_tx(conn, |conn| {
        diesel::delete(ua::table.filter(ua::user_id.eq(user_id))).execute(conn)?;
        for (key, value) in &seen {
            diesel::insert_into(ua::table)
                .values((
                    ua::user_id.eq(user_id),
                    ua::key.eq(key),
                    ua::value.eq(value),
                ))
                .execute(conn)?;
        }
        audit::record(
            conn,
            actor,
            "user.attributes_changed",
            "gh_users",
            user_id,
            &serde_json::json!({ "attributes": seen }),
        )?;
        Ok(())
    })
}

/// A table renamed by the schema builder keeps its rules in every role.
pub fn rename_table_rules(conn: &mut DbConn, old: &str, new: &str) -> QueryResult<usize> {
    diesel::update(rr::table.filter(rr::table_name.eq(old)))
        .set(rr::table_name.eq(new))
        .execute(conn)
}

/// A dropped table takes its rules with it.
pub fn forget_table_rules(conn: &mut DbConn, table: &str) -> QueryResult<usize> {
    diesel::delete(rr::table.filter(rr::table_name.eq(table))).execute(conn)
}

/// A column renamed by the schema builder is renamed in the rules that name it. (A dropped
/// column is left in them: the rule then fails closed and administrators see a notice.)
pub fn rename_rule_column(conn: &mut DbConn, table: &str, old: &str, new: &str) -> QueryResult<()> {
    let rows: Vec<(String, String, String)> = rr::table
        .filter(rr::table_name.eq(table))
        .select((rr::role, rr::action, rr::rule))
        .load(conn)?;
    for (role, action, text) in rows {
        let mut rule = from_json(&text);
        if !rule.conditions().any(|c| c.column == old) {
            continue;
        }
        for c in rule.all.iter_mut().chain(rule.any.iter_mut()) {
            if c.column == old {
                c.column = new.to_string();
            }
        }
        diesel::update(rr::table.find((&role, table, &action)))
            .set(rr::rule.eq(to_json(&rule)))
            .execute(conn)?;
    }
    Ok(())
}

/// Rules that fail closed because they name a column their table no longer has: one
/// sentence each, for administrators (the roles page, the dashboard).
pub fn broken_rules(conn: &mut DbConn, catalog: &Catalog) -> QueryResult<Vec<String>> {
    let rows: Vec<(String, String, String, String)> = rr::table
        .select((rr::role, rr::table_name, rr::action, rr::rule))
        .order((rr::role, rr::table_name, rr::action))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(role, table, action, text)| {
            let t: &Table = catalog.tables.get(&table)?;
            let missing = from_json(&text).missing_columns(t);
            (!missing.is_empty()).then(|| {
                format!(
                    "The {action} rule of role {role} on {table} names {}, which the table no longer has: the role sees no rows there until the rule is fixed.",
                    missing.join(", ")
                )
            })
        })
        .collect())
}
