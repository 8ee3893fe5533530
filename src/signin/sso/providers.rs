//! The providers and the per-role options as administrators set them: add, edit (the secret
//! kept unless a new one is typed), enable / disable, delete, "require SSO" and "trust the
//! provider's MFA" — every change audited, and none allowed that would leave no
//! administrator able to sign in (`ensure_admin_access`).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use crate::audit::{self, Actor};
use crate::db::schema::{gh_sso_providers as p, gh_sso_roles as sr};
use crate::db::{self, DbConn, new_id, now};
use crate::error::AppError;

pub use crate::identity::lockout::{LOCKOUT, ensure_admin_access};

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
        ensure_admin_access(conn)?;
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
        ensure_admin_access(conn)?;
        let changes = json!({"roles": opts.iter().map(|o| json!({"role": o.0, "require_sso": o.1, "trust_provider_mfa": o.2})).collect::<Vec<_>>()});
        audit::record(conn, actor, "sso.roles", "gh_sso_roles", "", &changes)?;
        Ok(())
    })
}

/// Edit a provider: every field; the client secret only when a new one was typed.
pub fn update_provider(
    conn: &mut DbConn,
    id: &str,
    new: &NewProvider,
    actor: &Actor,
) -> Result<bool, AppError> {
    db::write_tx(conn, |conn| {
        if provider(conn, id)?.is_none() {
            return Ok(false);
        }
        diesel::update(p::table.find(id))
            .set((
                p::name.eq(&new.name),
                p::issuer.eq(&new.issuer),
                p::client_id.eq(&new.client_id),
                p::scopes.eq(&new.scopes),
                p::create_users.eq(new.create_users),
                p::default_role.eq(&new.default_role),
                p::allowed_domains.eq(&new.allowed_domains),
                p::role_claim.eq(&new.role_claim),
                p::role_map.eq(serde_json::to_string(&new.role_map).unwrap_or_default()),
            ))
            .execute(conn)?;
        let secret_changed = !new.client_secret_enc.is_empty();
        if secret_changed {
            diesel::update(p::table.find(id))
                .set(p::client_secret_enc.eq(&new.client_secret_enc))
                .execute(conn)?;
        }
        // Never the secret: whether it changed.
        let changes = json!({
            "name": new.name, "issuer": new.issuer, "client_id": new.client_id,
            "scopes": new.scopes, "create_users": new.create_users,
            "default_role": new.default_role, "allowed_domains": new.allowed_domains,
            "role_claim": new.role_claim, "role_map": new.role_map,
            "secret_changed": secret_changed,
        });
        audit::record(
            conn,
            actor,
            "sso.provider_updated",
            "gh_sso_providers",
            id,
            &changes,
        )?;
        Ok(true)
    })
}

/// Enable or disable a provider (a disabled one has no button and its callback refuses);
/// false when there is no such provider.
pub fn set_enabled(
    conn: &mut DbConn,
    id: &str,
    enabled: bool,
    actor: &Actor,
) -> Result<bool, AppError> {
    db::write_tx(conn, |conn| {
        let Some(found) = provider(conn, id)? else {
            return Ok(false);
        };
        diesel::update(p::table.find(id))
            .set(p::enabled.eq(enabled))
            .execute(conn)?;
        if !enabled {
            ensure_admin_access(conn)?;
        }
        let action = if enabled {
            "sso.provider_enabled"
        } else {
            "sso.provider_disabled"
        };
        let changes = json!({"name": found.name, "issuer": found.issuer});
        audit::record(conn, actor, action, "gh_sso_providers", id, &changes)?;
        Ok(true)
    })
}

/// Break glass (the `gatehouse sso allow-passwords` command): password sign-in allowed
/// again for `role`, or for every role; the roles that changed.
pub fn allow_passwords(
    conn: &mut DbConn,
    role: Option<&str>,
    actor: &Actor,
) -> Result<Vec<String>, AppError> {
    db::write_tx(conn, |conn| {
        let mut q = sr::table.filter(sr::require_sso.eq(true)).into_boxed();
        if let Some(role) = role {
            q = q.filter(sr::role_name.eq(role));
        }
        let changed: Vec<String> = q.select(sr::role_name).load(conn)?;
        diesel::update(sr::table.filter(sr::role_name.eq_any(&changed)))
            .set(sr::require_sso.eq(false))
            .execute(conn)?;
        if !changed.is_empty() {
            let changes = json!({"require_sso_lifted": changed});
            audit::record(
                conn,
                actor,
                "sso.passwords_allowed",
                "gh_sso_roles",
                "",
                &changes,
            )?;
        }
        Ok(changed)
    })
}
