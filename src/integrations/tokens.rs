//! API tokens: created by an administrator with a name, a role (never more than the
//! creator's) and an expiry; the value is shown once and only its SHA-256 is stored (a token
//! is 256 random bits, so a fast hash is enough); recognisable by its `ghp_` prefix;
//! revoked at once.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Deserialize;

use crate::audit::{self, Actor};
use crate::db::schema::gh_api_tokens as t;
use crate::db::secrets::{random_token, sha256_hex};
use crate::db::{self, new_id, now};
use crate::error::AppError;
use crate::identity::api_tokens::{ApiToken, TOKEN_PREFIX, TokenCache, list};
use crate::identity::permissions::Admin;
use crate::state::AppState;
use crate::web::flash;
use crate::web::page::{self, Layout, Page};

#[derive(Template)]
#[template(path = "integrations/tokens.html")]
struct TokensPage {
    layout: Layout,
    tokens: Vec<ApiToken>,
    roles: Vec<String>,
    created: Option<String>,
    error: Option<String>,
    now: NaiveDateTime,
}

async fn page_data(state: &AppState) -> Result<(Vec<ApiToken>, Vec<String>), AppError> {
    state
        .db
        .run(|conn| Ok((list(conn)?, crate::identity::roles::role_names(conn)?)))
        .await
}

pub async fn index(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (tokens, roles) = page_data(&state).await?;
    page::ok(&TokensPage {
        layout,
        tokens,
        roles,
        created: None,
        error: None,
        now: now(),
    })
}

#[derive(Deserialize)]
pub struct NewToken {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    expires_days: String,
}

pub async fn create(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    form: web::Form<NewToken>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let (_, roles) = page_data(&state).await?;
    let creator = &admin.0.user;
    let name = form.name.trim().to_string();
    let days: Option<i64> = match form.expires_days.as_str() {
        "never" => None,
        d => d
            .parse()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .or(Some(90)),
    };
    // Never more than the creator has: an administrator may give any role, anyone else
    // only their own.
    let error = if name.is_empty() || name.chars().count() > 100 {
        Some("Give the token a name (at most 100 characters), e.g. what will use it.".to_string())
    } else if !roles.contains(&form.role) {
        Some("Choose one of the roles.".to_string())
    } else if creator.role != "admin" && form.role != creator.role {
        Some(format!(
            "You can only give a token your own role ({}).",
            creator.role
        ))
    } else {
        None
    };
    if let Some(error) = error {
        let (tokens, roles) = page_data(&state).await?;
        return page::render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &TokensPage {
                layout: Layout::build(&req),
                tokens,
                roles,
                created: None,
                error: Some(error),
                now: now(),
            },
        );
    }
    let value = format!("{TOKEN_PREFIX}{}", random_token().replace(['-', '_'], "x"));
    let prefix: String = value.chars().take(TOKEN_PREFIX.len() + 8).collect();
    let (hash, role, uid, email) = (
        sha256_hex(&value),
        form.role.clone(),
        creator.id.clone(),
        creator.email.clone(),
    );
    let actor = Actor {
        user_id: Some(uid.clone()),
        email: email.clone(),
    };
    let p = prefix.clone();
    state
        .db
        .run(move |conn| {
            let at = now();
            let id = new_id();
            db::write_tx(conn, |conn| {
                diesel::insert_into(t::table)
                    .values((
                        t::id.eq(&id),
                        t::name.eq(&name),
                        t::prefix.eq(&p),
                        t::token_hash.eq(&hash),
                        t::role.eq(&role),
                        t::created_by.eq(Some(&uid)),
                        t::created_by_email.eq(&email),
                        t::created_at.eq(at),
                        t::expires_at.eq(days.map(|d| at + chrono::Duration::days(d))),
                    ))
                    .execute(conn)?;
                audit::record(
                    conn,
                    &actor,
                    "token.created",
                    "gh_api_tokens",
                    &id,
                    &serde_json::json!({ "name": name, "role": role, "prefix": p }),
                )?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
    let (tokens, roles) = page_data(&state).await?;
    page::ok(&TokensPage {
        layout: Layout::build(&req),
        tokens,
        roles,
        created: Some(value),
        error: None,
        now: now(),
    })
}

pub async fn revoke(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    token_cache: web::Data<TokenCache>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = Actor {
        user_id: Some(admin.0.user.id.clone()),
        email: admin.0.user.email.clone(),
    };
    let n = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                let n = diesel::update(t::table.find(&id).filter(t::revoked_at.is_null()))
                    .set(t::revoked_at.eq(Some(now())))
                    .execute(conn)?;
                if n == 1 {
                    audit::record(
                        conn,
                        &actor,
                        "token.revoked",
                        "gh_api_tokens",
                        &id,
                        &serde_json::json!({}),
                    )?;
                }
                Ok::<_, AppError>(n)
            })
        })
        .await?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    token_cache.forget_all();
    Ok(page::see_other(&req, "/integrations/tokens")
        .cookie(flash::cookie(
            "success",
            "Token revoked: it stopped working now.",
            state.config.secure_cookies(),
        ))
        .finish())
}
