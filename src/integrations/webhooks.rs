//! `/integrations/webhooks`, for administrators: endpoints with their events and health, a
//! delivery log with every attempt, "send test event", "redeliver", secret rotation (the old
//! secret stays valid for 24 hours, both signatures are sent), reveal, enable, delete.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::audit::{self, Actor};
use crate::catalog::CatalogCache;
use crate::db::secrets::Sealer;
use crate::db::{self, DbConn, new_id, now};
use crate::error::AppError;
use crate::events::outbox;
use crate::identity::permissions::Admin;
use crate::identity::roles;
use crate::integrations::signing;
use crate::integrations::store::{self, NewEndpoint};
use crate::integrations::views::{EndpointPage, WebhooksPage};
use crate::integrations::worker::check_destination;
use crate::state::{AppState, app_data};
use crate::web::form::{Pairs, get};
use crate::web::page::{self, Layout, Page};

async fn index_page(
    req: &HttpRequest,
    state: &AppState,
    error: Option<String>,
    url: String,
    description: String,
) -> Result<HttpResponse, AppError> {
    let catalog = app_data::<CatalogCache>(req)?;
    let (endpoints, tables, roles) = state
        .db
        .run(move |conn| {
            let tables = catalog.get(conn)?.tables.keys().cloned().collect();
            Ok((store::endpoints(conn)?, tables, roles::role_names(conn)?))
        })
        .await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page::render(
        status,
        &WebhooksPage {
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

/// Audit a change of endpoint `id` when it touched a row; returns `n`.
fn audited(
    conn: &mut DbConn,
    n: usize,
    actor: &Actor,
    action: &str,
    id: &str,
    changes: serde_json::Value,
) -> Result<usize, AppError> {
    if n == 1 {
        audit::record(conn, actor, action, "gh_webhook_endpoints", id, &changes)?;
    }
    Ok(n)
}

/// The endpoint the form describes (its secret not yet set), the URL and description
/// kept to show the form again.
fn endpoint_from(pairs: &Pairs) -> NewEndpoint {
    NewEndpoint {
        url: get(pairs, "url").unwrap_or("").trim().to_string(),
        description: get(pairs, "description")
            .unwrap_or("")
            .trim()
            .chars()
            .take(200)
            .collect(),
        events: pairs
            .iter()
            .filter(|(k, _)| k == "event")
            .map(|(_, v)| v.clone())
            .collect(),
        role: get(pairs, "role").unwrap_or("viewer").to_string(),
        secret_sealed: String::new(),
    }
}

fn insert_endpoint(
    conn: &mut DbConn,
    id: &str,
    new: &NewEndpoint,
    actor: &Actor,
) -> Result<(), AppError> {
    db::write_tx(conn, |conn| {
        store::insert_endpoint(conn, id, new, now())?;
        let changes = serde_json::json!({ "url": new.url, "events": new.events });
        audited(conn, 1, actor, "webhook.created", id, changes)?;
        Ok(())
    })
}

fn sealer(state: &AppState) -> Sealer {
    Sealer::new(state.config.secret_key.bytes())
}

pub async fn create(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    let mut new = endpoint_from(&pairs);
    let problem = if new.events.is_empty() {
        Some("Choose at least one event.".to_string())
    } else {
        let allow_private = state.config.webhook_allow_private;
        check_destination(&new.url, allow_private).await.err()
    };
    if let Some(error) = problem {
        let error = Some(format!("This endpoint was not saved: {error}"));
        return index_page(&req, &state, error, new.url, new.description).await;
    }
    let secret = signing::new_secret();
    new.secret_sealed = sealer(&state).seal(&secret).map_err(AppError::internal)?;
    let (id, actor) = (new_id(), Actor::from(&admin.0.user));
    let i = id.clone();
    state
        .db
        .run(move |conn| insert_endpoint(conn, &i, &new, &actor))
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
            let ep = store::endpoint(conn, &id)?.ok_or(AppError::NotFound)?;
            let events = store::recent_events(conn, &ep.id, 50)?;
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

/// Back to the endpoint's page with a message.
fn back(req: &HttpRequest, id: &str, message: &str) -> HttpResponse {
    page::done(
        req,
        &format!("/integrations/webhooks/{id}"),
        "success",
        message,
    )
}

/// Queue a `webhook.test` event for endpoint `id`, sent in the name of `who`.
fn queue_test(conn: &mut DbConn, id: &str, who: &str) -> Result<(), AppError> {
    store::endpoint(conn, id)?.ok_or(AppError::NotFound)?;
    let at = now();
    let payload = serde_json::json!({
        "type": "webhook.test",
        "timestamp": outbox::timestamp(at),
        "data": { "message": "A test event from Gatehouse.", "actor": who },
    });
    outbox::enqueue(conn, id, "webhook.test", &payload.to_string(), at)?;
    Ok(())
}

pub async fn test(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (id, who) = (id.into_inner(), admin.0.user.email.clone());
    let ep = id.clone();
    state
        .db
        .run(move |conn| queue_test(conn, &ep, &who))
        .await?;
    let message = "Test event queued; it is delivered within a second.";
    Ok(back(&req, &id, message))
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
        .run(move |conn| Ok(store::redeliver(conn, &msg, now())?))
        .await?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    Ok(back(
        &req,
        &id,
        "Queued for delivery again (same webhook-id).",
    ))
}

fn rotate_secret(conn: &mut DbConn, id: &str, sealed: &str, actor: &Actor) -> Result<(), AppError> {
    db::write_tx(conn, |conn| {
        let ep = store::endpoint(conn, id)?.ok_or(AppError::NotFound)?;
        store::rotate_secret(conn, &ep, sealed, now())?;
        audited(
            conn,
            1,
            actor,
            "webhook.secret_rotated",
            id,
            serde_json::json!({}),
        )?;
        Ok(())
    })
}

pub async fn rotate(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let secret = signing::new_secret();
    let sealed = sealer(&state).seal(&secret).map_err(AppError::internal)?;
    let (i, actor) = (id.clone(), Actor::from(&admin.0.user));
    state
        .db
        .run(move |conn| rotate_secret(conn, &i, &sealed, &actor))
        .await?;
    endpoint_page(&req, &state, &id, Some(secret)).await
}

/// The sealed secret of endpoint `id`, audited as revealed.
fn sealed_secret(conn: &mut DbConn, id: &str, actor: &Actor) -> Result<String, AppError> {
    let ep = store::endpoint(conn, id)?.ok_or(AppError::NotFound)?;
    audited(
        conn,
        1,
        actor,
        "webhook.secret_revealed",
        id,
        serde_json::json!({}),
    )?;
    Ok(ep.secret_enc)
}

pub async fn reveal(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let (i, actor) = (id.clone(), Actor::from(&admin.0.user));
    let sealed = state
        .db
        .run(move |conn| sealed_secret(conn, &i, &actor))
        .await?;
    let secret = sealer(&state).open(&sealed).map_err(AppError::internal)?;
    endpoint_page(&req, &state, &id, Some(secret)).await
}

async fn set_enabled(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    enabled: bool,
) -> Result<HttpResponse, AppError> {
    let (id, actor) = (id.into_inner(), Actor::from(&admin.0.user));
    let (action, message) = if enabled {
        ("webhook.enabled", "Endpoint enabled.")
    } else {
        ("webhook.disabled", "Endpoint disabled.")
    };
    let i = id.clone();
    let n = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                let n = store::set_enabled(conn, &i, enabled)?;
                audited(conn, n, &actor, action, &i, serde_json::json!({}))
            })
        })
        .await?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    Ok(back(&req, &id, message))
}

pub async fn enable(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    set_enabled(req, admin, state, id, true).await
}

pub async fn disable(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    set_enabled(req, admin, state, id, false).await
}

pub async fn delete(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (id, actor) = (id.into_inner(), Actor::from(&admin.0.user));
    let n = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                let n = store::delete_endpoint(conn, &id)?;
                audited(
                    conn,
                    n,
                    &actor,
                    "webhook.deleted",
                    &id,
                    serde_json::json!({}),
                )
            })
        })
        .await?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    Ok(page::done(
        &req,
        "/integrations/webhooks",
        "success",
        "Endpoint deleted.",
    ))
}
