//! Queries for roles: the built-in and custom roles, their rights per table (actions and
//! hidden columns), and how many operators hold each.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{gh_role_tables as rt, gh_roles, gh_sso_roles, gh_users};
use crate::db::{DbConn, write_tx};

/// A role's rights on one table: (table, actions such as `rcu`, hidden columns).
pub type TableRight = (String, String, Vec<String>);

/// A role as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = gh_roles)]
pub struct RoleRecord {
    pub name: String,
    pub description: String,
    pub builtin: bool,
    pub default_actions: String,
    pub admin_areas: bool,
    pub require_2fa: bool,
    pub created_at: NaiveDateTime,
    /// May create, alter and drop tables (the schema builder).
    pub change_schema: bool,
    /// May share saved views with roles (administrators always may).
    pub share_views: bool,
    /// May use the SQL console (which reads the whole database).
    pub run_sql: bool,
    /// May use the SQL console's write mode.
    pub write_sql: bool,
    /// The second factor must be a passkey (phishing-resistant), not a TOTP code.
    pub require_passkey: bool,
}

pub fn find_role(conn: &mut DbConn, name: &str) -> QueryResult<Option<RoleRecord>> {
    gh_roles::table
        .find(name)
        .select(RoleRecord::as_select())
        .first(conn)
        .optional()
}

pub fn roles(conn: &mut DbConn) -> QueryResult<Vec<RoleRecord>> {
    gh_roles::table
        .select(RoleRecord::as_select())
        .order((gh_roles::builtin.desc(), gh_roles::name))
        .load(conn)
}

/// The names of every role, built-in first.
pub fn role_names(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    Ok(roles(conn)?.into_iter().map(|r| r.name).collect())
}

/// Whether the role requires two-factor sign-in (an unknown role does not).
pub fn requires_2fa(conn: &mut DbConn, role: &str) -> QueryResult<bool> {
    Ok(find_role(conn, role)?.is_some_and(|r| r.require_2fa))
}

/// Whether the role requires a passkey as the second factor (an unknown role does not).
pub fn requires_passkey(conn: &mut DbConn, role: &str) -> QueryResult<bool> {
    Ok(find_role(conn, role)?.is_some_and(|r| r.require_passkey))
}

/// Whether the role signs in only through single sign-on (its operators get no password:
/// no reset or invitation link sets one). The option is administered by the SSO pages.
pub fn requires_sso(conn: &mut DbConn, role: &str) -> QueryResult<bool> {
    Ok(gh_sso_roles::table
        .find(role)
        .select(gh_sso_roles::require_sso)
        .first(conn)
        .optional()?
        .unwrap_or(false))
}

/// (table, actions, hidden columns) rows of a role.
pub fn role_tables(conn: &mut DbConn, role: &str) -> QueryResult<Vec<TableRight>> {
    let rows: Vec<(String, String, String)> = rt::table
        .filter(rt::role_name.eq(role))
        .select((rt::table_name, rt::actions, rt::hidden_columns))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(t, a, h)| (t, a, serde_json::from_str(&h).unwrap_or_default()))
        .collect())
}

#[derive(Clone)]
pub struct RoleInput {
    pub name: String,
    pub description: String,
    pub default_actions: String,
    pub admin_areas: bool,
    pub require_2fa: bool,
    pub change_schema: bool,
    pub run_sql: bool,
    pub write_sql: bool,
    pub tables: Vec<TableRight>,
    pub share_views: bool,
    pub require_passkey: bool,
}

/// Create or replace a role and its table rights in one transaction.
pub fn save_role(
    conn: &mut DbConn,
    role: &RoleInput,
    creating: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    write_tx(conn, |conn| {
        if creating {
            diesel::insert_into(gh_roles::table)
                .values((
                    gh_roles::name.eq(&role.name),
                    gh_roles::description.eq(&role.description),
                    gh_roles::builtin.eq(false),
                    gh_roles::default_actions.eq(&role.default_actions),
                    gh_roles::admin_areas.eq(role.admin_areas),
                    gh_roles::require_2fa.eq(role.require_2fa),
                    gh_roles::change_schema.eq(role.change_schema),
                    gh_roles::created_at.eq(now),
                    gh_roles::share_views.eq(role.share_views),
                    gh_roles::run_sql.eq(role.run_sql),
                    gh_roles::write_sql.eq(role.run_sql && role.write_sql),
                    gh_roles::require_passkey.eq(role.require_passkey),
                ))
                .execute(conn)?;
        } else {
            diesel::update(gh_roles::table.find(&role.name))
                .set((
                    gh_roles::description.eq(&role.description),
                    gh_roles::default_actions.eq(&role.default_actions),
                    gh_roles::admin_areas.eq(role.admin_areas),
                    gh_roles::require_2fa.eq(role.require_2fa),
                    gh_roles::change_schema.eq(role.change_schema),
                    gh_roles::share_views.eq(role.share_views),
                    gh_roles::run_sql.eq(role.run_sql),
                    gh_roles::write_sql.eq(role.run_sql && role.write_sql),
                    gh_roles::require_passkey.eq(role.require_passkey),
                ))
                .execute(conn)?;
        }
        diesel::delete(rt::table.filter(rt::role_name.eq(&role.name))).execute(conn)?;
        for (table, actions, hidden) in &role.tables {
            diesel::insert_into(rt::table)
                .values((
                    rt::role_name.eq(&role.name),
                    rt::table_name.eq(table),
                    rt::actions.eq(actions),
                    rt::hidden_columns
                        .eq(serde_json::to_string(hidden).unwrap_or_else(|_| "[]".into())),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Built-in roles may only have their two-factor requirement changed.
pub fn set_role_2fa(conn: &mut DbConn, name: &str, require: bool) -> QueryResult<usize> {
    diesel::update(gh_roles::table.find(name))
        .set(gh_roles::require_2fa.eq(require))
        .execute(conn)
}

/// Built-in roles may also be made to require a passkey.
pub fn set_role_passkey(conn: &mut DbConn, name: &str, require: bool) -> QueryResult<usize> {
    diesel::update(gh_roles::table.find(name))
        .set(gh_roles::require_passkey.eq(require))
        .execute(conn)
}

pub fn delete_role(conn: &mut DbConn, name: &str) -> QueryResult<usize> {
    diesel::delete(
        gh_roles::table
            .find(name)
            .filter(gh_roles::builtin.eq(false)),
    )
    .execute(conn)
}

pub fn users_with_role(conn: &mut DbConn, role: &str) -> QueryResult<i64> {
    gh_users::table
        .filter(gh_users::role.eq(role))
        .count()
        .get_result(conn)
}

/// A table renamed by the schema builder keeps its rights and hidden columns in every role.
pub fn rename_table_rights(conn: &mut DbConn, old: &str, new: &str) -> QueryResult<usize> {
    diesel::update(rt::table.filter(rt::table_name.eq(old)))
        .set(rt::table_name.eq(new))
        .execute(conn)
}

/// A column renamed by the schema builder stays hidden from the roles it was hidden from.
pub fn rename_hidden_column(
    conn: &mut DbConn,
    table: &str,
    old: &str,
    new: &str,
) -> QueryResult<()> {
    let rows: Vec<(String, String)> = rt::table
        .filter(rt::table_name.eq(table))
        .select((rt::role_name, rt::hidden_columns))
        .load(conn)?;
    for (role, hidden) in rows {
        let mut columns: Vec<String> = serde_json::from_str(&hidden).unwrap_or_default();
        if !columns.iter().any(|c| c == old) {
            continue;
        }
        for c in columns.iter_mut().filter(|c| *c == old) {
            *c = new.to_string();
        }
        diesel::update(rt::table.find((&role, table)))
            .set(
                rt::hidden_columns
                    .eq(serde_json::to_string(&columns).unwrap_or_else(|_| "[]".into())),
            )
            .execute(conn)?;
    }
    Ok(())
}
