//! `/api/v1`: the tables the token's role may read, their rows with the same `q`, `sort`,
//! `page`, `per_page` and `{column}__{op}` parameters as the UI, and single rows to read,
//! create, change (optionally guarded by `If-Match` with the row's ETag) and delete —
//! through the same store, permissions, hidden columns and audit as the pages.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value as Json, json};

use crate::api::auth::ApiAccess;
use crate::audit::Actor;
use crate::catalog::CatalogCache;
use crate::catalog::{Catalog, Kind, Table};
use crate::engine::errors::WriteError;
use crate::engine::keys;
use crate::engine::query::ListQuery;
use crate::engine::store::CountCache;
use crate::engine::store::{self, Count, Row, count_label};
use crate::engine::value::{Value, parse_input};
use crate::error::AppError;
use crate::identity::permissions::Action;
use crate::state::AppState;
use crate::web::problem::problem;
use crate::web::table::VisibleTable;

fn row_json(table: &Table, row: &Row) -> Json {
    Json::Object(row.to_json(table))
}

/// Table name and raw key segment from the undecoded path.
fn parts(req: &HttpRequest) -> Result<(String, Option<String>), AppError> {
    let rest = req
        .path()
        .strip_prefix("/api/v1/tables/")
        .ok_or(AppError::NotFound)?;
    let segs: Vec<&str> = rest.split('/').collect();
    let table = keys::decode_segment(segs.first().ok_or(AppError::NotFound)?)?;
    Ok((table, segs.get(2).map(|s| s.to_string())))
}

/// The catalog as the token's role sees it, and one table of it: 403 for a table that
/// exists but is not readable, 404 for one that does not exist.
async fn table_for(
    req: &HttpRequest,
    access: &ApiAccess,
) -> Result<(Arc<Catalog>, Arc<Table>), AppError> {
    let v = VisibleTable::of_token(req, &access.0.rights).await?;
    Ok((v.catalog, v.table))
}

pub async fn tables(
    access: ApiAccess,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let (cache, rights) = (catalog.clone(), access.0.rights.clone());
    let catalog = state
        .db
        .run(move |conn| Ok(rights.catalog_view(&cache.get(conn)?)))
        .await?;
    let list: Vec<Json> = catalog
        .tables
        .values()
        .map(|t| {
            let a = access.0.actions(t);
            json!({
                "name": t.name,
                "view": t.is_view,
                "key": t.key_columns(),
                "columns": t.columns.iter().map(|c| json!({ "name": c.name, "type": c.data_type, "nullable": c.nullable })).collect::<Vec<_>>(),
                "actions": { "read": a.read, "create": a.create, "update": a.update, "delete": a.delete },
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "tables": list })))
}

pub async fn list(
    req: HttpRequest,
    access: ApiAccess,
    state: web::Data<AppState>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let (_, _) = parts(&req)?;
    let (catalog, table) = table_for(&req, &access).await?;
    let q = ListQuery::parse(req.query_string(), &table)?;
    let (t, counts, query) = (table.clone(), counts.clone(), q.clone());
    let page = state
        .db
        .run(move |conn| store::list(conn, &catalog, &t, &query, &counts))
        .await?;
    let (value, exact) = match page.count {
        Count::Exact(n) => (n, true),
        Count::AtLeast(n) | Count::About(n) => (n, false),
    };
    Ok(HttpResponse::Ok().json(json!({
        "rows": page.rows.iter().map(|r| row_json(&table, r)).collect::<Vec<_>>(),
        "page": q.page,
        "per_page": q.per_page,
        "has_next": page.has_next,
        "count": { "value": value, "exact": exact, "label": count_label(page.count) },
    })))
}

async fn fetch(state: &AppState, table: &Arc<Table>, raw_key: &str) -> Result<Row, AppError> {
    let key = keys::decode(raw_key, table)?;
    let t = table.clone();
    state
        .db
        .run(move |conn| store::find(conn, &t, &key)?.ok_or(AppError::NotFound))
        .await
}

fn with_etag(mut res: HttpResponse, row: &Row) -> HttpResponse {
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&format!("\"{}\"", row.version()))
    {
        res.headers_mut().insert(actix_web::http::header::ETAG, v);
    }
    res
}

pub async fn show(
    req: HttpRequest,
    access: ApiAccess,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (_, key) = parts(&req)?;
    let (_, table) = table_for(&req, &access).await?;
    let row = fetch(&state, &table, &key.ok_or(AppError::NotFound)?).await?;
    Ok(with_etag(
        HttpResponse::Ok().json(row_json(&table, &row)),
        &row,
    ))
}

/// JSON values to typed column values, or a message per field.
fn values_from_json(
    table: &Table,
    body: &Map<String, Json>,
    creating: bool,
) -> Result<Vec<(usize, Value)>, BTreeMap<String, String>> {
    let mut values = Vec::new();
    let mut errors = BTreeMap::new();
    for (name, v) in body {
        let Some(idx) = table.columns.iter().position(|c| &c.name == name) else {
            errors.insert(
                name.clone(),
                format!("{} has no column '{name}'.", table.name),
            );
            continue;
        };
        let c = &table.columns[idx];
        if !c.editable() || (c.generated && c.primary_key) {
            errors.insert(
                name.clone(),
                "This column is filled in by the database and cannot be set.".into(),
            );
            continue;
        }
        let raw = match v {
            Json::Null if c.nullable => {
                values.push((idx, Value::Null));
                continue;
            }
            Json::Null => {
                errors.insert(name.clone(), "This column cannot be null.".into());
                continue;
            }
            Json::String(s) => s.clone(),
            Json::Bool(b) if c.kind == Kind::Bool => b.to_string(),
            Json::Number(n) if c.kind.is_numeric() => n.to_string(),
            other if c.kind == Kind::Json => other.to_string(),
            other => {
                errors.insert(
                    name.clone(),
                    format!("Expected a value of type {}, not {other}.", c.data_type),
                );
                continue;
            }
        };
        match parse_input(c, &raw) {
            Ok(value) => values.push((idx, value)),
            Err(m) => {
                errors.insert(name.clone(), m);
            }
        }
    }
    if creating {
        for c in table
            .columns
            .iter()
            .filter(|c| c.required() && c.editable())
        {
            if !body.contains_key(&c.name) {
                errors.insert(c.name.clone(), "This column is required.".into());
            }
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

fn write_problem(e: WriteError, table: &Table) -> Result<HttpResponse, AppError> {
    Ok(match e {
        WriteError::Invalid(fields, message) => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid values",
            message
                .as_deref()
                .unwrap_or("Some values were refused; nothing was written."),
            Some(&fields),
        ),
        WriteError::ForeignKey(m) => {
            problem(StatusCode::CONFLICT, "Refused by a foreign key", &m, None)
        }
        WriteError::Conflict(current) => {
            let mut res = problem(
                StatusCode::PRECONDITION_FAILED,
                "The row changed",
                "The row is no longer the version given in If-Match; fetch it again.",
                None,
            );
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&format!(
                "\"{}\"",
                current.version()
            )) {
                res.headers_mut().insert(actix_web::http::header::ETAG, v);
            }
            let _ = table;
            res
        }
        WriteError::App(e) => return Err(e),
    })
}

fn body_object(body: &Json) -> Result<&Map<String, Json>, AppError> {
    body.as_object().ok_or_else(|| {
        AppError::Invalid("The body must be a JSON object of column names to values.".into())
    })
}

pub async fn create(
    req: HttpRequest,
    access: ApiAccess,
    state: web::Data<AppState>,
    body: web::Json<Json>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let (_, _) = parts(&req)?;
    let (catalog, table) = table_for(&req, &access).await?;
    access.0.require(&table, Action::Create)?;
    let values = match values_from_json(&table, body_object(&body)?, true) {
        Ok(v) => v,
        Err(errors) => {
            return Ok(problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid values",
                "Some values were refused; nothing was written.",
                Some(&errors),
            ));
        }
    };
    let (t, actor) = (table.clone(), Actor::from(&access.0.user));
    let result = state
        .db
        .run(move |conn| Ok(store::insert_checked(conn, &catalog, &t, &values, &actor)))
        .await?;
    match result {
        Ok(row) => {
            counts.invalidate(&table.name);
            let location = format!(
                "/api/v1/tables/{}/rows/{}",
                keys::encode_part(&table.name),
                row.key_path()
            );
            Ok(with_etag(
                HttpResponse::Created()
                    .insert_header(("Location", location))
                    .json(row_json(&table, &row)),
                &row,
            ))
        }
        Err(e) => write_problem(e, &table),
    }
}

pub async fn update(
    req: HttpRequest,
    access: ApiAccess,
    state: web::Data<AppState>,
    body: web::Json<Json>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let (_, key) = parts(&req)?;
    let (catalog, table) = table_for(&req, &access).await?;
    access.0.require(&table, Action::Update)?;
    let current = fetch(&state, &table, &key.ok_or(AppError::NotFound)?).await?;
    let values = match values_from_json(&table, body_object(&body)?, false) {
        Ok(v) => v,
        Err(errors) => {
            return Ok(problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid values",
                "Some values were refused; nothing was written.",
                Some(&errors),
            ));
        }
    };
    // If-Match guards against lost updates; without it the change applies to the row as
    // it is now (still checked again inside the transaction).
    let version = req
        .headers()
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_string()
        })
        .unwrap_or_else(|| current.version());
    let (t, k, actor) = (
        table.clone(),
        current.key.clone(),
        Actor::from(&access.0.user),
    );
    let result = state
        .db
        .run(move |conn| {
            Ok(store::update_checked(
                conn, &catalog, &t, &k, &version, &values, &actor,
            ))
        })
        .await?;
    match result {
        Ok(row) => {
            counts.invalidate(&table.name);
            Ok(with_etag(
                HttpResponse::Ok().json(row_json(&table, &row)),
                &row,
            ))
        }
        Err(e) => write_problem(e, &table),
    }
}

pub async fn delete(
    req: HttpRequest,
    access: ApiAccess,
    state: web::Data<AppState>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let (_, key) = parts(&req)?;
    let (catalog, table) = table_for(&req, &access).await?;
    access.0.require(&table, Action::Delete)?;
    let key = keys::decode(&key.ok_or(AppError::NotFound)?, &table)?;
    let (t, actor) = (table.clone(), Actor::from(&access.0.user));
    let result = state
        .db
        .run(move |conn| Ok(store::delete(conn, &catalog, &t, &key, &actor)))
        .await?;
    match result {
        Ok(()) => {
            counts.invalidate(&table.name);
            Ok(HttpResponse::NoContent().finish())
        }
        Err(e) => write_problem(e, &table),
    }
}
