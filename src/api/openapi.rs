//! `/api/openapi.json`: an OpenAPI 3.1 document generated from the catalog as the caller's
//! token sees it — only its tables, without hidden columns, with the operations its role
//! allows — so a generic client or fuzzer can use the API.

use actix_web::{HttpResponse, web};
use serde_json::{Map, Value as Json, json};

use crate::api::auth::ApiAccess;
use crate::catalog::CatalogCache;
use crate::catalog::{Column, Kind, Table};
use crate::engine::keys;
use crate::engine::query::{Op, PAGE_SIZES};
use crate::error::AppError;
use crate::identity::permissions::Actions;
use crate::state::AppState;

fn column_schema(c: &Column) -> Json {
    let mut s = match c.kind {
        Kind::Int => json!({ "type": "integer", "format": "int64" }),
        Kind::Float => json!({ "type": "number" }),
        Kind::Decimal => json!({ "type": "string", "pattern": "^[-+]?[0-9]*\\.?[0-9]+$" }),
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::Date => json!({ "type": "string", "format": "date" }),
        Kind::Time => json!({ "type": "string", "format": "time" }),
        Kind::DateTime | Kind::DateTimeTz => {
            json!({ "type": "string", "description": "YYYY-MM-DD HH:MM:SS (UTC)" })
        }
        Kind::Uuid => json!({ "type": "string", "format": "uuid" }),
        Kind::Enum => json!({ "type": "string", "enum": c.enum_values }),
        Kind::Json => json!({}),
        Kind::Bytes => {
            json!({ "type": "string", "description": "binary, shown as \\x-prefixed hex; read-only" })
        }
        Kind::Array | Kind::Text | Kind::Unknown => json!({ "type": "string" }),
    };
    if let Some(obj) = s.as_object_mut() {
        obj.insert(
            "description".into(),
            json!(format!("{} ({})", c.name, c.data_type)),
        );
        if c.nullable
            && let Some(t) = obj.get("type").cloned()
        {
            obj.insert("type".into(), json!([t, "null"]));
        }
        if !c.editable() || (c.generated && c.primary_key) {
            obj.insert("readOnly".into(), json!(true));
        }
    }
    s
}

fn table_schema(t: &Table) -> Json {
    let props: Map<String, Json> = t
        .columns
        .iter()
        .map(|c| (c.name.clone(), column_schema(c)))
        .collect();
    json!({ "type": "object", "properties": props, "additionalProperties": false })
}

fn input_schema(t: &Table, creating: bool) -> Json {
    let props: Map<String, Json> = t
        .columns
        .iter()
        .filter(|c| c.editable() && !(c.generated && c.primary_key))
        .map(|c| (c.name.clone(), column_schema(c)))
        .collect();
    let required: Vec<&str> = if creating {
        t.columns
            .iter()
            .filter(|c| c.required() && c.editable())
            .map(|c| c.name.as_str())
            .collect()
    } else {
        Vec::new()
    };
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

fn problem_responses() -> Json {
    let p = json!({ "description": "Problem", "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } });
    json!({ "400": p, "401": p, "403": p, "404": p, "422": p, "429": p })
}

fn list_parameters(t: &Table) -> Vec<Json> {
    let mut params = vec![
        json!({ "name": "q", "in": "query", "schema": { "type": "string" }, "description": "Search the text columns" }),
        json!({ "name": "sort", "in": "query", "schema": { "type": "string", "enum": t.columns.iter().flat_map(|c| [c.name.clone(), format!("-{}", c.name)]).collect::<Vec<_>>() } }),
        json!({ "name": "page", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 10_000_000 } }),
        json!({ "name": "per_page", "in": "query", "schema": { "type": "integer", "enum": PAGE_SIZES } }),
    ];
    for c in t.columns.iter().filter(|c| {
        !matches!(
            c.kind,
            Kind::Bytes | Kind::Unknown | Kind::Json | Kind::Array
        )
    }) {
        for (op, _) in Op::ALL {
            let schema = if op == "isnull" {
                json!({ "type": "boolean" })
            } else {
                json!({ "type": "string" })
            };
            params.push(
                json!({ "name": format!("{}__{op}", c.name), "in": "query", "schema": schema }),
            );
        }
    }
    params
}

pub async fn document(
    access: ApiAccess,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let catalog = access.catalog(&state, &catalog).await?;
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert("Problem".into(), problem_schema());
    paths.insert("/api/v1/tables".into(), tables_path());
    for (i, t) in catalog.tables.values().enumerate() {
        let name = schema_name(i, t);
        schemas.insert(name.clone(), table_schema(t));
        let actions = access.0.actions(t);
        let base = format!("/api/v1/tables/{}/rows", keys::encode_part(&t.name));
        paths.insert(base.clone(), collection_path(t, &name, actions));
        if !t.key_columns().is_empty() {
            paths.insert(format!("{base}/{{key}}"), row_path(t, &name, actions));
        }
    }
    let doc = json!({
        "openapi": "3.1.0",
        "info": { "title": "Gatehouse API", "version": env!("CARGO_PKG_VERSION"), "description": "Rows of the tables this token's role may read, with its permissions and hidden columns applied." },
        "servers": [{ "url": state.config.public_url.as_str().trim_end_matches('/') }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": { "schemas": schemas, "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
    });
    Ok(HttpResponse::Ok().json(doc))
}

fn problem_schema() -> Json {
    json!({ "type": "object", "properties": { "type": { "type": "string" }, "title": { "type": "string" }, "status": { "type": "integer" }, "detail": { "type": "string" }, "errors": { "type": "object", "additionalProperties": { "type": "string" } } } })
}

fn tables_path() -> Json {
    json!({ "get": { "operationId": "listTables", "summary": "The tables this token may read", "responses": { "200": { "description": "Tables", "content": { "application/json": { "schema": { "type": "object" } } } } } } })
}

/// A table's schema name: unique by position, readable by name.
fn schema_name(i: usize, t: &Table) -> String {
    format!(
        "t{i}_{}",
        t.name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>()
    )
}

fn row_ref(name: &str) -> Json {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// `/rows`: list, and create where the role may.
fn collection_path(t: &Table, name: &str, actions: Actions) -> Json {
    let row_ref = row_ref(name);
    let mut collection = Map::new();
    let mut get_responses = problem_responses();
    get_responses["200"] = json!({ "description": "A page of rows", "content": { "application/json": { "schema": {
        "type": "object",
        "properties": { "rows": { "type": "array", "items": row_ref }, "page": { "type": "integer" }, "per_page": { "type": "integer" }, "has_next": { "type": "boolean" }, "count": { "type": "object" } },
    } } } });
    collection.insert("get".into(), json!({ "operationId": format!("list_{name}"), "parameters": list_parameters(t), "responses": get_responses }));
    if actions.create {
        let mut r = problem_responses();
        r["201"] = json!({ "description": "Created", "content": { "application/json": { "schema": row_ref } } });
        collection.insert("post".into(), json!({ "operationId": format!("create_{name}"), "requestBody": { "required": true, "content": { "application/json": { "schema": input_schema(t, true) } } }, "responses": r }));
    }
    Json::Object(collection)
}

/// `/rows/{key}`: read, and change or delete where the role may.
fn row_path(t: &Table, name: &str, actions: Actions) -> Json {
    let row_ref = row_ref(name);
    let key_param = json!({ "name": "key", "in": "path", "required": true, "schema": { "type": "string" }, "description": format!("The row's key ({}), parts joined by commas, each percent-encoded", t.key_columns().join(", ")) });
    let mut item = Map::new();
    let mut r = problem_responses();
    r["200"] = json!({ "description": "The row", "content": { "application/json": { "schema": row_ref } } });
    item.insert(
        "get".into(),
        json!({ "operationId": format!("get_{name}"), "parameters": [key_param], "responses": r }),
    );
    if actions.update {
        let mut r = problem_responses();
        r["200"] = json!({ "description": "The changed row", "content": { "application/json": { "schema": row_ref } } });
        r["412"] = json!({ "description": "If-Match did not match the row's current version" });
        item.insert("patch".into(), json!({ "operationId": format!("update_{name}"), "parameters": [key_param, { "name": "If-Match", "in": "header", "schema": { "type": "string" } }], "requestBody": { "required": true, "content": { "application/json": { "schema": input_schema(t, false) } } }, "responses": r }));
    }
    if actions.delete {
        let mut r = problem_responses();
        r["204"] = json!({ "description": "Deleted" });
        r["409"] = json!({ "description": "Other rows still refer to this one" });
        item.insert("delete".into(), json!({ "operationId": format!("delete_{name}"), "parameters": [key_param], "responses": r }));
    }
    Json::Object(item)
}
