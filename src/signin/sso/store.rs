//! The SSO tables: providers (the client secret sealed), identities linked to operators
//! (issuer + subject), the per-role options; and the one transaction that turns a verified
//! ID token into an operator (link, create, map the role) or a refusal.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use crate::audit::{self, Actor};
use crate::db::schema::{
    gh_identities as ids, gh_sso_providers as p, gh_sso_roles as sr, gh_users,
};
use crate::db::{self, DbConn, new_id, now};
use crate::error::AppError;
use crate::identity::users::{self, NewUser, User};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = p)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret_enc: String,
    pub scopes: String,
    pub enabled: bool,
    pub create_users: bool,
    pub default_role: String,
    pub allowed_domains: String,
    pub role_claim: String,
    pub role_map: String,
    pub created_at: NaiveDateTime,
}

impl Provider {
    /// Claim value → role, as stored (JSON object).
    pub fn role_map(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&self.role_map).unwrap_or_default()
    }

    pub fn domains(&self) -> Vec<String> {
        self.allowed_domains
            .split([',', ' ', '\n'])
            .map(|d| d.trim().trim_start_matches('@').to_lowercase())
            .filter(|d| !d.is_empty())
            .collect()
    }

    /// The role-map as the form shows it: `value=role` per line.
    pub fn role_map_text(&self) -> String {
        self.role_map()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A provider as the administrator enters it (validated by the routes' form).
pub struct NewProvider {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret_enc: String,
    pub scopes: String,
    pub create_users: bool,
    pub default_role: String,
    pub allowed_domains: String,
    pub role_claim: String,
    pub role_map: BTreeMap<String, String>,
}

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

/// Per-role options: (role, require SSO, trust the provider's MFA).
pub type RoleOptions = (String, bool, bool);

pub fn providers(conn: &mut DbConn) -> QueryResult<Vec<Provider>> {
    p::table
        .select(Provider::as_select())
        .order(p::name)
        .load(conn)
}

/// (id, button label) of the enabled providers, for the sign-in page.
pub fn buttons(conn: &mut DbConn) -> QueryResult<Vec<(String, String)>> {
    p::table
        .filter(p::enabled.eq(true))
        .select((p::id, p::name))
        .order(p::name)
        .load(conn)
}

pub fn provider(conn: &mut DbConn, id: &str) -> QueryResult<Option<Provider>> {
    p::table
        .find(id)
        .select(Provider::as_select())
        .first(conn)
        .optional()
}

pub fn add_provider(
    conn: &mut DbConn,
    new: &NewProvider,
    actor: &Actor,
) -> Result<String, AppError> {
    let id = new_id();
    db::write_tx(conn, |conn| {
        diesel::insert_into(p::table)
            .values((
                p::id.eq(&id),
                p::name.eq(&new.name),
                p::issuer.eq(&new.issuer),
                p::client_id.eq(&new.client_id),
                p::client_secret_enc.eq(&new.client_secret_enc),
                p::scopes.eq(&new.scopes),
                p::enabled.eq(true),
                p::create_users.eq(new.create_users),
                p::default_role.eq(&new.default_role),
                p::allowed_domains.eq(&new.allowed_domains),
                p::role_claim.eq(&new.role_claim),
                p::role_map.eq(serde_json::to_string(&new.role_map).unwrap_or_default()),
                p::created_at.eq(now()),
            ))
            .execute(conn)?;
        // Never the secret: only what identifies the provider.
        let changes = json!({"name": new.name, "issuer": new.issuer, "client_id": new.client_id});
        audit::record(
            conn,
            actor,
            "sso.provider_added",
            "gh_sso_providers",
            &id,
            &changes,
        )?;
        Ok::<_, AppError>(())
    })?;
    Ok(id)
}

pub fn delete_provider(conn: &mut DbConn, id: &str, actor: &Actor) -> Result<bool, AppError> {
    db::write_tx(conn, |conn| {
        let Some(found) = provider(conn, id)? else {
            return Ok(false);
        };
        diesel::delete(p::table.find(id)).execute(conn)?;
        let changes = json!({"name": found.name, "issuer": found.issuer});
        audit::record(
            conn,
            actor,
            "sso.provider_deleted",
            "gh_sso_providers",
            id,
            &changes,
        )?;
        Ok(true)
    })
}

/// Every role with its SSO options (roles without a row have both off).
pub fn role_options(conn: &mut DbConn) -> QueryResult<Vec<RoleOptions>> {
    let names = crate::identity::roles::role_names(conn)?;
    let set: Vec<(String, bool, bool)> = sr::table
        .select((sr::role_name, sr::require_sso, sr::trust_provider_mfa))
        .load(conn)?;
    Ok(names
        .into_iter()
        .map(|n| {
            let o = set.iter().find(|s| s.0 == n);
            (n, o.is_some_and(|o| o.1), o.is_some_and(|o| o.2))
        })
        .collect())
}

pub fn options_of(conn: &mut DbConn, role: &str) -> QueryResult<(bool, bool)> {
    Ok(sr::table
        .find(role)
        .select((sr::require_sso, sr::trust_provider_mfa))
        .first(conn)
        .optional()?
        .unwrap_or((false, false)))
}

pub fn set_role_options(
    conn: &mut DbConn,
    opts: &[RoleOptions],
    actor: &Actor,
) -> Result<(), AppError> {
    db::write_tx(conn, |conn| {
        let known = crate::identity::roles::role_names(conn)?;
        diesel::delete(sr::table).execute(conn)?;
        for (role, require, trust) in opts.iter().filter(|o| known.contains(&o.0)) {
            diesel::insert_into(sr::table)
                .values((
                    sr::role_name.eq(role),
                    sr::require_sso.eq(require),
                    sr::trust_provider_mfa.eq(trust),
                ))
                .execute(conn)?;
        }
        let changes = json!({"roles": opts.iter().map(|o| json!({"role": o.0, "require_sso": o.1, "trust_provider_mfa": o.2})).collect::<Vec<_>>()});
        audit::record(conn, actor, "sso.roles", "gh_sso_roles", "", &changes)?;
        Ok(())
    })
}

pub fn identities_of(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<Identity>> {
    ids::table
        .filter(ids::user_id.eq(user_id))
        .select(Identity::as_select())
        .order(ids::created_at)
        .load(conn)
}

/// Remove one of the operator's own links; false when it is not theirs.
pub fn unlink(conn: &mut DbConn, user: &User, id: &str) -> Result<bool, AppError> {
    db::write_tx(conn, |conn| {
        let n = diesel::delete(
            ids::table
                .filter(ids::id.eq(id))
                .filter(ids::user_id.eq(&user.id)),
        )
        .execute(conn)?;
        if n > 0 {
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
