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
