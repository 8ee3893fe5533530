//! `/integrations/webhooks`, for administrators: endpoints with their events and health, a
//! delivery log with every attempt, "send test event", "redeliver", secret rotation (the old
//! secret stays valid for 24 hours, both signatures are sent), reveal, enable, delete.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use diesel::prelude::*;

use crate::audit::{self, Actor};
use crate::catalog::CatalogCache;
use crate::db::schema::gh_webhook_endpoints as e;
use crate::db::secrets::Sealer;
use crate::db::{self, new_id, now};
use crate::error::AppError;
use crate::events::outbox::{self as events, Endpoint};
use crate::identity::permissions::Admin;
use crate::integrations::signing;
use crate::integrations::store::{self as outbox, Delivery, OutboxRow};
use crate::integrations::worker::check_destination;
use crate::state::{AppState, app_data};
use crate::web::flash;
use crate::web::form::{Pairs, get};
use crate::web::page::{self, Layout, Page};

#[derive(Template)]
#[template(path = "integrations/webhooks.html")]
struct IndexPage {
    layout: Layout,
    endpoints: Vec<Endpoint>,
    tables: Vec<String>,
    roles: Vec<String>,
    error: Option<String>,
    url: String,
    description: String,
}

#[derive(Template)]
#[template(path = "integrations/webhook.html")]
struct EndpointPage {
    layout: Layout,
    endpoint: Endpoint,
    events: Vec<(OutboxRow, Vec<Delivery>)>,
    secret: Option<String>,
}

fn actor(admin: &Admin) -> Actor {
    Actor {
        user_id: Some(admin.0.user.id.clone()),
        email: admin.0.user.email.clone(),
    }
}

async fn index_page(
    req: &HttpRequest,
    state: &AppState,
    error: Option<String>,
    url: String,
    description: String,
) -> Result<HttpResponse, AppError> {
    let catalog = app_data::<CatalogCache>(req)?;
    let cache = catalog.clone();
    let (endpoints, tables, roles) = state
        .db
        .run(move |conn| {
            let tables = cache.get(conn)?.tables.keys().cloned().collect();
            Ok((
                outbox::endpoints(conn)?,
                tables,
                crate::identity::roles::role_names(conn)?,
            ))
        })
        .await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page::render(
        status,
        &IndexPage {
            layout: Layout::build(req),
            endpoints,
            tables,
            roles,
            error,
            url,
            description,
        },
    )
}

pub async fn index(
    req: HttpRequest,
    _admin: Admin,
    _page: Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    index_page(&req, &state, None, String::new(), String::new()).await
}

pub async fn create(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    let pairs = pairs.into_inner();
    let url = get(&pairs, "url").unwrap_or("").trim().to_string();
    let description: String = get(&pairs, "description")
        .unwrap_or("")
        .trim()
        .chars()
        .take(200)
        .collect();
    let role = get(&pairs, "role").unwrap_or("viewer").to_string();
    let events: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "event")
        .map(|(_, v)| v.clone())
        .collect();
    let problem = if events.is_empty() {
        Some("Choose at least one event.".to_string())
    } else {
        check_destination(&url, state.config.webhook_allow_private)
            .await
            .err()
    };
    if let Some(error) = problem {
        return index_page(
            &req,
            &state,
            Some(format!("This endpoint was not saved: {error}")),
            url,
            description,
        )
        .await;
    }
    let secret = signing::new_secret();
    let sealed = Sealer::new(state.config.secret_key.bytes())
        .seal(&secret)
        .map_err(AppError::internal)?;
    let id = new_id();
    let (i, a) = (id.clone(), actor(&admin));
    state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                diesel::insert_into(e::table)
                    .values((
                        e::id.eq(&i),
                        e::url.eq(&url),
                        e::description.eq(&description),
                        e::events
                            .eq(serde_json::to_string(&events).unwrap_or_else(|_| "[]".into())),
                        e::role.eq(&role),
                        e::enabled.eq(true),
                        e::secret_enc.eq(&sealed),
                        e::created_at.eq(now()),
                    ))
                    .execute(conn)?;
                audit::record(
                    conn,
                    &a,
                    "webhook.created",
                    "gh_webhook_endpoints",
                    &i,
                    &serde_json::json!({ "url": url, "events": events }),
                )?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
    endpoint_page(&req, &state, &id, Some(secret)).await
}

async fn endpoint_page(
    req: &HttpRequest,
    state: &AppState,
    id: &str,
    secret: Option<String>,
) -> Result<HttpResponse, AppError> {
    let id = id.to_string();
    let (endpoint, events) = state
        .db
        .run(move |conn| {
            let ep = outbox::endpoint(conn, &id)?.ok_or(AppError::NotFound)?;
            let events = outbox::recent_events(conn, &ep.id, 50)?;
            Ok((ep, events))
        })
        .await?;
    page::ok(&EndpointPage {
        layout: Layout::build(req),
        endpoint,
        events,
        secret,
    })
}

pub async fn show(
    req: HttpRequest,
    _admin: Admin,
    _page: Page,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    endpoint_page(&req, &state, &id, None).await
}

fn back(req: &HttpRequest, state: &AppState, id: &str, message: &str) -> HttpResponse {
    page::see_other(req, &format!("/integrations/webhooks/{id}"))
        .cookie(flash::cookie(
            "success",
            message,
            state.config.secure_cookies(),
        ))
        .finish()
}

pub async fn test(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (i, who) = (id.into_inner(), admin.0.user.email.clone());
    let ep = i.clone();
    state
        .db
        .run(move |conn| {
            outbox::endpoint(conn, &ep)?.ok_or(AppError::NotFound)?;
            let at = now();
            let payload = serde_json::json!({
                "type": "webhook.test",
                "timestamp": at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "data": { "message": "A test event from Gatehouse.", "actor": who },
            });
            events::enqueue(conn, &ep, "webhook.test", &payload.to_string(), at)?;
            Ok(())
        })
        .await?;
    Ok(back(
        &req,
        &state,
        &i,
        "Test event queued; it is delivered within a second.",
    ))
}

pub async fn redeliver(
    req: HttpRequest,
    _admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, msg) = path.into_inner();
    let n = state
        .db
        .run(move |conn| Ok(outbox::redeliver(conn, &msg, now())?))
        .await?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    Ok(back(
        &req,
        &state,
        &id,
        "Queued for delivery again (same webhook-id).",
    ))
}

pub async fn rotate(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let secret = signing::new_secret();
    let sealed = Sealer::new(state.config.secret_key.bytes())
        .seal(&secret)
        .map_err(AppError::internal)?;
    let (i, a) = (id.clone(), actor(&admin));
    state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                let ep = outbox::endpoint(conn, &i)?.ok_or(AppError::NotFound)?;
                diesel::update(e::table.find(&i))
                    .set((
                        e::secret_enc.eq(&sealed),
                        e::old_secret_enc.eq(Some(&ep.secret_enc)),
                        e::old_secret_until.eq(Some(now() + chrono::Duration::hours(24))),
                    ))
                    .execute(conn)?;
                audit::record(
                    conn,
                    &a,
                    "webhook.secret_rotated",
                    "gh_webhook_endpoints",
                    &i,
                    &serde_json::json!({}),
                )?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
    endpoint_page(&req, &state, &id, Some(secret)).await
}

pub async fn reveal(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let (i, a) = (id.clone(), actor(&admin));
    let sealed = state
        .db
        .run(move |conn| {
            let ep = outbox::endpoint(conn, &i)?.ok_or(AppError::NotFound)?;
            audit::record(
                conn,
                &a,
                "webhook.secret_revealed",
                "gh_webhook_endpoints",
                &i,
                &serde_json::json!({}),
            )?;
            Ok(ep.secret_enc)
        })
        .await?;
    let secret = Sealer::new(state.config.secret_key.bytes())
        .open(&sealed)
        .map_err(AppError::internal)?;
    endpoint_page(&req, &state, &id, Some(secret)).await
}

async fn set_enabled(
    req: &HttpRequest,
    admin: &Admin,
    state: &AppState,
    id: String,
    enabled: bool,
) -> Result<HttpResponse, AppError> {
    let (i, a) = (id.clone(), actor(admin));
    let n = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                let n = diesel::update(e::table.find(&i))
                    .set((
                        e::enabled.eq(enabled),
                        e::disabled_reason.eq(None::<String>),
                        e::failing_since.eq(None::<chrono::NaiveDateTime>),
                    ))
                    .execute(conn)?;
                let action = if enabled {
                    "webhook.enabled"
                } else {
                    "webhook.disabled"
                };
                if n == 1 {
                    audit::record(
                        conn,
                        &a,
                        action,
                        "gh_webhook_endpoints",
                        &i,
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
    Ok(back(
        req,
        state,
        &id,
        if enabled {
            "Endpoint enabled."
        } else {
            "Endpoint disabled."
        },
    ))
}

pub async fn enable(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    set_enabled(&req, &admin, &state, id.into_inner(), true).await
}

pub async fn disable(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    set_enabled(&req, &admin, &state, id.into_inner(), false).await
}

pub async fn delete(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (i, a) = (id.into_inner(), actor(&admin));
    let n = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                let n = diesel::delete(e::table.find(&i)).execute(conn)?;
                if n == 1 {
                    audit::record(
                        conn,
                        &a,
                        "webhook.deleted",
                        "gh_webhook_endpoints",
                        &i,
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
    Ok(page::see_other(&req, "/integrations/webhooks")
        .cookie(flash::cookie(
            "success",
            "Endpoint deleted.",
            state.config.secure_cookies(),
        ))
        .finish())
}
