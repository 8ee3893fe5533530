//! The users slice's changes, each in one transaction with its audit entry (and, for
//! operators, the `user.*` webhook event): create (or invite), edit, the status changes,
//! reset links, delete; and custom roles.

use crate::audit::{self, Actor};
use crate::db::secrets::sha256_hex;
use crate::db::{self, DbConn, now};
use crate::error::AppError;
use crate::events;
use crate::identity::lockout;
use crate::identity::roles::{self, RoleInput, RoleRecord, TableRight};
use crate::identity::sessions;
use crate::identity::totp;
use crate::identity::users::{self, CreateUserError, NewUser, User};

/// A change refused for a reason the operator is told.
pub type Refusal = &'static str;

fn audit_user(
    conn: &mut DbConn,
    actor: &Actor,
    action: &str,
    user: &User,
    details: serde_json::Value,
) -> Result<(), AppError> {
    let mut changes = serde_json::json!({ "email": user.email });
    if let (Some(obj), serde_json::Value::Object(extra)) = (changes.as_object_mut(), details) {
        obj.extend(extra);
    }
    audit::record(conn, actor, action, "gh_users", &user.id, &changes)?;
    events::outbox::record_user_event(conn, action, &user.id, &changes, actor)?;
    Ok(())
}

fn find(conn: &mut DbConn, id: &str) -> Result<User, AppError> {
    users::find(conn, id)?.ok_or(AppError::NotFound)
}

/// Whether taking `user` out of the administrators would leave none who can sign in.
fn last_admin(conn: &mut DbConn, user: &User) -> Result<bool, AppError> {
    Ok(user.role == "admin" && !user.disabled && users::count_active_admins(conn)? <= 1)
}

/// Whether, without `user` among them, no administrator could sign in any more (the others
/// have no password their role allows, nor a link to an enabled SSO provider).
fn last_who_can_sign_in(conn: &mut DbConn, user: &User) -> Result<bool, AppError> {
    Ok(!user.disabled
        && lockout::is_admin_role(conn, &user.role)?
        && !lockout::admin_can_sign_in(conn, Some(&user.id))?)
}

/// An invitation: the operator chooses their password through a reset link mailed to them.
pub struct Invite {
    /// The one-time token of the link.
    pub token: String,
    /// The inviting administrator's name.
    pub inviter: String,
    /// The public URL, without a trailing slash.
    pub base: String,
}

/// Create an operator (and queue the invitation); `None` when the email is taken.
pub fn create(
    conn: &mut DbConn,
    new: NewUser<'_>,
    invite: Option<&Invite>,
    actor: &Actor,
) -> Result<Option<User>, AppError> {
    db::write_tx(conn, |conn| {
        let user = match users::insert(conn, new, now()) {
            Ok(user) => user,
            Err(CreateUserError::EmailTaken) => return Ok(None),
            Err(CreateUserError::Db(e)) => return Err(AppError::from(e)),
        };
        let details = serde_json::json!({ "role": user.role, "display_name": user.display_name, "invited": invite.is_some() });
        audit_user(conn, actor, "user.created", &user, details)?;
        if let Some(Invite {
            token,
            inviter,
            base,
        }) = invite
        {
            // A role that signs in only through single sign-on gets no password link.
            let body = if roles::requires_sso(conn, &user.role)? {
                format!(
                    "{inviter} invited you to Gatehouse as {}.\n\nYou sign in through your organisation's single sign-on: use the provider's button here:\n{base}/login\n",
                    user.role
                )
            } else {
                users::create_reset(conn, &sha256_hex(token), &user.id, now())?;
                format!(
                    "{inviter} invited you to Gatehouse as {}.\n\nChoose your password here (the link works once, within 24 hours):\n{base}/reset?token={token}\n",
                    user.role
                )
            };
            events::mail::enqueue(conn, &user.email, "You are invited to Gatehouse", &body)?;
        }
        Ok(Some(user))
    })
}

/// What the operator form changes.
pub struct Profile {
    pub email: String,
    pub display_name: String,
    pub role: String,
}

/// Save an operator's email, name and role, auditing what changed.
pub fn update(
    conn: &mut DbConn,
    user: &User,
    profile: &Profile,
    actor: &Actor,
) -> Result<Result<(), Refusal>, AppError> {
    let Profile {
        email,
        display_name,
        role,
    } = profile;
    db::write_tx(conn, |conn| {
        if role != "admin" && last_admin(conn, user)? {
            return Ok(Err(
                "This is the last administrator: give another operator the admin role first.",
            ));
        }
        if !lockout::is_admin_role(conn, role)? && last_who_can_sign_in(conn, user)? {
            return Ok(Err(lockout::LAST_WHO_CAN_SIGN_IN));
        }
        match users::update_profile(conn, &user.id, email, display_name, role, now()) {
            Ok(()) => {}
            Err(CreateUserError::EmailTaken) => {
                return Ok(Err("An operator with this email already exists."));
            }
            Err(CreateUserError::Db(e)) => return Err(AppError::from(e)),
        }
        if *role != user.role {
            let details = serde_json::json!({ "before": user.role, "after": role });
            audit_user(conn, actor, "user.role_changed", user, details)?;
        }
        let new_email = users::normalize_email(email);
        if new_email != user.email || display_name.trim() != user.display_name {
            let details =
                serde_json::json!({ "new_email": new_email, "display_name": display_name.trim() });
            audit_user(conn, actor, "user.updated", user, details)?;
        }
        Ok(Ok(()))
    })
}

/// A status change: given the operator and the acting administrator's id, apply it or say
/// why not.
pub type Apply = fn(&mut DbConn, &User, &str) -> Result<Result<(), Refusal>, AppError>;

/// Apply a status change to operator `id` with its audit entry; returns the operator's id.
pub fn change_status(
    conn: &mut DbConn,
    id: &str,
    me: &str,
    action: &str,
    apply: Apply,
    actor: &Actor,
) -> Result<Result<String, Refusal>, AppError> {
    db::write_tx(conn, |conn| {
        let user = find(conn, id)?;
        if let Err(m) = apply(conn, &user, me)? {
            return Ok(Err(m));
        }
        audit_user(conn, actor, action, &user, serde_json::json!({}))?;
        Ok(Ok(user.id))
    })
}

/// Disable an operator and end their sessions (not oneself, not the last administrator).
pub fn disable(conn: &mut DbConn, user: &User, me: &str) -> Result<Result<(), Refusal>, AppError> {
    if user.id == me {
        return Ok(Err("You cannot disable your own account."));
    }
    if last_admin(conn, user)? {
        return Ok(Err(
            "This is the last administrator who can sign in; it stays enabled.",
        ));
    }
    if last_who_can_sign_in(conn, user)? {
        return Ok(Err(lockout::LAST_WHO_CAN_SIGN_IN));
    }
    users::set_disabled(conn, &user.id, true, now())?;
    sessions::delete_user_sessions(conn, &user.id)?;
    Ok(Ok(()))
}

pub fn enable(conn: &mut DbConn, user: &User, _me: &str) -> Result<Result<(), Refusal>, AppError> {
    users::set_disabled(conn, &user.id, false, now())?;
    Ok(Ok(()))
}

pub fn sign_out(
    conn: &mut DbConn,
    user: &User,
    _me: &str,
) -> Result<Result<(), Refusal>, AppError> {
    sessions::delete_user_sessions(conn, &user.id)?;
    Ok(Ok(()))
}

pub fn reset_2fa(
    conn: &mut DbConn,
    user: &User,
    _me: &str,
) -> Result<Result<(), Refusal>, AppError> {
    totp::reset_two_factor(conn, &user.id)?;
    Ok(Ok(()))
}

/// End one session of operator `id`; returns how many ended (0 or 1).
pub fn end_session(
    conn: &mut DbConn,
    id: &str,
    session: &str,
    actor: &Actor,
) -> Result<usize, AppError> {
    db::write_tx(conn, |conn| {
        let user = find(conn, id)?;
        let n = sessions::delete_session_of(conn, &user.id, session)?;
        if n == 1 {
            audit_user(
                conn,
                actor,
                "user.session_ended",
                &user,
                serde_json::json!({}),
            )?;
        }
        Ok(n)
    })
}

/// Why no reset link is made for an operator whose role signs in through single sign-on.
pub const RESET_LINK_SSO_ONLY: &str = "This operator's role signs in only through single sign-on: no password can be set for them, so no reset link was made. They use the provider's button on the sign-in page.";

/// Store a one-time reset token (its hash) for operator `id`. Refused, with an audit entry
/// and nothing else stored, when their role signs in through single sign-on only.
pub fn create_reset_link(
    conn: &mut DbConn,
    id: &str,
    token_hash: &str,
    actor: &Actor,
) -> Result<Result<User, Refusal>, AppError> {
    db::write_tx(conn, |conn| {
        let user = find(conn, id)?;
        if roles::requires_sso(conn, &user.role)? {
            let changes = serde_json::json!({ "email": user.email, "role": user.role, "reason": "role requires single sign-on" });
            audit::record(
                conn,
                actor,
                "user.reset_link_refused",
                "gh_users",
                &user.id,
                &changes,
            )?;
            return Ok(Err(RESET_LINK_SSO_ONLY));
        }
        users::create_reset(conn, token_hash, &user.id, now())?;
        audit_user(
            conn,
            actor,
            "user.reset_link_created",
            &user,
            serde_json::json!({}),
        )?;
        Ok(Ok(user))
    })
}

/// Delete operator `id` (not oneself, not the last administrator); returns their id.
pub fn delete(
    conn: &mut DbConn,
    id: &str,
    me: &str,
    actor: &Actor,
) -> Result<Result<String, Refusal>, AppError> {
    db::write_tx(conn, |conn| {
        let user = find(conn, id)?;
        if user.id == me {
            return Ok(Err("You cannot delete your own account."));
        }
        if last_admin(conn, &user)? {
            return Ok(Err("This is the last administrator; it cannot be deleted."));
        }
        if last_who_can_sign_in(conn, &user)? {
            return Ok(Err(lockout::LAST_WHO_CAN_SIGN_IN));
        }
        let details = serde_json::json!({ "role": user.role, "display_name": user.display_name });
        audit_user(conn, actor, "user.deleted", &user, details)?;
        users::delete(conn, &user.id)?;
        Ok(Ok(user.id))
    })
}

/// Every role with how many operators hold it.
pub fn roles_in_use(conn: &mut DbConn) -> Result<Vec<(RoleRecord, i64)>, AppError> {
    roles::roles(conn)?
        .into_iter()
        .map(|role| {
            let users = roles::users_with_role(conn, &role.name)?;
            Ok((role, users))
        })
        .collect()
}

/// A role and its saved rights, (table, actions, hidden columns).
pub fn role_with_rights(
    conn: &mut DbConn,
    name: &str,
) -> Result<(RoleRecord, Vec<TableRight>), AppError> {
    let role = roles::find_role(conn, name)?.ok_or(AppError::NotFound)?;
    let rights = roles::role_tables(conn, &role.name)?;
    Ok((role, rights))
}

fn audit_role(conn: &mut DbConn, actor: &Actor, action: &str, name: &str) -> Result<(), AppError> {
    audit::record(
        conn,
        actor,
        action,
        "gh_roles",
        name,
        &serde_json::json!({}),
    )?;
    Ok(())
}

pub fn create_role(
    conn: &mut DbConn,
    input: &RoleInput,
    actor: &Actor,
) -> Result<Result<(), String>, AppError> {
    if roles::find_role(conn, &input.name)?.is_some() {
        return Ok(Err("A role with this name already exists.".to_string()));
    }
    db::write_tx(conn, |conn| {
        roles::save_role(conn, input, true, now())?;
        audit_role(conn, actor, "role.created", &input.name)
    })?;
    Ok(Ok(()))
}

pub fn update_role(conn: &mut DbConn, input: &RoleInput, actor: &Actor) -> Result<(), AppError> {
    let role = roles::find_role(conn, &input.name)?.ok_or(AppError::NotFound)?;
    db::write_tx(conn, |conn| {
        if role.builtin {
            // Built-in roles are fixed, except whether they require two-factor sign-in.
            roles::set_role_2fa(conn, &role.name, input.require_2fa)?;
            roles::set_role_passkey(conn, &role.name, input.require_passkey)?;
        } else {
            roles::save_role(conn, input, false, now())?;
        }
        audit_role(conn, actor, "role.updated", &role.name)
    })
}

/// Delete a custom role nobody holds.
pub fn delete_role(
    conn: &mut DbConn,
    name: &str,
    actor: &Actor,
) -> Result<Result<(), Refusal>, AppError> {
    db::write_tx(conn, |conn| {
        let role = roles::find_role(conn, name)?.ok_or(AppError::NotFound)?;
        if role.builtin {
            return Ok(Err("Built-in roles cannot be deleted."));
        }
        if roles::users_with_role(conn, &role.name)? > 0 {
            return Ok(Err(
                "Operators still have this role: give them another one first.",
            ));
        }
        roles::delete_role(conn, &role.name)?;
        audit_role(conn, actor, "role.deleted", &role.name)?;
        Ok(Ok(()))
    })
}
