//! Identities linked to operators (issuer + subject), and the one transaction that turns a
//! verified ID token into an operator (link, create, map the role) or a refusal. The
//! providers and role options are `providers`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use super::providers::{Provider, ensure_admin_access};
use crate::audit::{self, Actor};
use crate::db::schema::{gh_identities as ids, gh_users};
use crate::db::{self, DbConn, new_id, now};
use crate::error::AppError;
use crate::identity::users::{self, NewUser, User};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ids)]
pub struct Identity {
    pub id: String,
    pub user_id: String,
    pub provider_id: Option<String>,
    pub issuer: String,
    pub subject: String,
    pub email: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
}

pub fn identities_of(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<Identity>> {
    ids::table
        .filter(ids::user_id.eq(user_id))
        .select(Identity::as_select())
        .order(ids::created_at)
        .load(conn)
}

/// Remove one of the operator's own links; false when it is not theirs. Refused when it was
/// the last way any administrator could sign in.
pub fn unlink(conn: &mut DbConn, user: &User, id: &str) -> Result<bool, AppError> {
    db::write_tx(conn, |conn| {
        let n = diesel::delete(
            ids::table
                .filter(ids::id.eq(id))
                .filter(ids::user_id.eq(&user.id)),
        )
        .execute(conn)?;
        if n > 0 {
            ensure_admin_access(conn)?;
            let actor = Actor {
                user_id: Some(user.id.clone()),
                email: user.email.clone(),
                via: "ui".into(),
            };
            audit::record(
                conn,
                &actor,
                "sso.unlinked",
                "gh_identities",
                id,
                &json!({"email": user.email}),
            )?;
        }
        Ok(n > 0)
    })
}

/// What the provider vouched for, from a verified ID token.
#[derive(Debug, Clone)]
pub struct Verified {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// Values of the provider's role claim.
    pub claim_values: Vec<String>,
}

/// Match (subject, then verified email), create when allowed, re-apply the role mapping.
/// Ok(Err(reason)) is a refusal the sign-in page shows.
pub fn resolve(
    conn: &mut DbConn,
    prov: &Provider,
    v: &Verified,
) -> Result<Result<User, String>, AppError> {
    db::write_tx(conn, |conn| {
        let email = v.email.as_deref().map(users::normalize_email);
        let domains = prov.domains();
        if !domains.is_empty() {
            let domain = email
                .as_deref()
                .and_then(|e| e.rsplit_once('@'))
                .map(|(_, d)| d.to_string());
            if !domain.is_some_and(|d| domains.contains(&d)) {
                return Ok(Err(
                    "Your email domain is not allowed to sign in here.".to_string()
                ));
            }
        }
        let mapped = mapped_role(conn, prov, v)?;
        let linked: Option<String> = ids::table
            .filter(ids::issuer.eq(&v.issuer))
            .filter(ids::subject.eq(&v.subject))
            .select(ids::user_id)
            .first(conn)
            .optional()?;
        let user = match linked {
            Some(uid) => users::find(conn, &uid)?,
            None => match (email.as_deref(), v.email_verified) {
                (Some(e), true) => match users::find_by_email(conn, e)? {
                    Some(u) => Some(link(conn, prov, v, u, e, "sso.linked")?),
                    None if prov.create_users => {
                        let role = mapped.clone().unwrap_or_else(|| prov.default_role.clone());
                        Some(create(conn, prov, v, e, &role)?)
                    }
                    None => None,
                },
                _ => None,
            },
        };
        let Some(mut user) = user else {
            return Ok(Err(
                "No operator matches your account at the provider. Ask an administrator for access.".to_string(),
            ));
        };
        if user.disabled {
            return Ok(Err(
                "This account is disabled. Ask an administrator to re-enable it.".to_string(),
            ));
        }
        diesel::update(
            ids::table
                .filter(ids::issuer.eq(&v.issuer))
                .filter(ids::subject.eq(&v.subject)),
        )
        .set(ids::last_used_at.eq(now()))
        .execute(conn)?;
        if let Some(role) = mapped.filter(|r| *r != user.role) {
            diesel::update(gh_users::table.find(&user.id))
                .set((gh_users::role.eq(&role), gh_users::updated_at.eq(now())))
                .execute(conn)?;
            let actor = Actor {
                user_id: Some(user.id.clone()),
                email: user.email.clone(),
                via: "ui".into(),
            };
            let changes = json!({"email": user.email, "role": [user.role, role], "by": prov.name});
            audit::record(
                conn,
                &actor,
                "user.role_mapped",
                "gh_users",
                &user.id,
                &changes,
            )?;
            user.role = role;
        }
        Ok(Ok(user))
    })
}

/// The role the claim maps to, if any of its values is mapped to an existing role.
fn mapped_role(conn: &mut DbConn, prov: &Provider, v: &Verified) -> QueryResult<Option<String>> {
    let map = prov.role_map();
    let known = crate::identity::roles::role_names(conn)?;
    // Most powerful first: the built-in order (admin, editor, viewer) then custom roles.
    Ok(known
        .into_iter()
        .find(|role| v.claim_values.iter().any(|c| map.get(c) == Some(role))))
}

fn link(
    conn: &mut DbConn,
    prov: &Provider,
    v: &Verified,
    user: User,
    email: &str,
    action: &str,
) -> Result<User, AppError> {
    let id = new_id();
    diesel::insert_into(ids::table)
        .values((
            ids::id.eq(&id),
            ids::user_id.eq(&user.id),
            ids::provider_id.eq(&prov.id),
            ids::issuer.eq(&v.issuer),
            ids::subject.eq(&v.subject),
            ids::email.eq(email),
            ids::created_at.eq(now()),
            ids::last_used_at.eq(now()),
        ))
        .execute(conn)?;
    let actor = Actor {
        user_id: Some(user.id.clone()),
        email: user.email.clone(),
        via: "ui".into(),
    };
    let changes = json!({"email": user.email, "provider": prov.name, "issuer": v.issuer});
    audit::record(conn, &actor, action, "gh_identities", &id, &changes)?;
    Ok(user)
}

fn create(
    conn: &mut DbConn,
    prov: &Provider,
    v: &Verified,
    email: &str,
    role: &str,
) -> Result<User, AppError> {
    let name = v
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| email.to_string());
    // No password: "!" is no argon2 hash, so the password form can never match it.
    let new = NewUser {
        email,
        display_name: &name,
        password_hash: "!sso",
        role,
    };
    let user = users::insert(conn, new, now()).map_err(|e| AppError::Invalid(e.to_string()))?;
    let actor = Actor {
        user_id: Some(user.id.clone()),
        email: user.email.clone(),
        via: "ui".into(),
    };
    let changes = json!({"email": user.email, "role": role, "provider": prov.name});
    audit::record(
        conn,
        &actor,
        "user.created_by_sso",
        "gh_users",
        &user.id,
        &changes,
    )?;
    link(conn, prov, v, user, email, "sso.linked")
}

/// An SSO failure in the audit log: why, from where, and who when known (never tokens).
pub fn record_failure(
    conn: &mut DbConn,
    provider: &str,
    email: &str,
    reason: &str,
    ip: &str,
) -> QueryResult<()> {
    let actor = Actor {
        user_id: None,
        email: email.to_string(),
        via: "ui".into(),
    };
    audit::record(
        conn,
        &actor,
        "sso.failed",
        "gh_sso_providers",
        provider,
        &json!({"reason": reason, "ip": ip}),
    )
}
