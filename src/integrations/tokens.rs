//! API tokens: created by an administrator with a name, a role (never more than the
//! creator's) and an expiry; the value is shown once and only its SHA-256 is stored (a token
//! is 256 random bits, so a fast hash is enough); recognisable by its `ghp_` prefix;
//! revoked at once.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::audit::{self, Actor};
use crate::db::secrets::{random_token, sha256_hex};
use crate::db::{self, DbConn, new_id, now};
use crate::error::AppError;
use crate::identity::CurrentUser;
use crate::identity::api_tokens::{self, ApiToken, NewToken, TOKEN_PREFIX, TokenCache};
use crate::identity::permissions::Admin;
use crate::identity::roles;
use crate::integrations::views::TokensPage;
use crate::state::AppState;
use crate::web::page::{self, Layout, Page};

async fn page_data(state: &AppState) -> Result<(Vec<ApiToken>, Vec<String>), AppError> {
    state
        .db
        .run(|conn| Ok((api_tokens::list(conn)?, roles::role_names(conn)?)))
        .await
}

/// The tokens page, with the value of a token just created or why it was not.
async fn tokens_page(
    layout: Layout,
    state: &AppState,
    created: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let (tokens, roles) = page_data(state).await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = TokensPage {
        layout,
        tokens,
        roles,
        created,
        error,
        now: now(),
    };
    page::render(status, &page)
}

pub async fn index(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    tokens_page(layout, &state, None, None).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    expires_days: String,
}

/// A token form that passed the checks.
struct Checked {
    name: String,
    role: String,
    /// Days until it expires; `None` for never.
    days: Option<i64>,
}

/// Check the form against the roles. Never more than the creator has: an administrator
/// may give any role, anyone else only their own.
fn check(form: TokenForm, roles: &[String], creator: &CurrentUser) -> Result<Checked, String> {
    let name = form.name.trim().to_string();
    let days: Option<i64> = match form.expires_days.as_str() {
        "never" => None,
        d => d
            .parse()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .or(Some(90)),
    };
    if name.is_empty() || name.chars().count() > 100 {
        Err("Give the token a name (at most 100 characters), e.g. what will use it.".to_string())
    } else if !roles.contains(&form.role) {
        Err("Choose one of the roles.".to_string())
    } else if creator.role != "admin" && form.role != creator.role {
        Err(format!(
            "You can only give a token your own role ({}).",
            creator.role
        ))
    } else {
        Ok(Checked {
            name,
            role: form.role,
            days,
        })
    }
}

fn insert_token(
    conn: &mut DbConn,
    new: &NewToken<'_>,
    at: chrono::NaiveDateTime,
    actor: &Actor,
) -> Result<(), AppError> {
    db::write_tx(conn, |conn| {
        api_tokens::insert(conn, new, at)?;
        let changes =
            serde_json::json!({ "name": new.name, "role": new.role, "prefix": new.prefix });
        audit::record(
            conn,
            actor,
            "token.created",
            "gh_api_tokens",
            new.id,
            &changes,
        )?;
        Ok(())
    })
}

/// Make and store a new token; returns its value, shown this once.
async fn mint(state: &AppState, creator: &CurrentUser, token: Checked) -> Result<String, AppError> {
    let value = format!("{TOKEN_PREFIX}{}", random_token().replace(['-', '_'], "x"));
    let prefix: String = value.chars().take(TOKEN_PREFIX.len() + 8).collect();
    let hash = sha256_hex(&value);
    let (uid, email, actor) = (
        creator.id.clone(),
        creator.email.clone(),
        Actor::from(creator),
    );
    state
        .db
        .run(move |conn| {
            let (at, id) = (now(), new_id());
            let new = NewToken {
                id: &id,
                name: &token.name,
                prefix: &prefix,
                token_hash: &hash,
                role: &token.role,
                created_by: &uid,
                created_by_email: &email,
                expires_at: token.days.map(|d| at + chrono::Duration::days(d)),
            };
            insert_token(conn, &new, at, &actor)
        })
        .await?;
    Ok(value)
}

pub async fn create(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, AppError> {
    let (_, roles) = page_data(&state).await?;
    match check(form.into_inner(), &roles, &admin.0.user) {
        Ok(token) => {
            let value = mint(&state, &admin.0.user, token).await?;
            tokens_page(Layout::build(&req), &state, Some(value), None).await
        }
        Err(error) => tokens_page(Layout::build(&req), &state, None, Some(error)).await,
    }
}

fn revoke_token(conn: &mut DbConn, id: &str, actor: &Actor) -> Result<usize, AppError> {
    db::write_tx(conn, |conn| {
        let n = api_tokens::revoke(conn, id, now())?;
        if n == 1 {
            let changes = serde_json::json!({});
            audit::record(conn, actor, "token.revoked", "gh_api_tokens", id, &changes)?;
        }
        Ok(n)
    })
}

pub async fn revoke(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    token_cache: web::Data<TokenCache>,
) -> Result<HttpResponse, AppError> {
    let (id, actor) = (id.into_inner(), Actor::from(&admin.0.user));
    let n = state
        .db
        .run(move |conn| revoke_token(conn, &id, &actor))
        .await?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    token_cache.forget_all();
    let message = "Token revoked: it stopped working now.";
    Ok(page::done(&req, "/integrations/tokens", "success", message))
}
