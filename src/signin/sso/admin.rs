//! `/integrations/sso` (administrators): add and delete OpenID providers, and the per-role
//! options "require SSO" and "trust the provider's MFA".

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::store::{self, NewProvider};
use super::views::SsoPage;
use crate::audit::Actor;
use crate::error::AppError;
use crate::identity::permissions::Admin;
use crate::identity::roles;
use crate::state::AppState;
use crate::web::form::{Pairs, get};
use crate::web::page::{self, Layout, Page};

async fn render(
    layout: Layout,
    state: &AppState,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let (providers, roles) = state
        .db
        .run(|conn| Ok((store::providers(conn)?, store::role_options(conn)?)))
        .await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let callback = format!(
        "{}/login/sso/callback",
        state.config.public_url.as_str().trim_end_matches('/')
    );
    page::render(
        status,
        &SsoPage {
            layout,
            providers,
            roles,
            callback,
            error,
        },
    )
}

pub async fn index(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    render(layout, &state, None).await
}

fn actor(admin: &Admin) -> Actor {
    Actor {
        user_id: Some(admin.0.user.id.clone()),
        email: admin.0.user.email.clone(),
        via: "ui".into(),
    }
}

/// The submitted provider, or why it is refused (nothing stored).
fn parse(pairs: &Pairs, known_roles: &[String]) -> Result<NewProvider, String> {
    let field = |n: &str| get(pairs, n).unwrap_or("").trim().to_string();
    let (name, issuer, client_id, secret) = (
        field("name"),
        field("issuer"),
        field("client_id"),
        field("client_secret"),
    );
    if name.is_empty() || name.chars().count() > 60 {
        return Err("Give the provider a button label of 1 to 60 characters.".into());
    }
    match url::Url::parse(&issuer) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => {}
        _ => {
            return Err(
                "The issuer must be an http(s) URL such as https://accounts.example.com.".into(),
            );
        }
    }
    if client_id.is_empty() || secret.is_empty() {
        return Err("Enter the client id and client secret the provider gave you.".into());
    }
    let scopes = Some(field("scopes"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "openid email profile".into());
    if !scopes.split_whitespace().any(|s| s == "openid") {
        return Err("The scopes must include openid.".into());
    }
    let default_role = field("default_role");
    if !known_roles.contains(&default_role) {
        return Err("Choose an existing default role.".into());
    }
    let mut role_map = BTreeMap::new();
    for line in field("role_map")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let Some((value, role)) = line.split_once('=').map(|(v, r)| (v.trim(), r.trim())) else {
            return Err(format!("Role mapping line '{line}' is not value=role."));
        };
        if !known_roles.iter().any(|r| r == role) {
            return Err(format!(
                "Role mapping line '{line}': there is no role '{role}'."
            ));
        }
        role_map.insert(value.to_string(), role.to_string());
    }
    Ok(NewProvider {
        name,
        issuer: issuer.trim_end_matches('/').to_string(),
        client_id,
        client_secret_enc: secret,
        scopes,
        create_users: get(pairs, "create_users") == Some("on"),
        default_role,
        allowed_domains: field("allowed_domains"),
        role_claim: field("role_claim"),
        role_map,
    })
}

pub async fn create(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    let known = state.db.run(|conn| Ok(roles::role_names(conn)?)).await?;
    let mut new = match parse(&pairs, &known) {
        Ok(new) => new,
        Err(e) => return render(Layout::build(&req), &state, Some(e)).await,
    };
    new.client_secret_enc = super::sealer(&state)
        .seal(&new.client_secret_enc)
        .map_err(AppError::internal)?;
    let actor = actor(&admin);
    state
        .db
        .run(move |conn| store::add_provider(conn, &new, &actor))
        .await?;
    Ok(page::done(
        &req,
        "/integrations/sso",
        "success",
        "The provider was added; its button is on the sign-in page.",
    ))
}

pub async fn delete(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    if get(&pairs, "confirm") != Some("yes") {
        return Ok(page::done(
            &req,
            "/integrations/sso",
            "error",
            "Tick the confirmation to delete the provider.",
        ));
    }
    let (id, actor) = (path.into_inner(), actor(&admin));
    if !state
        .db
        .run(move |conn| store::delete_provider(conn, &id, &actor))
        .await?
    {
        return Err(AppError::NotFound);
    }
    Ok(page::done(
        &req,
        "/integrations/sso",
        "success",
        "The provider was deleted. Linked operators can still sign in with a password.",
    ))
}

pub async fn save_roles(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    let has = |name: &str, role: &str| pairs.iter().any(|(k, v)| k == name && v == role);
    let known = state.db.run(|conn| Ok(roles::role_names(conn)?)).await?;
    let opts: Vec<store::RoleOptions> = known
        .into_iter()
        .map(|r| (r.clone(), has("require_sso", &r), has("trust_mfa", &r)))
        .collect();
    let actor = actor(&admin);
    state
        .db
        .run(move |conn| store::set_role_options(conn, &opts, &actor))
        .await?;
    Ok(page::done(
        &req,
        "/integrations/sso",
        "success",
        "The roles' sign-in options were saved.",
    ))
}
