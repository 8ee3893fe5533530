//! Templates of the SSO administration pages.

use askama::Template;

use super::providers::{Provider, RoleOptions};
use crate::web::form::{Pairs, get};
use crate::web::page::Layout;

#[derive(Template)]
#[template(path = "integrations/sso.html")]
pub struct SsoPage {
    pub layout: Layout,
    pub providers: Vec<Provider>,
    pub roles: Vec<RoleOptions>,
    pub callback: String,
    pub error: Option<String>,
    pub form: ProviderForm,
}

#[derive(Template)]
#[template(path = "integrations/sso_edit.html")]
pub struct SsoEditPage {
    pub layout: Layout,
    pub id: String,
    pub roles: Vec<RoleOptions>,
    pub error: Option<String>,
    pub form: ProviderForm,
}

/// The provider form's values: a stored provider's, or what the administrator typed (the
/// secret never comes back).
pub struct ProviderForm {
    pub editing: bool,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: String,
    pub create_users: bool,
    pub default_role: String,
    pub allowed_domains: String,
    pub role_claim: String,
    pub role_map: String,
}

impl ProviderForm {
    pub fn blank() -> ProviderForm {
        ProviderForm {
            editing: false,
            name: String::new(),
            issuer: String::new(),
            client_id: String::new(),
            scopes: "openid email profile".into(),
            create_users: false,
            default_role: "viewer".into(),
            allowed_domains: String::new(),
            role_claim: String::new(),
            role_map: String::new(),
        }
    }

    pub fn of(p: &Provider) -> ProviderForm {
        ProviderForm {
            editing: true,
            name: p.name.clone(),
            issuer: p.issuer.clone(),
            client_id: p.client_id.clone(),
            scopes: p.scopes.clone(),
            create_users: p.create_users,
            default_role: p.default_role.clone(),
            allowed_domains: p.allowed_domains.clone(),
            role_claim: p.role_claim.clone(),
            role_map: p.role_map_text(),
        }
    }

    pub fn typed(pairs: &Pairs, editing: bool) -> ProviderForm {
        let field = |n: &str| get(pairs, n).unwrap_or("").to_string();
        ProviderForm {
            editing,
            name: field("name"),
            issuer: field("issuer"),
            client_id: field("client_id"),
            scopes: field("scopes"),
            create_users: get(pairs, "create_users") == Some("on"),
            default_role: field("default_role"),
            allowed_domains: field("allowed_domains"),
            role_claim: field("role_claim"),
            role_map: field("role_map"),
        }
    }
}
