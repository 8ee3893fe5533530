//! The guard every change to operators, roles and sign-in providers passes: never leave no
//! administrator who can sign in. An administrator can sign in when their role allows
//! passwords and they have one, or when they are linked to an enabled SSO provider. The
//! SSO administration (signin slice) and the operators' pages (users slice) both use it,
//! hence here in the core.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::{
    gh_identities as ids, gh_roles, gh_sso_providers as p, gh_sso_roles as sr, gh_users,
};
use crate::error::AppError;

/// Why a change to the sign-in options that would lock every administrator out is refused.
pub const LOCKOUT: &str = "Refused: no administrator could sign in any more. An administrator must first sign in once through an enabled provider (that links their account), or an administrators' role must keep password sign-in. Locked out already? `gatehouse sso allow-passwords` on the server lifts the requirement.";

/// Why taking one operator's administration away is refused.
pub const LAST_WHO_CAN_SIGN_IN: &str = "Refused: no other administrator could sign in (the others have no password their role allows, and no link to an enabled single sign-on provider).";

/// Refuse (rolling the transaction back) when no active administrator could sign in.
pub fn ensure_admin_access(conn: &mut DbConn) -> Result<(), AppError> {
    if admin_can_sign_in(conn, None)? {
        Ok(())
    } else {
        Err(AppError::Conflict(LOCKOUT.into()))
    }
}

/// Whether a role opens the administration areas.
pub fn is_admin_role(conn: &mut DbConn, role: &str) -> QueryResult<bool> {
    Ok(gh_roles::table
        .find(role)
        .select(gh_roles::admin_areas)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(false))
}

/// Whether some active administrator (other than `without`) could sign in: by a password
/// their role allows, or through an enabled provider they are linked to.
pub fn admin_can_sign_in(conn: &mut DbConn, without: Option<&str>) -> QueryResult<bool> {
    let admin_roles: Vec<String> = gh_roles::table
        .filter(gh_roles::admin_areas.eq(true))
        .select(gh_roles::name)
        .load(conn)?;
    let required: Vec<String> = sr::table
        .filter(sr::require_sso.eq(true))
        .select(sr::role_name)
        .load(conn)?;
    let admins: Vec<(String, String, String)> = gh_users::table
        .filter(gh_users::role.eq_any(&admin_roles))
        .filter(gh_users::disabled.eq(false))
        .filter(gh_users::id.ne(without.unwrap_or("")))
        .select((gh_users::id, gh_users::role, gh_users::password_hash))
        .load(conn)?;
    // A hash starting with "!" is the mark of an operator created by SSO (no password).
    if admins
        .iter()
        .any(|(_, role, hash)| !required.contains(role) && !hash.starts_with('!'))
    {
        return Ok(true);
    }
    let enabled: Vec<(String, String)> = p::table
        .filter(p::enabled.eq(true))
        .select((p::id, p::issuer))
        .load(conn)?;
    let admin_ids: Vec<&String> = admins.iter().map(|a| &a.0).collect();
    let links: Vec<(Option<String>, String)> = ids::table
        .filter(ids::user_id.eq_any(admin_ids))
        .select((ids::provider_id, ids::issuer))
        .load(conn)?;
    Ok(links.iter().any(|(pid, issuer)| {
        enabled.iter().any(|(id, iss)| {
            pid.as_deref() == Some(id.as_str())
                || iss.trim_end_matches('/') == issuer.trim_end_matches('/')
        })
    }))
}
