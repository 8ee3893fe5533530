//! Bulk actions on the list: delete the selected rows, set one column on them, or export
//! them — for ticked rows or for every row matching the filter. A confirmation states how
//! many rows; the change runs in one transaction, all or nothing, audited per row.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::catalog::CatalogCache;
use crate::data::export::{csv_field, csv_text};
use crate::data::routes::{actor, path_parts};
use crate::engine::errors::WriteError;
use crate::engine::keys;
use crate::engine::query::ListQuery;
use crate::engine::store::CountCache;
use crate::engine::store::{self, Selection};
use crate::engine::value::{Value, parse_input};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::flash;
use crate::web::form::{Pairs, get};
use crate::web::page::{self, Layout};

#[derive(Template)]
#[template(path = "data/bulk.html")]
struct BulkPage {
    layout: Layout,
    table: String,
    path: String,
    action: String,
    count: usize,
    keys: Vec<String>,
    all: bool,
    query: String,
    column: String,
    value: String,
    set_null: bool,
    columns: Vec<String>,
    error: Option<String>,
}

fn selection(
    pairs: &Pairs,
    table: &crate::catalog::Table,
) -> Result<(Selection, Vec<String>, bool, String), AppError> {
    let all = get(pairs, "all").is_some();
    let query = get(pairs, "query").unwrap_or("").to_string();
    if all {
        return Ok((
            Selection::Matching(ListQuery::parse(&query, table)?),
            Vec::new(),
            true,
            query,
        ));
    }
    let raw: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "key")
        .map(|(_, v)| v.clone())
        .collect();
    if raw.is_empty() {
        return Err(AppError::Invalid(
            "Select at least one row, or all rows matching the filter.".into(),
        ));
    }
    let keys = raw
        .iter()
        .map(|k| keys::decode(k, table))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((Selection::Keys(keys), raw, false, query))
}

pub async fn bulk(
    req: HttpRequest,
    access: crate::identity::permissions::Access,
    state: web::Data<AppState>,
    pairs: web::Form<Pairs>,
    catalog: web::Data<CatalogCache>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let (name, _) = path_parts(&req)?;
    let pairs = pairs.into_inner();
    let action = get(&pairs, "action").unwrap_or("").to_string();
    let cache = catalog.clone();
    let rights = access.rights.clone();
    let (catalog, table) = state
        .db
        .run(move |conn| {
            let catalog = rights.catalog_view(&cache.get(conn)?);
            let table = catalog.table(&name)?;
            Ok((catalog, table))
        })
        .await?;
    if action != "export"
        && let Some(reason) = access.write_refusal(
            &table,
            if action == "set" {
                crate::identity::permissions::Action::Update
            } else {
                crate::identity::permissions::Action::Delete
            },
        )
    {
        return Err(AppError::Forbidden(reason.into()));
    }
    let (sel, raw_keys, all, query) = selection(&pairs, &table)?;
    let column_name = get(&pairs, "column").unwrap_or("").to_string();
    let value_raw = get(&pairs, "value").unwrap_or("").to_string();
    let set_null = get(&pairs, "null").is_some();
    let path = format!("/data/{}", keys::encode_part(&table.name));

    let mut set_value: Option<(usize, Value)> = None;
    let mut error = None;
    match action.as_str() {
        "delete" | "export" => {}
        "set" => match table
            .columns
            .iter()
            .position(|c| c.name == column_name && c.editable() && !c.primary_key)
        {
            None => error = Some("Choose a column to set.".to_string()),
            Some(i) if set_null && !table.columns[i].nullable => {
                error = Some(format!("{column_name} cannot be NULL."))
            }
            Some(i) if set_null => set_value = Some((i, Value::Null)),
            Some(i) => match parse_input(&table.columns[i], &value_raw) {
                Ok(v) => set_value = Some((i, v)),
                Err(m) => error = Some(format!("{column_name}: {m}")),
            },
        },
        other => {
            return Err(AppError::Invalid(format!(
                "'{other}' is not a bulk action."
            )));
        }
    }

    let t = table.clone();
    if action == "export" {
        let rows = state
            .db
            .run(move |conn| store::select_rows(conn, &t, &sel, false))
            .await?;
        let mut out = String::new();
        for (i, c) in table.columns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            csv_field(&mut out, Some(&c.name));
        }
        out.push_str("\r\n");
        for row in rows {
            for (i, v) in row.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                csv_field(&mut out, csv_text(v, table.columns[i].kind).as_deref());
            }
            out.push_str("\r\n");
        }
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                "attachment; filename=\"selection.csv\"",
            ))
            .body(out));
    }

    let confirmed = get(&pairs, "confirm").is_some() && error.is_none();
    let expected: Option<usize> = get(&pairs, "expected").and_then(|e| e.parse().ok());
    if confirmed {
        let (a, c, sel) = (actor(&access.user), catalog.clone(), sel.clone());
        let result = state
            .db
            .run(move |conn| {
                Ok(match set_value {
                    Some((col, v)) => store::bulk_set(conn, &t, &sel, col, &v, expected, &a),
                    None => store::bulk_delete(conn, &c, &t, &sel, expected, &a),
                })
            })
            .await?;
        if result.is_ok() {
            counts.invalidate(&table.name);
        }
        match result {
            Ok(n) => {
                let done = if action == "set" {
                    format!("Set {column_name} on {n} rows.")
                } else {
                    format!("Deleted {n} rows.")
                };
                let back = if query.is_empty() {
                    path.clone()
                } else {
                    format!("{path}?{query}")
                };
                return Ok(page::see_other(&req, &back)
                    .cookie(flash::cookie(
                        "success",
                        &done,
                        state.config.secure_cookies(),
                    ))
                    .finish());
            }
            Err(WriteError::ForeignKey(m)) => error = Some(m),
            Err(WriteError::Invalid(fields, m)) => {
                error =
                    Some(m.unwrap_or_else(|| fields.into_values().collect::<Vec<_>>().join(" ")));
            }
            Err(WriteError::Conflict(_)) => {
                error = Some("A row changed meanwhile; nothing was changed.".into())
            }
            Err(WriteError::App(e)) => return Err(e),
        }
    }
    let t = table.clone();
    let count = state
        .db
        .run(move |conn| Ok(store::select_rows(conn, &t, &sel, false)?.len()))
        .await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page::render(
        status,
        &BulkPage {
            layout: Layout::build(&req),
            table: table.name.clone(),
            path,
            action,
            count,
            keys: raw_keys,
            all,
            query,
            column: column_name,
            value: value_raw,
            set_null,
            columns: table
                .columns
                .iter()
                .filter(|c| c.editable() && !c.primary_key)
                .map(|c| c.name.clone())
                .collect(),
            error,
        },
    )
}
