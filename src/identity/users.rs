//! Queries for operators and their one-time password-reset tokens. Emails are stored
//! trimmed and lower-cased, and unique.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{gh_password_resets as r, gh_users};
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

/// The name other operators see: required, at most 100 characters (`name` is trimmed).
pub fn check_display_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("Enter the name other operators will see.".into())
    } else if name.chars().count() > 100 {
        Err("Use at most 100 characters.".into())
    } else {
        Ok(())
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

/// Whether another operator (any but `except`) has this (normalized) email.
fn email_taken(conn: &mut DbConn, email: &str, except: Option<&str>) -> QueryResult<bool> {
    let mut query = gh_users::table
        .filter(gh_users::email.eq(email))
        .into_boxed();
    if let Some(id) = except {
        query = query.filter(gh_users::id.ne(id));
    }
    Ok(query.count().get_result::<i64>(conn)? > 0)
}

pub fn insert(
    conn: &mut DbConn,
    new: NewUser<'_>,
    now: NaiveDateTime,
) -> Result<User, CreateUserError> {
    let email = normalize_email(new.email);
    if email_taken(conn, &email, None)? {
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

/// The addresses of the administrators who can still sign in (for alerts).
pub fn active_admin_emails(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    gh_users::table
        .filter(gh_users::role.eq("admin"))
        .filter(gh_users::disabled.eq(false))
        .select(gh_users::email)
        .load(conn)
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
    if email_taken(conn, &email, Some(id))? {
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

/// Store a one-time password-reset token (its hash) valid for 24 hours.
pub fn create_reset(
    conn: &mut DbConn,
    token_hash: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
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
    r::table
        .filter(r::id.eq(token_hash))
        .filter(r::expires_at.gt(now))
        .select(r::user_id)
        .first(conn)
        .optional()
}

/// Use a reset token up: true when this call took it.
pub fn consume_reset(conn: &mut DbConn, token_hash: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::delete(
        r::table
            .filter(r::id.eq(token_hash))
            .filter(r::expires_at.gt(now)),
    )
    .execute(conn)?;
    Ok(n == 1)
}
