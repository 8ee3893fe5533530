//! Queries for two-factor sign-in: the operator's TOTP secret (pending while enrolling,
//! then active), the last time step used, and the hashed single-use recovery codes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{gh_recovery_codes as rc, gh_users};
use crate::db::{DbConn, new_id};
use crate::identity::sessions;

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

/// An administrator's reset: two-factor off and passkeys removed (the operator enrols
/// again at the next sign-in if their role requires it) and every session ended.
pub fn reset_two_factor(conn: &mut DbConn, id: &str) -> QueryResult<()> {
    disable_totp(conn, id)?;
    crate::identity::passkeys::delete_all(conn, id)?;
    sessions::delete_user_sessions(conn, id)?;
    Ok(())
}

pub fn disable_totp(conn: &mut DbConn, id: &str) -> QueryResult<()> {
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
    rc::table
        .filter(rc::user_id.eq(id))
        .filter(rc::used_at.is_null())
        .count()
        .get_result(conn)
}
