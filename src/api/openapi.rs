//! `/api/openapi.json`: an OpenAPI 3.1 document generated from the catalog as the caller's
//! token sees it — only its tables, without hidden columns, with the operations its role
//! allows — so a generic client or fuzzer can use the API.

use actix_web::{HttpResponse, web};
use serde_json::{Map, Value as Json, json};

use crate::api::auth::ApiAccess;
use crate::api::params;
use crate::catalog::CatalogCache;
use crate::catalog::{Column, Table};
use crate::db::Backend;
use crate::engine::keys;
use crate::engine::query::{Op, PAGE_SIZES};
use crate::error::AppError;
use crate::identity::permissions::Actions;
use crate::state::AppState;

/// A column as a member of a row the API answers with.
fn column_schema(c: &Column) -> Json {
    let mut s = params::output_schema(c);
    describe(&mut s, c);
    s
}

/// A column as a member of a body the API takes.
fn column_input_schema(c: &Column, backend: Backend) -> Json {
    let mut s = params::input_schema(c, backend);
    describe(&mut s, c);
    s
}

fn describe(s: &mut Json, c: &Column) {
    if let Some(obj) = s.as_object_mut() {
        obj.insert(
            "description".into(),
            json!(format!("{} ({})", c.name, c.data_type)),
        );
        if c.nullable
            && let Some(t) = obj.get("type").cloned()
        {
            obj.insert("type".into(), json!([t, "null"]));
            if let Some(values) = obj.get_mut("enum").and_then(Json::as_array_mut) {
                values.push(Json::Null);
            }
        }
        if !c.editable() || (c.generated && c.primary_key) {
            obj.insert("readOnly".into(), json!(true));
        }
    }
}

fn table_schema(t: &Table) -> Json {
    let props: Map<String, Json> = t
        .columns
        .iter()
        .map(|c| (c.name.clone(), column_schema(c)))
        .collect();
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    json!({ "type": "object", "properties": props, "required": names, "additionalProperties": false })
}

fn input_schema(t: &Table, creating: bool, backend: Backend) -> Json {
    let props: Map<String, Json> = t
        .columns
        .iter()
        .filter(|c| c.editable() && !(c.generated && c.primary_key))
        .map(|c| (c.name.clone(), column_input_schema(c, backend)))
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

/// What each refusal means; every operation lists those it can answer.
fn problem(status: &str) -> Json {
    let description = match status {
        "400" => "The address or the body is not what this operation takes",
        "401" => "No token, or a token that is unknown, expired or revoked",
        "403" => "The token's role may not do this to this table",
        "404" => "No such table for this token, or no row with this key",
        "409" => {
            "The values conflict with other rows (a unique value taken, a reference to a missing row, or rows still referring to this one)"
        }
        "412" => "If-Match did not match the row's current version (its ETag is sent)",
        "413" => "The body is too large",
        "415" => "The body is not application/json",
        "422" => "Values were refused; nothing was written",
        "429" => "The token's requests per minute are used up",
        _ => "The database is unavailable",
    };
    let mut r = json!({ "description": description, "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } });
    if status == "429" {
        r["headers"] = json!({ "Retry-After": { "description": "Seconds until the next window", "required": true, "schema": { "type": "integer", "minimum": 1 } } });
    }
    r
}

fn responses(statuses: &[&str]) -> Map<String, Json> {
    ["401", "429", "503"]
        .iter()
        .chain(statuses)
        .map(|s| (s.to_string(), problem(s)))
        .collect()
}

fn etag_header() -> Json {
    json!({ "ETag": { "description": "The row's version, for If-Match", "required": true, "schema": { "type": "string", "pattern": "^\"[^\"]*\"$" } } })
}

/// Links from a response holding a row (at `pointer`) to the operations on that row, so a
/// client can follow a listed or created row to its key. Only where the key is one column:
/// a composite key is its parts joined by commas, which no runtime expression can build.
fn row_links(t: &Table, name: &str, actions: Actions, pointer: &str) -> Option<Json> {
    let keys = t.key_columns();
    let [key] = keys.as_slice() else {
        return None;
    };
    t.column(key)?;
    let parameters = json!({ "key": format!("$response.body#{pointer}/{}", pointer_escape(key)) });
    let mut links = Map::new();
    links.insert(
        "GetRow".into(),
        json!({ "operationId": format!("get_{name}"), "parameters": parameters }),
    );
    if actions.update {
        links.insert(
            "UpdateRow".into(),
            json!({ "operationId": format!("update_{name}"), "parameters": parameters }),
        );
    }
    if actions.delete {
        links.insert(
            "DeleteRow".into(),
            json!({ "operationId": format!("delete_{name}"), "parameters": parameters }),
        );
    }
    Some(Json::Object(links))
}

fn pointer_escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn list_parameters(t: &Table, backend: Backend) -> Vec<Json> {
    let mut params = vec![
        json!({ "name": "q", "in": "query", "schema": { "type": "string", "pattern": params::NO_NUL }, "description": "Search the text columns" }),
        json!({ "name": "sort", "in": "query", "schema": { "type": "string", "enum": t.columns.iter().flat_map(|c| [c.name.clone(), format!("-{}", c.name)]).collect::<Vec<_>>() } }),
        json!({ "name": "page", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 10_000_000 } }),
        json!({ "name": "per_page", "in": "query", "schema": { "type": "integer", "enum": PAGE_SIZES } }),
        json!({ "name": "view", "in": "query", "schema": { "type": "integer", "minimum": 0, "maximum": 999_999_999_999_999_999_i64 }, "description": "A saved view's number: its search, filters, sort and columns apply under the other parameters (a view shared with the token's role; any other is 404)" }),
        json!({ "name": "count", "in": "query", "schema": { "type": "string", "enum": ["exact"] }, "description": "Count every row, however many (otherwise a large table's count is estimated)" }),
    ];
    for c in t.columns.iter().filter(|c| params::filterable(c)) {
        for (_, op) in Op::ALL {
            params.push(params::filter_parameter(c, op, backend));
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
    let backend = state.db.backend();
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert("Problem".into(), problem_schema());
    paths.insert("/api/v1/tables".into(), tables_path());
    for (i, t) in catalog.tables.values().enumerate() {
        let name = schema_name(i, t);
        schemas.insert(name.clone(), table_schema(t));
        let actions = access.0.actions(t);
        let base = format!("/api/v1/tables/{}/rows", keys::encode_part(&t.name));
        let has_key = !t.key_columns().is_empty();
        paths.insert(base.clone(), collection_path(t, &name, actions, backend));
        if let Some(import) = import_path(t, &name, actions, backend) {
            let at = format!("/api/v1/tables/{}/import", keys::encode_part(&t.name));
            paths.insert(at, import);
        }
        if has_key {
            paths.insert(
                format!("{base}/{{key}}"),
                row_path(t, &name, actions, backend),
            );
        }
    }
    let doc = json!({
        "openapi": "3.1.0",
        "info": { "title": "Gatehouse API", "version": env!("CARGO_PKG_VERSION"), "description": "Rows of the tables this token's role may read, with its permissions, hidden columns and row rules applied (where the role has a row rule on a table, its rows are filtered by it: a row outside the rule is not listed, not counted, and answers 404). Query values are checked against the declared parameters (400 for anything else); an address over 64 KiB is refused by the HTTP layer with a bare 400." },
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
    let column = json!({ "type": "object", "properties": { "name": { "type": "string" }, "type": { "type": "string" }, "nullable": { "type": "boolean" } }, "required": ["name", "type", "nullable"] });
    let actions = json!({ "type": "object", "properties": { "read": { "type": "boolean" }, "create": { "type": "boolean" }, "update": { "type": "boolean" }, "delete": { "type": "boolean" } }, "required": ["read", "create", "update", "delete"] });
    let table = json!({ "type": "object", "properties": { "name": { "type": "string" }, "view": { "type": "boolean" }, "key": { "type": "array", "items": { "type": "string" } }, "columns": { "type": "array", "items": column }, "actions": actions }, "required": ["name", "view", "key", "columns", "actions"] });
    let mut r = responses(&[]);
    r.insert("200".into(), json!({ "description": "Tables", "content": { "application/json": { "schema": { "type": "object", "properties": { "tables": { "type": "array", "items": table } }, "required": ["tables"] } } } }));
    json!({ "get": { "operationId": "listTables", "summary": "The tables this token may read", "responses": r } })
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

/// What a table's paths say when the token's role has a row rule on it.
const RULED: &str = "Rows are filtered by the role's row rule on this table: a row outside it is not listed or counted and answers 404; a row written must satisfy the rule (422 naming the condition).";

/// `/rows`: list, and create where the role may.
fn collection_path(t: &Table, name: &str, actions: Actions, backend: Backend) -> Json {
    let row_ref = row_ref(name);
    let mut collection = Map::new();
    let mut r = responses(&["400", "404"]);
    let count = json!({ "type": "object", "properties": { "value": { "type": "integer", "minimum": 0 }, "exact": { "type": "boolean" }, "label": { "type": "string" } }, "required": ["value", "exact", "label"] });
    r.insert("200".into(), json!({ "description": "A page of rows", "content": { "application/json": { "schema": {
        "type": "object",
        "properties": { "rows": { "type": "array", "items": row_ref }, "page": { "type": "integer" }, "per_page": { "type": "integer" }, "has_next": { "type": "boolean" }, "count": count },
        "required": ["rows", "page", "per_page", "has_next", "count"],
    } } } }));
    if let Some(links) = row_links(t, name, actions, "/rows/0") {
        r["200"]["links"] = links;
    }
    collection.insert("get".into(), json!({ "operationId": format!("list_{name}"), "parameters": list_parameters(t, backend), "responses": r }));
    if t.scopes.is_some() {
        collection.insert("description".into(), json!(RULED));
    }
    if actions.create {
        let mut r = responses(&["400", "403", "404", "409", "413", "415", "422"]);
        r.insert("201".into(), json!({ "description": "Created", "headers": etag_header(), "content": { "application/json": { "schema": row_ref } } }));
        r["201"]["headers"]["Location"] = json!({ "description": "The new row's address", "required": true, "schema": { "type": "string" } });
        if let Some(links) = row_links(t, name, actions, "") {
            r["201"]["links"] = links;
        }
        collection.insert("post".into(), json!({ "operationId": format!("create_{name}"), "requestBody": { "required": true, "content": { "application/json": { "schema": input_schema(t, true, backend) } } }, "responses": r }));
    }
    Json::Object(collection)
}

/// An example key where the key is one column: its example value, as text.
fn key_example(t: &Table, backend: Backend) -> Option<String> {
    let [key] = t.key_columns().try_into().ok()?;
    let example = params::input_schema(t.column(&key)?, backend)["examples"][0].clone();
    match example {
        Json::String(s) => Some(s),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `/rows/{key}`: read, and change or delete where the role may.
fn row_path(t: &Table, name: &str, actions: Actions, backend: Backend) -> Json {
    let row_ref = row_ref(name);
    let mut key_param = json!({ "name": "key", "in": "path", "required": true, "schema": { "type": "string", "pattern": params::NO_NUL }, "description": format!("The row's key ({}), parts joined by commas, each percent-encoded", t.key_columns().join(", ")) });
    if let Some(example) = key_example(t, backend) {
        key_param["schema"]["examples"] = json!([example]);
    }
    let mut item = Map::new();
    let mut r = responses(&["400", "404"]);
    r.insert("200".into(), json!({ "description": "The row", "headers": etag_header(), "content": { "application/json": { "schema": row_ref } } }));
    item.insert(
        "get".into(),
        json!({ "operationId": format!("get_{name}"), "parameters": [key_param], "responses": r }),
    );
    if t.scopes.is_some() {
        item.insert("description".into(), json!(RULED));
    }
    if actions.update {
        let mut r = responses(&["400", "403", "404", "409", "412", "413", "415", "422"]);
        r.insert("200".into(), json!({ "description": "The changed row", "headers": etag_header(), "content": { "application/json": { "schema": row_ref } } }));
        item.insert("patch".into(), json!({ "operationId": format!("update_{name}"), "parameters": [key_param, { "name": "If-Match", "in": "header", "schema": { "type": "string" }, "description": "The ETag the change is made from; a stale one is refused with 412" }], "requestBody": { "required": true, "content": { "application/json": { "schema": input_schema(t, false, backend) } } }, "responses": r }));
    }
    if actions.delete {
        let mut r = responses(&["400", "403", "404", "409"]);
        r.insert("204".into(), json!({ "description": "Deleted" }));
        item.insert("delete".into(), json!({ "operationId": format!("delete_{name}"), "parameters": [key_param], "responses": r }));
    }
    Json::Object(item)
}

/// `/import`, where the role may create or update rows: a `text/csv` body whose header
/// names columns, imported all or nothing. The example is a file of one row that the table
/// takes (column examples as cells); a schema cannot say which other text is such a file,
/// so a generated body is usually refused with 422 (and schemathesis is told so).
fn import_path(t: &Table, name: &str, actions: Actions, backend: Backend) -> Option<Json> {
    if t.read_only_reason().is_some() || !(actions.create || actions.update) {
        return None;
    }
    let modes: Vec<&str> = [
        ("insert", actions.create),
        ("upsert", actions.create && actions.update),
        ("update", actions.update),
    ]
    .iter()
    .filter(|(_, allowed)| *allowed)
    .map(|(m, _)| *m)
    .collect();
    let columns: Vec<&Column> = t
        .columns
        .iter()
        .filter(|c| c.editable() && !(c.generated && c.primary_key))
        .collect();
    let mut example = String::new();
    let header = columns.iter().map(|c| Some(c.name.as_str()));
    crate::engine::csvio::push_line(&mut example, header);
    let cells = columns
        .iter()
        .map(|c| match &params::input_schema(c, backend)["examples"][0] {
            Json::String(s) => Some(s.clone()),
            Json::Null => None,
            other => Some(other.to_string()),
        });
    crate::engine::csvio::push_line(&mut example, cells);
    let mut r = responses(&["400", "403", "404", "413", "422"]);
    let summary = json!({ "type": "object", "properties": { "mode": { "type": "string", "enum": ["insert", "upsert", "update"] }, "rows": { "type": "integer", "minimum": 0 }, "inserted": { "type": "integer", "minimum": 0 }, "updated": { "type": "integer", "minimum": 0 } }, "required": ["mode", "rows", "inserted", "updated"] });
    r.insert("200".into(), json!({ "description": "Every row was written", "content": { "application/json": { "schema": summary } } }));
    r["422"]["description"] = json!(
        "Rows were refused (each problem names its row and column), or the file or its header is unusable; nothing was written"
    );
    let parameters = json!([
        { "name": "mode", "in": "query", "schema": { "type": "string", "enum": modes }, "description": "insert (the default): every row is new; upsert: rows whose key exists are changed, others inserted; update: every row must exist" },
        { "name": "key", "in": "query", "schema": { "type": "string", "pattern": params::NO_NUL }, "description": "A unique column to match rows on (upsert, update); the primary key by default" },
    ]);
    let body = json!({ "required": true, "description": "A CSV file (UTF-8, comma, semicolon or tab) whose header names the columns to write", "content": { "text/csv": { "schema": { "type": "string" }, "example": example } } });
    Some(
        json!({ "post": { "operationId": format!("import_{name}"), "summary": format!("Import a CSV file into {}", t.name), "parameters": parameters, "requestBody": body, "responses": r } }),
    )
}
