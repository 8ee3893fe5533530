//! `/integrations/sso` (administrators): add, edit, enable / disable and delete OpenID
//! providers, and the per-role options "require SSO" and "trust the provider's MFA".

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::providers::{self as store, NewProvider};
use super::views::{ProviderForm, SsoEditPage, SsoPage};
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
    form: ProviderForm,
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
            form,
        },
    )
}

pub async fn index(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    render(layout, &state, None, ProviderForm::blank()).await
}

fn actor(admin: &Admin) -> Actor {
    Actor {
        user_id: Some(admin.0.user.id.clone()),
        email: admin.0.user.email.clone(),
        via: "ui".into(),
    }
}

/// The submitted provider, or why it is refused (nothing stored). Editing, an empty secret
/// keeps the stored one.
fn parse(pairs: &Pairs, known_roles: &[String], editing: bool) -> Result<NewProvider, String> {
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
    if client_id.is_empty() || (secret.is_empty() && !editing) {
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
    let new = match parsed(&state, &pairs, false).await? {
        Ok(new) => new,
        Err(e) => {
            let form = ProviderForm::typed(&pairs, false);
            return render(Layout::build(&req), &state, Some(e), form).await;
        }
    };
    let actor = actor(&admin);
    state
        .db
        .run(move |conn| store::add_provider(conn, &new, &actor))
        .await?;
    super::providers_changed(&req);
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
    let deleted = state
        .db
        .run(move |conn| store::delete_provider(conn, &id, &actor))
        .await;
    if let Some(refused) = refused(&req, &state, &deleted).await {
        return refused;
    }
    if !deleted? {
        return Err(AppError::NotFound);
    }
    super::providers_changed(&req);
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
    let saved = state
        .db
        .run(move |conn| store::set_role_options(conn, &opts, &actor))
        .await;
    if let Some(refused) = refused(&req, &state, &saved).await {
        return refused;
    }
    saved?;
    Ok(page::done(
        &req,
        "/integrations/sso",
        "success",
        "The roles' sign-in options were saved.",
    ))
}

/// The submitted provider with its secret sealed (empty when editing left it out), or why
/// the form is refused.
async fn parsed(
    state: &AppState,
    pairs: &Pairs,
    editing: bool,
) -> Result<Result<NewProvider, String>, AppError> {
    let known = state.db.run(|conn| Ok(roles::role_names(conn)?)).await?;
    let mut new = match parse(pairs, &known, editing) {
        Ok(new) => new,
        Err(e) => return Ok(Err(e)),
    };
    if !new.client_secret_enc.is_empty() {
        new.client_secret_enc = super::sealer(state)
            .seal(&new.client_secret_enc)
            .map_err(AppError::internal)?;
    }
    Ok(Ok(new))
}

/// The page again with the reason, when a change was refused because it would lock every
/// administrator out (nothing changed).
async fn refused<T>(
    req: &HttpRequest,
    state: &AppState,
    result: &Result<T, AppError>,
) -> Option<Result<HttpResponse, AppError>> {
    let Err(AppError::Conflict(reason)) = result else {
        return None;
    };
    let form = ProviderForm::blank();
    Some(render(Layout::build(req), state, Some(reason.clone()), form).await)
}

async fn edit_page(
    layout: Layout,
    state: &AppState,
    id: String,
    error: Option<String>,
    typed: Option<ProviderForm>,
) -> Result<HttpResponse, AppError> {
    let pid = id.clone();
    let (found, roles) = state
        .db
        .run(move |conn| Ok((store::provider(conn, &pid)?, store::role_options(conn)?)))
        .await?;
    let found = found.ok_or(AppError::NotFound)?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let form = typed.unwrap_or_else(|| ProviderForm::of(&found));
    let page = SsoEditPage {
        layout,
        id,
        roles,
        error,
        form,
    };
    page::render(status, &page)
}

pub async fn edit(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    edit_page(layout, &state, path.into_inner(), None, None).await
}

pub async fn update(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let new = match parsed(&state, &pairs, true).await? {
        Ok(new) => new,
        Err(e) => {
            let typed = Some(ProviderForm::typed(&pairs, true));
            return edit_page(Layout::build(&req), &state, id, Some(e), typed).await;
        }
    };
    let actor = actor(&admin);
    if !state
        .db
        .run(move |conn| store::update_provider(conn, &id, &new, &actor))
        .await?
    {
        return Err(AppError::NotFound);
    }
    super::providers_changed(&req);
    let message = "The provider was saved.";
    Ok(page::done(&req, "/integrations/sso", "success", message))
}

/// Enable (`enabled=yes`) or disable (`enabled=no`) a provider.
pub async fn status(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    let enabled = match get(&pairs, "enabled") {
        Some("yes") => true,
        Some("no") => false,
        _ => return Err(AppError::Invalid("Say enabled=yes or enabled=no.".into())),
    };
    let (id, actor) = (path.into_inner(), actor(&admin));
    let done = state
        .db
        .run(move |conn| store::set_enabled(conn, &id, enabled, &actor))
        .await;
    if let Some(refused) = refused(&req, &state, &done).await {
        return refused;
    }
    if !done? {
        return Err(AppError::NotFound);
    }
    super::providers_changed(&req);
    let message = if enabled {
        "The provider was enabled; its button is on the sign-in page."
    } else {
        "The provider was disabled: no button, and sign-ins through it are refused."
    };
    Ok(page::done(&req, "/integrations/sso", "success", message))
}
