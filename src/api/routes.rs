//! `/api/v1`: the tables the token's role may read, their rows with the same `q`, `sort`,
//! `page`, `per_page` and `{column}__{op}` parameters as the UI, and single rows to read,
//! create, change (optionally guarded by `If-Match` with the row's ETag) and delete —
//! through the same store, permissions, hidden columns and audit as the pages.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value as Json, json};

use crate::api::auth::ApiAccess;
use crate::api::json::{
    body_object, invalid_values, page_json, row_response, values_from_json, write_problem,
};
use crate::api::params;
use crate::audit::Actor;
use crate::catalog::{CatalogCache, Table};
use crate::engine::keys;
use crate::engine::query::ListQuery;
use crate::engine::store::{self, CountCache, Row};
use crate::error::AppError;
use crate::identity::permissions::Action;
use crate::state::AppState;
use crate::web::saved;
use crate::web::table::VisibleTable;

pub async fn tables(
    access: ApiAccess,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let catalog = access.catalog(&state, &catalog).await?;
    let list: Vec<Json> = catalog
        .tables
        .values()
        .map(|t| table_json(&access, t))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "tables": list })))
}

fn table_json(access: &ApiAccess, t: &Table) -> Json {
    let a = access.0.actions(t);
    json!({
        "name": t.name,
        "view": t.is_view,
        "key": t.key_columns(),
        "columns": t.columns.iter().map(|c| json!({ "name": c.name, "type": c.data_type, "nullable": c.nullable })).collect::<Vec<_>>(),
        "actions": { "read": a.read, "create": a.create, "update": a.update, "delete": a.delete },
    })
}

pub async fn list(
    req: HttpRequest,
    access: ApiAccess,
    state: web::Data<AppState>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let VisibleTable { catalog, table, .. } =
        VisibleTable::of_token(&req, &access.0.rights).await?;
    let query = params::checked_list_query(req.query_string(), &table, state.db.backend())?;
    let opened = saved::open(&state, &access.0, &table, &query).await?;
    let q = ListQuery::parse(&opened.query, &table)?;
    let (t, query, counts) = (table.clone(), q.clone(), counts.clone());
    let page = state
        .db
        .read(move |conn| store::list(conn, &catalog, &t, &query, &counts))
        .await?;
    Ok(HttpResponse::Ok().json(page_json(&table, &q, &page)))
}

/// The row the path names, as it is now.
async fn fetch(state: &AppState, visible: &VisibleTable) -> Result<Row, AppError> {
    let key = keys::from_path(visible.key.as_deref(), &visible.table)?;
    let t = visible.table.clone();
    state.db.run(move |conn| store::get(conn, &t, &key)).await
}

pub async fn show(
    req: HttpRequest,
    access: ApiAccess,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let visible = VisibleTable::of_token(&req, &access.0.rights).await?;
    let row = fetch(&state, &visible).await?;
    Ok(row_response(HttpResponse::Ok(), &visible.table, &row))
}

pub async fn create(
    req: HttpRequest,
    access: ApiAccess,
    state: web::Data<AppState>,
    body: web::Json<Json>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let VisibleTable { catalog, table, .. } =
        VisibleTable::of_token(&req, &access.0.rights).await?;
    access.0.require(&table, Action::Create)?;
    let values = match values_from_json(&table, state.db.backend(), body_object(&body)?, true) {
        Ok(v) => v,
        Err(errors) => return Ok(invalid_values(&errors)),
    };
    let (t, actor) = (table.clone(), Actor::from(&access.0.user));
    let result = state
        .db
        .run(move |conn| Ok(store::insert_checked(conn, &catalog, &t, &values, &actor)))
        .await?;
    match counts.written(&table.name, result) {
        Ok(row) => {
            let mut created = HttpResponse::Created();
            created.insert_header(("Location", row_location(&table, &row)));
            Ok(row_response(created, &table, &row))
        }
        Err(e) => write_problem(e),
    }
}

fn row_location(table: &Table, row: &Row) -> String {
    format!(
        "/api/v1/tables/{}/rows/{}",
        keys::encode_part(&table.name),
        row.key_path()
    )
}

pub async fn update(
    req: HttpRequest,
    access: ApiAccess,
    state: web::Data<AppState>,
    body: web::Json<Json>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let visible = VisibleTable::of_token(&req, &access.0.rights).await?;
    access.0.require(&visible.table, Action::Update)?;
    let current = fetch(&state, &visible).await?;
    let values = match values_from_json(
        &visible.table,
        state.db.backend(),
        body_object(&body)?,
        false,
    ) {
        Ok(v) => v,
        Err(errors) => return Ok(invalid_values(&errors)),
    };
    let version = if_match(&req).unwrap_or_else(|| current.version());
    let VisibleTable { catalog, table, .. } = visible;
    let (t, actor) = (table.clone(), Actor::from(&access.0.user));
    let result = state
        .db
        .run(move |conn| {
            let key = &current.key;
            Ok(store::update_checked(
                conn, &catalog, &t, key, &version, &values, &actor,
            ))
        })
        .await?;
    match counts.written(&table.name, result) {
        Ok(row) => Ok(row_response(HttpResponse::Ok(), &table, &row)),
        Err(e) => write_problem(e),
    }
}

/// The version an update is made from. If-Match guards against lost updates; without it
/// the change applies to the row as it is now (still checked again inside the transaction).
fn if_match(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("if-match")?.to_str().ok()?;
    Some(
        value
            .trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_string(),
    )
}

pub async fn delete(
    req: HttpRequest,
    access: ApiAccess,
    state: web::Data<AppState>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let VisibleTable {
        catalog,
        table,
        key,
    } = VisibleTable::of_token(&req, &access.0.rights).await?;
    access.0.require(&table, Action::Delete)?;
    let key = keys::from_path(key.as_deref(), &table)?;
    let (t, actor) = (table.clone(), Actor::from(&access.0.user));
    let result = state
        .db
        .run(move |conn| Ok(store::delete(conn, &catalog, &t, &key, &actor)))
        .await?;
    match counts.written(&table.name, result) {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(e) => write_problem(e),
    }
}
