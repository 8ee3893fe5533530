//! Queries for operators. Emails are stored trimmed and lower-cased, and unique.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::gh_users;
use crate::db::{DbConn, new_id};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = gh_users)]
pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub totp_secret: Option<String>,
    pub totp_pending: Option<String>,
    pub totp_last_step: i64,
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("an operator with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A light shape check; the real proof of an address is mail that arrives.
pub fn check_email(email: &str) -> Result<(), String> {
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if valid {
        Ok(())
    } else {
        Err("Enter an email address such as ada@example.com.".into())
    }
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    gh_users::table.count().get_result(conn)
}

pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<User>> {
    gh_users::table
        .filter(gh_users::email.eq(normalize_email(email)))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn insert(
    conn: &mut DbConn,
    new: NewUser<'_>,
    now: NaiveDateTime,
) -> Result<User, CreateUserError> {
    let email = normalize_email(new.email);
    let taken = gh_users::table
        .filter(gh_users::email.eq(&email))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if taken {
        return Err(CreateUserError::EmailTaken);
    }
    let user = User {
        id: new_id(),
        email,
        display_name: new.display_name.trim().to_string(),
        password_hash: new.password_hash.to_string(),
        role: new.role.to_string(),
        disabled: false,
        created_at: now,
        updated_at: now,
        totp_secret: None,
        totp_pending: None,
        totp_last_step: 0,
    };
    let inserted = diesel::insert_into(gh_users::table)
        .values((
            gh_users::id.eq(&user.id),
            gh_users::email.eq(&user.email),
            gh_users::display_name.eq(&user.display_name),
            gh_users::password_hash.eq(&user.password_hash),
            gh_users::role.eq(&user.role),
            gh_users::disabled.eq(user.disabled),
            gh_users::created_at.eq(user.created_at),
            gh_users::updated_at.eq(user.updated_at),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(user),
        // Two creations racing past the check above: the unique index decides.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Err(CreateUserError::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

pub fn set_password(
    conn: &mut DbConn,
    user_id: &str,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(gh_users::table.find(user_id))
        .set((
            gh_users::password_hash.eq(hash),
            gh_users::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Users as the list shows them, filtered by text and status (`active`, `disabled`).
pub fn list(conn: &mut DbConn, q: &str, status: &str) -> QueryResult<Vec<User>> {
    let mut query = gh_users::table.select(User::as_select()).into_boxed();
    let q = q.trim().to_lowercase();
    if !q.is_empty() {
        let pattern = format!("%{}%", crate::db::like_escape(&q));
        query = query.filter(
            gh_users::email
                .like(pattern.clone())
                .escape('\\')
                .or(gh_users::display_name.like(pattern).escape('\\')),
        );
    }
    match status {
        "active" => query = query.filter(gh_users::disabled.eq(false)),
        "disabled" => query = query.filter(gh_users::disabled.eq(true)),
        _ => {}
    }
    query.order(gh_users::email).limit(1000).load(conn)
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<User>> {
    gh_users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Administrators who can still sign in.
pub fn count_active_admins(conn: &mut DbConn) -> QueryResult<i64> {
    gh_users::table
        .filter(gh_users::role.eq("admin"))
        .filter(gh_users::disabled.eq(false))
        .count()
        .get_result(conn)
}

pub fn update_profile(
    conn: &mut DbConn,
    id: &str,
    email: &str,
    name: &str,
    role: &str,
    now: NaiveDateTime,
) -> Result<(), CreateUserError> {
    let email = normalize_email(email);
    let taken = gh_users::table
        .filter(gh_users::email.eq(&email))
        .filter(gh_users::id.ne(id))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if taken {
        return Err(CreateUserError::EmailTaken);
    }
    diesel::update(gh_users::table.find(id))
        .set((
            gh_users::email.eq(&email),
            gh_users::display_name.eq(name.trim()),
            gh_users::role.eq(role),
            gh_users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_disabled(
    conn: &mut DbConn,
    id: &str,
    disabled: bool,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(gh_users::table.find(id))
        .set((
            gh_users::disabled.eq(disabled),
            gh_users::updated_at.eq(now),
        ))
        .execute(conn)
}

pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(gh_users::table.find(id)).execute(conn)
}

/// A role as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::gh_roles)]
pub struct RoleRecord {
    pub name: String,
    pub description: String,
    pub builtin: bool,
    pub default_actions: String,
    pub admin_areas: bool,
    pub require_2fa: bool,
    pub created_at: NaiveDateTime,
}

pub fn find_role(conn: &mut DbConn, name: &str) -> QueryResult<Option<RoleRecord>> {
    use crate::db::schema::gh_roles;
    gh_roles::table
        .find(name)
        .select(RoleRecord::as_select())
        .first(conn)
        .optional()
}

pub fn roles(conn: &mut DbConn) -> QueryResult<Vec<RoleRecord>> {
    use crate::db::schema::gh_roles;
    gh_roles::table
        .select(RoleRecord::as_select())
        .order((gh_roles::builtin.desc(), gh_roles::name))
        .load(conn)
}

/// (table, actions, hidden columns) rows of a role.
pub fn role_tables(
    conn: &mut DbConn,
    role: &str,
) -> QueryResult<Vec<(String, String, Vec<String>)>> {
    use crate::db::schema::gh_role_tables as rt;
    let rows: Vec<(String, String, String)> = rt::table
        .filter(rt::role_name.eq(role))
        .select((rt::table_name, rt::actions, rt::hidden_columns))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(t, a, h)| (t, a, serde_json::from_str(&h).unwrap_or_default()))
        .collect())
}

pub struct RoleInput {
    pub name: String,
    pub description: String,
    pub default_actions: String,
    pub admin_areas: bool,
    pub require_2fa: bool,
    /// table → (actions, hidden columns)
    pub tables: Vec<(String, String, Vec<String>)>,
}

/// Create or replace a role and its table rights in one transaction.
pub fn save_role(
    conn: &mut DbConn,
    role: &RoleInput,
    creating: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    use crate::db::schema::{gh_role_tables as rt, gh_roles};
    crate::db::write_tx(conn, |conn| {
        if creating {
            diesel::insert_into(gh_roles::table)
                .values((
                    gh_roles::name.eq(&role.name),
                    gh_roles::description.eq(&role.description),
                    gh_roles::builtin.eq(false),
                    gh_roles::default_actions.eq(&role.default_actions),
                    gh_roles::admin_areas.eq(role.admin_areas),
                    gh_roles::require_2fa.eq(role.require_2fa),
                    gh_roles::created_at.eq(now),
                ))
                .execute(conn)?;
        } else {
            diesel::update(gh_roles::table.find(&role.name))
                .set((
                    gh_roles::description.eq(&role.description),
                    gh_roles::default_actions.eq(&role.default_actions),
                    gh_roles::admin_areas.eq(role.admin_areas),
                    gh_roles::require_2fa.eq(role.require_2fa),
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
    use crate::db::schema::gh_roles;
    diesel::update(gh_roles::table.find(name))
        .set(gh_roles::require_2fa.eq(require))
        .execute(conn)
}

pub fn delete_role(conn: &mut DbConn, name: &str) -> QueryResult<usize> {
    use crate::db::schema::gh_roles;
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

/// Store a one-time password-reset token (its hash) valid for 24 hours.
pub fn create_reset(
    conn: &mut DbConn,
    token_hash: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    use crate::db::schema::gh_password_resets as r;
    diesel::delete(r::table.filter(r::user_id.eq(user_id))).execute(conn)?;
    diesel::insert_into(r::table)
        .values((
            r::id.eq(token_hash),
            r::user_id.eq(user_id),
            r::created_at.eq(now),
            r::expires_at.eq(now + chrono::Duration::hours(24)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The user a live reset token belongs to.
pub fn reset_user(
    conn: &mut DbConn,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<String>> {
    use crate::db::schema::gh_password_resets as r;
    r::table
        .filter(r::id.eq(token_hash))
        .filter(r::expires_at.gt(now))
        .select(r::user_id)
        .first(conn)
        .optional()
}

/// Use a reset token up: true when this call took it.
pub fn consume_reset(conn: &mut DbConn, token_hash: &str, now: NaiveDateTime) -> QueryResult<bool> {
    use crate::db::schema::gh_password_resets as r;
    let n = diesel::delete(
        r::table
            .filter(r::id.eq(token_hash))
            .filter(r::expires_at.gt(now)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

pub fn set_totp_pending(conn: &mut DbConn, id: &str, secret: &str) -> QueryResult<usize> {
    diesel::update(gh_users::table.find(id))
        .set(gh_users::totp_pending.eq(secret))
        .execute(conn)
}

/// Turn two-factor on with `secret`, replacing any recovery codes with these (hashed).
pub fn enable_totp(
    conn: &mut DbConn,
    id: &str,
    secret: &str,
    step: i64,
    code_hashes: &[String],
) -> QueryResult<()> {
    use crate::db::schema::gh_recovery_codes as rc;
    diesel::update(gh_users::table.find(id))
        .set((
            gh_users::totp_secret.eq(Some(secret)),
            gh_users::totp_pending.eq(None::<String>),
            gh_users::totp_last_step.eq(step),
        ))
        .execute(conn)?;
    diesel::delete(rc::table.filter(rc::user_id.eq(id))).execute(conn)?;
    for hash in code_hashes {
        diesel::insert_into(rc::table)
            .values((
                rc::id.eq(new_id()),
                rc::user_id.eq(id),
                rc::code_hash.eq(hash),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// An administrator's reset: two-factor off (the operator enrols again at the next
/// sign-in if their role requires it) and every session ended.
pub fn reset_two_factor(conn: &mut DbConn, id: &str) -> QueryResult<()> {
    disable_totp(conn, id)?;
    crate::identity::sessions::delete_user_sessions(conn, id)?;
    Ok(())
}

pub fn disable_totp(conn: &mut DbConn, id: &str) -> QueryResult<()> {
    use crate::db::schema::gh_recovery_codes as rc;
    diesel::update(gh_users::table.find(id))
        .set((
            gh_users::totp_secret.eq(None::<String>),
            gh_users::totp_pending.eq(None::<String>),
            gh_users::totp_last_step.eq(0),
        ))
        .execute(conn)?;
    diesel::delete(rc::table.filter(rc::user_id.eq(id))).execute(conn)?;
    Ok(())
}

/// Record that the code of time step `step` was used: true only for the first use of a
/// step later than any used before (a code, even a valid one, works once).
pub fn claim_totp_step(conn: &mut DbConn, id: &str, step: i64) -> QueryResult<bool> {
    let n = diesel::update(
        gh_users::table
            .find(id)
            .filter(gh_users::totp_last_step.lt(step)),
    )
    .set(gh_users::totp_last_step.eq(step))
    .execute(conn)?;
    Ok(n == 1)
}

/// Use up a recovery code: true when it was unused.
pub fn use_recovery_code(
    conn: &mut DbConn,
    id: &str,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    use crate::db::schema::gh_recovery_codes as rc;
    let n = diesel::update(
        rc::table
            .filter(rc::user_id.eq(id))
            .filter(rc::code_hash.eq(hash))
            .filter(rc::used_at.is_null()),
    )
    .set(rc::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn recovery_codes_left(conn: &mut DbConn, id: &str) -> QueryResult<i64> {
    use crate::db::schema::gh_recovery_codes as rc;
    rc::table
        .filter(rc::user_id.eq(id))
        .filter(rc::used_at.is_null())
        .count()
        .get_result(conn)
}
