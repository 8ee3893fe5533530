//! JSON in and out of the API: request bodies to typed column values, rows and pages of
//! rows to JSON with their ETag, and refused writes to problem+json.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{ETAG, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder};
use serde_json::{Map, Value as Json, json};

use crate::api::params;
use crate::catalog::{Column, Kind, Table};
use crate::db::Backend;
use crate::engine::errors::WriteError;
use crate::engine::query::ListQuery;
use crate::engine::store::{Count, ListPage, Row, count_label};
use crate::engine::value::{Value, parse_input};
use crate::error::AppError;
use crate::web::problem::problem;

/// A row as the document declares it: decimals as text with their scale, date-times in
/// RFC 3339 (UTC).
pub fn row_json(table: &Table, row: &Row) -> Json {
    let mut object = row.to_json(table);
    for c in &table.columns {
        if let Some(v) = object.get_mut(&c.name) {
            *v = declared(c, std::mem::take(v));
        }
    }
    Json::Object(object)
}

fn declared(c: &Column, v: Json) -> Json {
    match (c.kind, v) {
        (Kind::Decimal, Json::Number(n)) => Json::String(match params::scale(c) {
            Some(scale) => format!("{:.scale$}", n.as_f64().unwrap_or_default()),
            None => n.to_string(),
        }),
        (Kind::DateTime | Kind::DateTimeTz, Json::String(t)) => {
            Json::String(params::rfc3339(&t).unwrap_or(t))
        }
        (_, v) => v,
    }
}

/// A row as the body, its version as the ETag.
pub fn row_response(mut builder: HttpResponseBuilder, table: &Table, row: &Row) -> HttpResponse {
    let mut res = builder.json(row_json(table, row));
    set_etag(&mut res, &row.version());
    res
}

fn set_etag(res: &mut HttpResponse, version: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        res.headers_mut().insert(ETAG, v);
    }
}

/// A page of rows, with its paging and its count.
pub fn page_json(table: &Table, q: &ListQuery, page: &ListPage) -> Json {
    let (value, exact) = match page.count {
        Count::Exact(n) => (n, true),
        Count::AtLeast(n) | Count::About(n) => (n, false),
    };
    json!({
        "rows": page.rows.iter().map(|r| row_json(table, r)).collect::<Vec<_>>(),
        "page": q.page,
        "per_page": q.per_page,
        "has_next": page.has_next,
        "count": { "value": value, "exact": exact, "label": count_label(page.count) },
    })
}

pub fn body_object(body: &Json) -> Result<&Map<String, Json>, AppError> {
    body.as_object().ok_or_else(|| {
        AppError::Invalid("The body must be a JSON object of column names to values.".into())
    })
}

/// 422 with a message per refused field.
pub fn invalid_values(errors: &BTreeMap<String, String>) -> HttpResponse {
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid values",
        "Some values were refused; nothing was written.",
        Some(errors),
    )
}

/// JSON values to typed column values, or a message per field.
pub fn values_from_json(
    table: &Table,
    backend: Backend,
    body: &Map<String, Json>,
    creating: bool,
) -> Result<Vec<(usize, Value)>, BTreeMap<String, String>> {
    let mut values = Vec::new();
    let mut errors = BTreeMap::new();
    for (name, v) in body {
        match column_value(table, backend, name, v) {
            Ok(value) => values.push(value),
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

/// One member of the body as the value of its column, or why it cannot be.
fn column_value(
    table: &Table,
    backend: Backend,
    name: &str,
    v: &Json,
) -> Result<(usize, Value), String> {
    let Some(idx) = table.columns.iter().position(|c| c.name == name) else {
        return Err(format!("{} has no column '{name}'.", table.name));
    };
    let c = &table.columns[idx];
    if !c.editable() || (c.generated && c.primary_key) {
        return Err("This column is filled in by the database and cannot be set.".into());
    }
    match input_text(c, backend, v)? {
        None => Ok((idx, Value::Null)),
        Some(raw) => parse_input(c, &raw).map(|value| (idx, value)),
    }
}

/// A JSON value of the type the document declares for the column, as the text a form
/// would have sent; `None` for null.
fn input_text(c: &Column, backend: Backend, v: &Json) -> Result<Option<String>, String> {
    let text = match (v, c.kind) {
        (Json::Null, _) if c.nullable => return Ok(None),
        (Json::Null, _) => return Err("This column cannot be null.".into()),
        (v, Kind::Json) => v.to_string(),
        (Json::Number(n), Kind::Int | Kind::Float) => {
            params::checked_text(c, backend, &n.to_string())?
        }
        (Json::Bool(b), Kind::Bool) => b.to_string(),
        (Json::String(s), kind) if !matches!(kind, Kind::Int | Kind::Float | Kind::Bool) => {
            params::checked_text(c, backend, s)?
        }
        (other, _) => {
            return Err(format!(
                "Expected {} for {} ({}), not {other}.",
                expected(c.kind),
                c.name,
                c.data_type
            ));
        }
    };
    Ok(Some(text))
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Int => "a whole number (a JSON number)",
        Kind::Float => "a JSON number",
        Kind::Bool => "true or false",
        Kind::Decimal => "a decimal number as a string (such as \"12.50\")",
        _ => "a string",
    }
}

/// A database refusal that depends on the rows already there — a value another row
/// already has, or a reference to a row that does not exist — rather than on the request
/// alone. The engine words them so (`engine::errors::classify`, `check_references`).
fn depends_on_other_rows(fields: &BTreeMap<String, String>, message: Option<&str>) -> bool {
    let conflict = |m: &str| {
        m.starts_with("Another row already has")
            || m.starts_with("No row of ")
            || m == crate::engine::errors::CONFLICTS_HIDDEN
    };
    message.is_none_or(conflict)
        && fields.values().all(|m| conflict(m))
        && (message.is_some() || !fields.is_empty())
}

/// A refused write as problem+json: 422 for values, 409 for a foreign key or a value
/// another row holds, 412 with the row's current ETag for a stale If-Match.
pub fn write_problem(e: WriteError) -> Result<HttpResponse, AppError> {
    Ok(match e {
        WriteError::Invalid(fields, message)
            if depends_on_other_rows(&fields, message.as_deref()) =>
        {
            problem(
                StatusCode::CONFLICT,
                "Conflicts with other rows",
                message
                    .as_deref()
                    .unwrap_or("A value conflicts with other rows; nothing was written."),
                Some(&fields),
            )
        }
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
            set_etag(&mut res, &current.version());
            res
        }
        WriteError::App(e) => return Err(e),
    })
}
