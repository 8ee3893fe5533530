//! `/data/{table}/import`: upload a CSV file, map its columns (with a typed preview of the
//! first rows), choose insert, upsert or update, and import it all or nothing; a refused
//! file shows its first problems and offers the rejected rows as CSV.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::audit::Actor;
use crate::catalog::Table;
use crate::data::import_files::{self as files, Upload};
use crate::data::import_views::{MapPage, MapState, ProblemsPage, UploadPage};
use crate::data::views::table_path;
use crate::engine::store::{self, CountCache, FileImport, ImportError, Mode};
use crate::error::AppError;
use crate::identity::permissions::{Access, Action};
use crate::state::AppState;
use crate::web::form::Pairs;
use crate::web::page::{self, Layout, Page};
use crate::web::table::VisibleTable;

/// The modes this operator may use on the table; 403 when none.
fn allowed_modes(
    access: &Access,
    table: &Table,
) -> Result<Vec<(&'static str, &'static str)>, AppError> {
    let can = |a| access.write_refusal(table, a).is_none();
    let (create, update) = (can(Action::Create), can(Action::Update));
    let mut modes = Vec::new();
    if create {
        modes.push(("insert", "Insert: every row is new"));
    }
    if create && update {
        modes.push((
            "upsert",
            "Upsert: update rows whose key exists, insert the others",
        ));
    }
    if update {
        modes.push(("update", "Update: every row must exist already"));
    }
    if modes.is_empty() {
        access.require(table, Action::Create)?;
    }
    Ok(modes)
}

fn require_mode(access: &Access, table: &Table, mode: Mode) -> Result<(), AppError> {
    mode.needs()
        .iter()
        .try_for_each(|a| access.require(table, *a))
}

pub async fn form(
    req: HttpRequest,
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let visible = VisibleTable::of(&req, &access.rights).await?;
    allowed_modes(&access, &visible.table)?;
    let limit = state.config.import_max_bytes;
    page::ok(&UploadPage::new(layout, &visible.table, limit))
}

pub async fn upload(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    payload: Multipart,
) -> Result<HttpResponse, AppError> {
    let visible = VisibleTable::of(&req, &access.rights).await?;
    allowed_modes(&access, &visible.table)?;
    let upload = files::receive(&req, &state, &access, &visible.table, payload).await?;
    let location = format!("{}/import/{}", table_path(&visible.table.name), upload.id);
    Ok(page::see_other(&req, &location).finish())
}

/// The upload the path names, for this operator and table.
async fn opened(
    req: &HttpRequest,
    access: &Access,
    state: &AppState,
) -> Result<(VisibleTable, Upload), AppError> {
    let visible = VisibleTable::of(req, &access.rights).await?;
    let id = req.match_info().get("id").unwrap_or_default();
    let upload = files::find(state, access, &visible.table, id)?;
    Ok((visible, upload))
}

/// The mapping page for what `pairs` ask (defaults where they ask nothing).
fn map_page(
    layout: Layout,
    access: &Access,
    table: &Table,
    upload: &Upload,
    pairs: &Pairs,
    error: Option<String>,
) -> Result<MapPage, AppError> {
    let modes = allowed_modes(access, table)?;
    let headers = store::file_headers(&upload.csv())?;
    let sources = files::mapping(table, &headers, pairs)?;
    let (mode, key) = files::mode_and_key(pairs)?;
    let mode = if modes.iter().any(|(m, _)| *m == mode.as_str()) {
        mode
    } else {
        Mode::parse(modes[0].0).unwrap_or(mode)
    };
    let (headers, rows) = files::preview(&upload.csv(), table, &sources, mode)?;
    let (id, file_name, size) = (
        upload.id.clone(),
        upload.meta.file_name.clone(),
        upload.meta.size,
    );
    let state = MapState {
        id,
        file_name,
        size,
        headers,
        sources,
        mode,
        key,
        rows,
        modes,
    };
    Ok(MapPage::new(layout, table, state, error))
}

pub async fn mapping(
    req: HttpRequest,
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (visible, upload) = opened(&req, &access, &state).await?;
    let pairs: Pairs = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    page::ok(&map_page(
        layout,
        &access,
        &visible.table,
        &upload,
        &pairs,
        None,
    )?)
}

pub async fn run(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    pairs: web::Form<Pairs>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let (VisibleTable { catalog, table, .. }, upload) = opened(&req, &access, &state).await?;
    let pairs = pairs.into_inner();
    let (mode, key) = files::mode_and_key(&pairs)?;
    require_mode(&access, &table, mode)?;
    let headers = store::file_headers(&upload.csv())?;
    let sources = Some(files::mapping(&table, &headers, &pairs)?);
    let request = FileImport {
        path: upload.csv(),
        table: table.clone(),
        mode,
        key,
        sources,
        file_name: upload.meta.file_name.clone(),
    };
    let actor = Actor::from(&access.user).through(crate::audit::Via::Import);
    let result = write_file(&state, catalog, request, actor, upload.rejected()).await?;
    counts.invalidate(&table.name);
    outcome(&req, &access, &table, &upload, &pairs, result)
}

/// Run the import on a pooled connection, writing the rejected rows beside the upload.
async fn write_file(
    state: &AppState,
    catalog: std::sync::Arc<crate::catalog::Catalog>,
    request: FileImport,
    actor: Actor,
    rejected_path: std::path::PathBuf,
) -> Result<Result<store::Outcome, ImportError>, AppError> {
    state
        .db
        .run(move |conn| {
            let mut rejected =
                std::fs::File::create(&rejected_path).map_err(AppError::caused_by)?;
            Ok(store::run_file(
                conn,
                &catalog,
                &request,
                &actor,
                Some(&mut rejected),
            ))
        })
        .await
}

/// After an import: to the list with the counts, the problems page, or the mapping again.
fn outcome(
    req: &HttpRequest,
    access: &Access,
    table: &Table,
    upload: &Upload,
    pairs: &Pairs,
    result: Result<store::Outcome, ImportError>,
) -> Result<HttpResponse, AppError> {
    match result {
        Ok(out) => {
            upload.forget();
            let message = format!(
                "Imported {} rows from {}: {} inserted, {} updated.",
                out.rows, upload.meta.file_name, out.inserted, out.updated
            );
            Ok(page::done(
                req,
                &table_path(&table.name),
                "success",
                &message,
            ))
        }
        Err(ImportError::Rejected(out)) => {
            let counts = (out.problem_count, out.rejected_rows, out.rows);
            let page = ProblemsPage::new(
                Layout::build(req),
                table,
                &upload.id,
                &upload.meta.file_name,
                &out.problems,
                counts,
            );
            page::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(ImportError::App(AppError::Unprocessable(m))) => {
            let page = map_page(Layout::build(req), access, table, upload, pairs, Some(m))?;
            page::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(ImportError::App(e)) => Err(e),
    }
}

pub async fn rejected(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (visible, upload) = opened(&req, &access, &state).await?;
    let file = std::fs::File::open(upload.rejected()).map_err(|_| AppError::NotFound)?;
    let name = format!(
        "{}-rejected.csv",
        visible
            .table
            .name
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    let chunks = futures_util::stream::unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match std::io::Read::read(&mut f, &mut buf) {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, actix_web::Error>(web::Bytes::from(buf)), f))
            }
        }
    });
    Ok(crate::data::export::attachment("text/csv; charset=utf-8", &name).streaming(chunks))
}
