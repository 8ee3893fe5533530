//! `POST /api/v1/tables/{table}/import`: a `text/csv` body imported into the table, all or
//! nothing, as the import page does (`mode` insert, upsert or update; `key` a unique column
//! to match rows on). The body is spooled to a temporary file under `--import-max-bytes`.
//! Refused rows answer 422 problem+json with each problem's row, column and message.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::api::auth::ApiAccess;
use crate::audit::Actor;
use crate::engine::store::{self, CountCache, FileImport, ImportError, Mode, Outcome};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::table::VisibleTable;
use crate::web::upload;

#[derive(serde::Deserialize)]
pub struct ImportQuery {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    key: Option<String>,
}

pub async fn import(
    req: HttpRequest,
    access: ApiAccess,
    state: web::Data<AppState>,
    counts: web::Data<CountCache>,
    query: web::Query<ImportQuery>,
    body: web::Payload,
) -> Result<HttpResponse, AppError> {
    let VisibleTable { catalog, table, .. } =
        VisibleTable::of_token(&req, &access.0.rights).await?;
    let ImportQuery { mode, key } = query.into_inner();
    let mode = parse_mode(mode.as_deref())?;
    for action in mode.needs() {
        access.0.require(&table, *action)?;
    }
    let file = spooled(&req, &state, body).await?;
    let request = FileImport {
        path: file.path().to_path_buf(),
        table: table.clone(),
        mode,
        key,
        sources: None,
        file_name: "request body".into(),
    };
    let actor = Actor::from(&access.0.user).through(crate::audit::Via::Import);
    let result = state
        .db
        .run(move |conn| {
            let outcome = store::run_file(conn, &catalog, &request, &actor, None);
            drop(file);
            Ok(outcome)
        })
        .await?;
    counts.invalidate(&table.name);
    match result {
        Ok(out) => Ok(HttpResponse::Ok().json(summary(mode, &out))),
        Err(ImportError::Rejected(out)) => Ok(rejected(&out)),
        Err(ImportError::App(e)) => Err(e),
    }
}

/// The mode exactly as the OpenAPI document lists it (the CLI is more forgiving).
fn parse_mode(mode: Option<&str>) -> Result<Mode, AppError> {
    match mode {
        None | Some("insert") => Ok(Mode::Insert),
        Some("upsert") => Ok(Mode::Upsert),
        Some("update") => Ok(Mode::Update),
        Some(_) => Err(AppError::Invalid(
            "mode must be one of insert, upsert, update.".into(),
        )),
    }
}

/// The body, checked to be CSV, spooled to a temporary file under the import limit.
async fn spooled(
    req: &HttpRequest,
    state: &AppState,
    body: web::Payload,
) -> Result<tempfile::NamedTempFile, AppError> {
    let mime = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "text/csv" {
        return Err(AppError::Invalid(
            "The body must be a CSV file sent as Content-Type: text/csv.".into(),
        ));
    }
    let limit = state.config.import_max_bytes;
    upload::check_length(req, limit)?;
    let mut file = tempfile::NamedTempFile::new().map_err(AppError::caused_by)?;
    upload::spool(body, limit, file.as_file_mut()).await?;
    Ok(file)
}

fn summary(mode: Mode, out: &Outcome) -> serde_json::Value {
    json!({ "mode": mode.as_str(), "rows": out.rows, "inserted": out.inserted, "updated": out.updated })
}

/// 422 with every kept problem, also as `errors` keyed "row N, column C".
fn rejected(out: &Outcome) -> HttpResponse {
    let errors: serde_json::Map<String, serde_json::Value> = out
        .problems
        .iter()
        .map(|p| {
            let at = if p.column.is_empty() {
                format!("row {}", p.row)
            } else {
                format!("row {}, column {}", p.row, p.column)
            };
            (at, json!(p.message))
        })
        .collect();
    let detail = format!(
        "{} problem(s) in {} row(s); nothing was imported.",
        out.problem_count, out.rejected_rows
    );
    let body = json!({
        "type": "about:blank",
        "title": "Rows refused",
        "status": 422,
        "detail": detail,
        "errors": errors,
        "problems": out.problems,
        "problem_count": out.problem_count,
        "rejected_rows": out.rejected_rows,
    });
    HttpResponse::build(StatusCode::UNPROCESSABLE_ENTITY)
        .content_type("application/problem+json")
        .body(body.to_string())
}
