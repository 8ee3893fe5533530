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

use crate::audit::store::{self as audit, Actor};
use crate::auth::tokens::{random_token, sha256_hex};
use crate::db::schema::gh_api_tokens as t;
use crate::db::{self, DbConn, new_id, now};
use crate::error::AppError;
use crate::users::permissions::Admin;
use crate::users::store as users;
use crate::web::page::{self, Layout, Page};
use crate::web::{AppState, flash};

pub const TOKEN_PREFIX: &str = "ghp_";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/integrations/tokens", web::get().to(index))
        .route("/integrations/tokens", web::post().to(create))
        .route("/integrations/tokens/{id}/revoke", web::post().to(revoke));
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub token_hash: String,
    pub role: String,
    pub created_by: Option<String>,
    pub created_by_email: String,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

impl ApiToken {
    pub fn usable(&self, now: NaiveDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<ApiToken>> {
    t::table
        .select(ApiToken::as_select())
        .order(t::created_at.desc())
        .load(conn)
}

/// The live token whose value hashes to `hash`.
pub fn find_usable(
    conn: &mut DbConn,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<ApiToken>> {
    let token = t::table
        .filter(t::token_hash.eq(hash))
        .select(ApiToken::as_select())
        .first(conn)
        .optional()?;
    Ok(token.filter(|tok| tok.usable(now)))
}

/// Last use, written at most once a minute per token.
pub fn touch(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    let minute_ago = now - chrono::Duration::minutes(1);
    diesel::update(
        t::table
            .find(id)
            .filter(t::last_used_at.is_null().or(t::last_used_at.lt(minute_ago))),
    )
    .set(t::last_used_at.eq(Some(now)))
    .execute(conn)
}

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
        .run(|conn| {
            Ok((
                list(conn)?,
                users::roles(conn)?.into_iter().map(|r| r.name).collect(),
            ))
        })
        .await
}

async fn index(
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
struct NewToken {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    expires_days: String,
}

async fn create(
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

async fn revoke(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
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
    state.api_tokens.forget_all();
    Ok(page::see_other(&req, "/integrations/tokens")
        .cookie(flash::cookie(
            "success",
            "Token revoked: it stopped working now.",
            state.config.secure_cookies(),
        ))
        .finish())
}
