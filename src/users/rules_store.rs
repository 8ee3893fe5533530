//! The users slice's side of row rules: a custom role's rules on one table as drafts, their
//! saving (one transaction; an audit entry per changed action), the preview's counts per sample operator,
//! rules naming a column that is gone (for the roles page), and operator attributes.

use diesel::prelude::*;

use crate::audit::Actor;
use crate::catalog::Table;
use crate::db::schema::gh_users;
use crate::db::{self, DbConn};
use crate::engine::rule_preview::count_under;
use crate::engine::store::count_label;
use crate::error::AppError;
use crate::identity::roles;
use crate::identity::row_rules::{self, Action, Me, RowRule};
use crate::users::rule_form::{ACTIONS, ParsedRule};
use crate::users::views::{AttributeRow, Preview, PreviewRow, RuleDraft};

/// The preview counts for at most this many operators of the role.
const SAMPLE: i64 = 10;

/// Row rules belong to custom roles: administrators are never limited by them, and the
/// built-in roles' rights are fixed.
pub fn check_role(conn: &mut DbConn, role: &str) -> Result<(), AppError> {
    let found = roles::find_role(conn, role)?.ok_or(AppError::NotFound)?;
    if found.builtin {
        return Err(AppError::Conflict(format!(
            "{role} is a built-in role: its rights are fixed and it has no row rules. Make a custom role for rules."
        )));
    }
    Ok(())
}

/// Why a saved rule can no longer apply to `table` (it then shows no rows).
fn broken(rule: &RowRule, table: &Table) -> Option<String> {
    let missing = rule.missing_columns(table);
    (!missing.is_empty()).then(|| {
        format!(
            "This rule names {}, which {} no longer has: it lets no row through until it is corrected.",
            missing.join(", "),
            table.name
        )
    })
}

/// The role's saved rules on `table`, one draft per action (empty: no rule).
pub fn saved_drafts(
    conn: &mut DbConn,
    role: &str,
    table: &Table,
) -> Result<Vec<RuleDraft>, AppError> {
    let saved = row_rules::rules_of_role(conn, role)?;
    Ok(ACTIONS
        .iter()
        .map(|action| {
            let found = saved
                .iter()
                .find(|r| r.table == table.name && r.action.name() == *action);
            let (all, any) = found.map(|r| r.rule.to_text()).unwrap_or_default();
            RuleDraft {
                action,
                all,
                any,
                allow_move_out: found.is_some_and(|r| r.allow_move_out),
                broken: found.and_then(|r| broken(&r.rule, table)),
                ..RuleDraft::default()
            }
        })
        .collect())
}

/// Save every action's rule of `role` on `table` in one transaction; each action whose
/// rule changed gets its audit entry (`role.rule_changed`, written by `set_rule`).
pub fn save_rules(
    conn: &mut DbConn,
    role: &str,
    table: &str,
    rules: &[ParsedRule],
    actor: &Actor,
) -> Result<(), AppError> {
    db::write_tx(conn, |conn| {
        let saved = row_rules::rules_of_role(conn, role)?;
        for r in rules {
            let action = Action::parse(r.action).ok_or(AppError::NotFound)?;
            let before = saved
                .iter()
                .find(|s| s.table == table && s.action == action)
                .map(|s| (&s.rule, s.allow_move_out));
            let after = r.rule.as_ref().map(|rule| (rule, r.allow_move_out));
            if before != after {
                row_rules::set_rule(
                    conn,
                    role,
                    table,
                    action,
                    r.rule.as_ref(),
                    r.allow_move_out,
                    actor,
                )?;
            }
        }
        Ok(())
    })
}

/// The role's operators the preview counts for: (id, email), by email.
fn sample_operators(conn: &mut DbConn, role: &str) -> QueryResult<Vec<(String, String)>> {
    gh_users::table
        .filter(gh_users::role.eq(role))
        .select((gh_users::id, gh_users::email))
        .order(gh_users::email)
        .limit(SAMPLE)
        .load(conn)
}

/// How many rows of `table` each sample operator of `role` would see under `rule` (every
/// row when there is none): a bounded COUNT made by the database, with the rule bound for
/// that operator (their id, email and attributes) and applied inside the SQL.
pub fn preview(
    conn: &mut DbConn,
    role: &str,
    table: &Table,
    rule: Option<&RowRule>,
) -> Result<Preview, AppError> {
    let mut rows = Vec::new();
    for (id, email) in sample_operators(conn, role)? {
        let attributes = row_rules::attributes(conn, &id)?;
        let me = Me {
            id,
            email: email.clone(),
            attributes,
        };
        let scope = rule.map(|r| r.bind(table, Some(&me)));
        let n = count_under(conn, table, scope.as_ref())?;
        rows.push(PreviewRow {
            email,
            rows: count_label(n),
        });
    }
    Ok(Preview {
        rows,
        error: None,
        asked: true,
    })
}

/// The (table, action) pairs the role has a row rule for, as the rights matrix lists them.
pub fn rule_actions(conn: &mut DbConn, role: &str) -> Result<Vec<(String, String)>, AppError> {
    Ok(row_rules::rules_of_role(conn, role)?
        .into_iter()
        .map(|r| (r.table, r.action.name().to_string()))
        .collect())
}

/// An operator's attributes as the form shows them, with an empty row to add one.
pub fn attribute_rows(conn: &mut DbConn, user_id: &str) -> Result<Vec<AttributeRow>, AppError> {
    let mut rows: Vec<AttributeRow> = row_rules::attributes(conn, user_id)?
        .into_iter()
        .map(|(key, value)| AttributeRow {
            key,
            value,
            error: None,
        })
        .collect();
    rows.push(AttributeRow::default());
    Ok(rows)
}

/// Replace an operator's attributes (already checked; `set_attributes` audits).
pub fn save_attributes(
    conn: &mut DbConn,
    user_id: &str,
    pairs: &[(String, String)],
    actor: &Actor,
) -> Result<(), AppError> {
    let user = crate::identity::users::find(conn, user_id)?.ok_or(AppError::NotFound)?;
    row_rules::set_attributes(conn, &user.id, pairs, actor)
}
