//! The sign-in slice's database work, each piece in the transaction that keeps it honest:
//! a counted sign-in attempt, a new session, the first administrator, the second-factor
//! steps, password changes and one-time reset links.

use crate::audit::{self, Actor};
use crate::db::secrets::{Sealer, sha256_hex};
use crate::db::{self, DbConn, now};
use crate::error::AppError;
use crate::events;
use crate::identity::sessions;
use crate::identity::users::{self, CreateUserError, NewUser, User};
use crate::identity::{roles, throttle, totp as totp_store};
use crate::signin::totp::{code_hash, matching_step, new_secret, recovery_codes, totp};

/// A refusal the operator is told about.
pub type Refusal = String;

pub enum Attempt {
    Locked(throttle::Locked),
    Checked { user: Option<User> },
}

/// Count a sign-in attempt and find its operator. The attempt is counted as a failure
/// before the password is checked (and the count cleared if it succeeds), in the
/// transaction that checks the count: a burst of parallel guesses cannot all slip past
/// the limit.
pub fn attempt(conn: &mut DbConn, email: &str, ip: &str) -> Result<Attempt, AppError> {
    db::write_tx(conn, |conn| {
        if let Some(locked) = throttle::check_and_record(conn, email, ip, now())? {
            return Ok(Attempt::Locked(locked));
        }
        Ok(Attempt::Checked {
            user: users::find_by_email(conn, email)?,
        })
    })
}

/// A full sign-in clears the account's failure count (the session itself is stored by
/// the session middleware, `identity::session_store`).
pub fn signed_in(conn: &mut DbConn, email: &str) -> Result<(), AppError> {
    db::write_tx(conn, |conn| {
        throttle::reset_account(conn, email, now())?;
        Ok(())
    })
}

/// Create the first administrator with the setup token (its hash); `None` when the token
/// was taken or an operator exists. Taking the token and checking for operators in one
/// transaction: of two racing submissions exactly one creates the administrator.
pub fn create_first_admin(
    conn: &mut DbConn,
    token_hash: &str,
    new: NewUser<'_>,
) -> Result<Option<User>, AppError> {
    db::write_tx(conn, |conn| {
        if !sessions::consume_setup_token(conn, token_hash)? || users::count(conn)? > 0 {
            return Ok(None);
        }
        match users::insert(conn, new, now()) {
            Ok(user) => Ok(Some(user)),
            Err(CreateUserError::EmailTaken) => Ok(None),
            Err(CreateUserError::Db(e)) => Err(AppError::from(e)),
        }
    })
}

/// The signed-in operator's record (gone: signed out).
fn record_of(conn: &mut DbConn, user: &str) -> Result<User, AppError> {
    users::find(conn, user)?.ok_or(AppError::Unauthorized)
}

/// The second step of sign-in: a TOTP code (each time step once) or an unused recovery
/// code, counted against the throttle.
pub fn check_code(
    conn: &mut DbConn,
    sealer: &Sealer,
    user: &str,
    email: &str,
    ip: &str,
    typed: &str,
) -> Result<Result<(), Refusal>, AppError> {
    db::write_tx(conn, |conn| {
        if let Some(locked) = throttle::check_and_record(conn, email, ip, now())? {
            return Ok(Err(locked.message()));
        }
        let record = record_of(conn, user)?;
        let sealed = record.totp_secret.ok_or(AppError::Unauthorized)?;
        let secret = sealer.open(&sealed).map_err(AppError::internal)?;
        let ok = match matching_step(&totp(&secret, &record.email)?, typed) {
            Some(step) => totp_store::claim_totp_step(conn, user, step)?,
            None => {
                typed.trim().len() > 6
                    && totp_store::use_recovery_code(conn, user, &code_hash(typed), now())?
            }
        };
        Ok(if ok {
            Ok(())
        } else {
            Err("That code is not right, or was used already.".to_string())
        })
    })
}

/// The secret being enrolled, making one if there is none yet. Secrets are stored sealed,
/// like the integrations' credentials.
pub fn pending_secret(conn: &mut DbConn, sealer: &Sealer, user: &str) -> Result<String, AppError> {
    let record = record_of(conn, user)?;
    match record.totp_pending.map(|p| sealer.open(&p)) {
        Some(Ok(s)) => Ok(s),
        _ => {
            let s = new_secret();
            let sealed = sealer.seal(&s).map_err(AppError::internal)?;
            totp_store::set_totp_pending(conn, user, &sealed)?;
            Ok(s)
        }
    }
}

/// Confirm the pending secret with a first code; returns the recovery codes to show once.
pub fn confirm_two_factor(
    conn: &mut DbConn,
    sealer: &Sealer,
    user: &str,
    email: &str,
    typed: &str,
    actor: &Actor,
) -> Result<Result<Vec<String>, Refusal>, AppError> {
    db::write_tx(conn, |conn| {
        let record = record_of(conn, user)?;
        let Some(sealed) = record.totp_pending else {
            return Ok(Err(
                "Start the enrolment again: no code is being set up.".to_string()
            ));
        };
        let secret = sealer.open(&sealed).map_err(AppError::internal)?;
        let Some(step) = matching_step(&totp(&secret, email)?, typed) else {
            return Ok(Err(
                "That code is not right. Check the time on your phone and try the next code."
                    .to_string(),
            ));
        };
        let codes = recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| code_hash(c)).collect();
        totp_store::enable_totp(conn, user, &sealed, step, &hashes)?;
        audit_self(conn, actor, "user.2fa_enabled", user, serde_json::json!({}))?;
        Ok(Ok(codes))
    })
}

/// Audit a change of the operator `user`'s own account.
fn audit_self(
    conn: &mut DbConn,
    actor: &Actor,
    action: &str,
    user: &str,
    changes: serde_json::Value,
) -> Result<(), AppError> {
    audit::record(conn, actor, action, "gh_users", user, &changes)?;
    Ok(())
}

/// Whether two-factor is on, and how many recovery codes are left.
pub fn two_factor_status(conn: &mut DbConn, user: &str) -> Result<(bool, i64), AppError> {
    let record = record_of(conn, user)?;
    Ok((
        record.totp_secret.is_some(),
        totp_store::recovery_codes_left(conn, user)?,
    ))
}

/// The operator's password hash, and whether their role requires two-factor sign-in.
pub fn password_and_rule(
    conn: &mut DbConn,
    user: &str,
    role: &str,
) -> Result<(String, bool), AppError> {
    let record = record_of(conn, user)?;
    Ok((record.password_hash, roles::requires_2fa(conn, role)?))
}

pub fn disable_two_factor(conn: &mut DbConn, user: &str, actor: &Actor) -> Result<(), AppError> {
    db::write_tx(conn, |conn| {
        totp_store::disable_totp(conn, user)?;
        audit_self(
            conn,
            actor,
            "user.2fa_disabled",
            user,
            serde_json::json!({}),
        )
    })
}

/// Set a new password and end every other session; returns how many ended.
pub fn change_password(
    conn: &mut DbConn,
    user: &str,
    hash: &str,
    keep: &str,
    actor: &Actor,
) -> Result<usize, AppError> {
    db::write_tx(conn, |conn| {
        users::set_password(conn, user, hash, now())?;
        let ended = sessions::delete_other_sessions(conn, user, keep)?;
        let changes = serde_json::json!({ "sessions_ended": ended });
        audit_self(conn, actor, "user.password_changed", user, changes)?;
        Ok(ended)
    })
}

/// Why a reset or invitation link cannot set a password for an operator whose role signs in
/// through single sign-on.
pub const SSO_ONLY: &str = "Your sign-in goes through your organisation's single sign-on provider, so no password can be set here: use the provider's button on the sign-in page.";

/// The operator a live reset token (its hash) belongs to; refused when their role requires
/// single sign-on (a password would be of no use and must not be set).
pub fn reset_owner(conn: &mut DbConn, token_hash: &str) -> Result<Option<User>, AppError> {
    let Some(uid) = users::reset_user(conn, token_hash, now())? else {
        return Ok(None);
    };
    let user = users::find(conn, &uid)?;
    if let Some(u) = &user
        && roles::requires_sso(conn, &u.role)?
    {
        return Err(AppError::Forbidden(SSO_ONLY.into()));
    }
    Ok(user)
}

/// Set the password with a reset token, ending every session; false when the token was
/// used meanwhile. Taking the token in the transaction that uses it: a link works exactly
/// once.
pub fn reset_password(
    conn: &mut DbConn,
    token_hash: &str,
    user: &str,
    hash: &str,
    actor: &Actor,
) -> Result<bool, AppError> {
    db::write_tx(conn, |conn| {
        if !users::consume_reset(conn, token_hash, now())? {
            return Ok(false);
        }
        users::set_password(conn, user, hash, now())?;
        sessions::delete_user_sessions(conn, user)?;
        audit_self(
            conn,
            actor,
            "user.password_reset",
            user,
            serde_json::json!({}),
        )?;
        Ok(true)
    })
}

/// Mail a reset link (`{base}/reset?token={token}`) when `email` belongs to an active
/// operator (one whose role requires single sign-on is told to use the provider instead);
/// true when the requests from here are throttled.
pub fn request_reset(
    conn: &mut DbConn,
    email: &str,
    ip: &str,
    base: &str,
    token: &str,
) -> Result<bool, AppError> {
    db::write_tx(conn, |conn| {
        let key = format!("reset:{email}");
        if throttle::check_and_record(conn, &key, ip, now())?.is_some() {
            return Ok(true);
        }
        if let Some(user) = users::find_by_email(conn, email)?.filter(|u| !u.disabled) {
            if roles::requires_sso(conn, &user.role)? {
                // The page says the same as for anyone; only the mailbox learns why.
                let body = format!(
                    "Someone asked to reset the Gatehouse password of {email}.\n\nYour sign-in goes through your organisation's single sign-on provider, so there is no Gatehouse password to reset: use the provider's button on the sign-in page:\n{base}/login\n\nIf it was not you, ignore this email."
                );
                events::mail::enqueue(conn, &user.email, "Signing in to Gatehouse", &body)?;
                return Ok(false);
            }
            users::create_reset(conn, &sha256_hex(token), &user.id, now())?;
            let body = format!(
                "Someone asked to reset the Gatehouse password of {email}.\n\nSet a new password here (the link works once, within 24 hours):\n{base}/reset?token={token}\n\nIf it was not you, ignore this email."
            );
            events::mail::enqueue(conn, &user.email, "Reset your Gatehouse password", &body)?;
        }
        Ok(false)
    })
}
