//! Restoring from history: a row back to one of its past versions (confirmation with the
//! diff, then an update through the ordinary write path), and a table's deleted rows with
//! "restore" (an insert under the old key). Both are audited as `row.restored`.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::audit::{Actor, Via};
use crate::catalog::Table;
use crate::data::routes::form_version;
use crate::data::target::{Keyed, Target};
use crate::data::views::*;
use crate::engine::errors::WriteError;
use crate::engine::store::{self, CountCache};
use crate::engine::value::{Value, input_value_in};
use crate::error::AppError;
use crate::identity::permissions::{Access, Action};
use crate::state::AppState;
use crate::web::form::Pairs;
use crate::web::page::{self, Layout, Page};
use crate::web::when::Presenter;

const PAGE: i64 = 20;

/// Everyone's audit entries are an administration area; others restore from their own, as
/// their History card and deleted rows page show them.
fn own_entries(access: &Access) -> Option<String> {
    (!access.rights.admin_areas).then(|| access.user.email.clone())
}

/// A restore is audited as made through "restore", whoever asked for it.
fn restorer(access: &Access) -> Actor {
    Actor::from(&access.user).through(Via::Restore)
}

fn entry_param(req: &HttpRequest) -> Result<String, AppError> {
    req.match_info()
        .get("entry")
        .map(str::to_string)
        .ok_or(AppError::NotFound)
}

pub async fn version_confirm(
    req: HttpRequest,
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let Keyed { table, key, .. } = Keyed::of(&req, &access, Some(Action::Update)).await?;
    let (t, entry, own) = (table.clone(), entry_param(&req)?, own_entries(&access));
    let plan = state
        .db
        .run(move |conn| store::version_plan(conn, &t, &key, &entry, own.as_deref()))
        .await?;
    page::ok(&RestorePage::new(layout, &table, &plan))
}

pub async fn version_restore(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    pairs: web::Form<Pairs>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let Keyed {
        catalog,
        table,
        key,
        zone,
    } = Keyed::of(&req, &access, Some(Action::Update)).await?;
    let version = form_version(&pairs)?;
    let (t, entry, actor) = (table.clone(), entry_param(&req)?, restorer(&access));
    let own = own_entries(&access);
    let (plan, result) = state
        .db
        .run(move |conn| {
            let plan = store::version_plan(conn, &t, &key, &entry, own.as_deref())?;
            let (k, v, id) = (&plan.current.key, &plan.values, &plan.source.id);
            let result = store::restore_version(conn, &catalog, &t, k, &version, v, &actor, id);
            Ok((plan, result))
        })
        .await?;
    match counts.written(&table.name, result) {
        Ok(row) => Ok(page::done(
            &req,
            &row_link(&table, &row),
            "success",
            "Version restored.",
        )),
        Err(e) => {
            let pairs = as_form(&table, &plan.values, &zone);
            write_refused(&req, &table, Some(&plan.current), &pairs, e)
        }
    }
}

/// The values a restore would write, as the record form would have sent them (for the
/// conflict page and the form shown again with messages).
fn as_form(table: &Table, values: &[(usize, Value)], zone: &jiff::tz::TimeZone) -> Pairs {
    values
        .iter()
        .map(|(i, v)| {
            let c = &table.columns[*i];
            (format!("f.{}", c.name), input_value_in(v, c, zone))
        })
        .collect()
}

#[derive(serde::Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    page: Option<i64>,
}

pub async fn deleted(
    req: HttpRequest,
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let Target { table, .. } = Target::of(&req, &access, None).await?;
    let page_no = query.page.unwrap_or(1).max(1);
    let (t, own) = (table.clone(), own_entries(&access));
    let rows = state
        .db
        .run(move |conn| store::deleted_rows(conn, &t, own, (page_no - 1) * PAGE, PAGE + 1))
        .await?;
    let page = deleted_page(layout, &table, &access, rows, page_no, None);
    page::ok(&page)
}

/// The deleted rows page: up to a page of rows (one more says there is a next page).
fn deleted_page(
    layout: Layout,
    table: &Table,
    access: &Access,
    rows: Vec<store::DeletedRow>,
    page_no: i64,
    error: Option<String>,
) -> DeletedPage {
    let path = table_path(&table.name);
    let link = |n: i64| format!("{path}/deleted?page={n}");
    let at = Presenter::new(layout.settings.zone());
    DeletedPage {
        layout,
        table: table.name.clone(),
        next: (rows.len() as i64 > PAGE).then(|| link(page_no + 1)),
        prev: (page_no > 1).then(|| link(page_no - 1)),
        items: rows
            .iter()
            .take(PAGE as usize)
            .map(|d| deleted_item(table, d, &at))
            .collect(),
        can_restore: access.write_refusal(table, Action::Create).is_none(),
        error,
        path,
    }
}

pub async fn deleted_restore(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let Target { catalog, table, .. } = Target::of(&req, &access, Some(Action::Create)).await?;
    refuse_partial_view(&access, &table)?;
    let (t, entry, actor) = (table.clone(), entry_param(&req)?, restorer(&access));
    let own = own_entries(&access);
    let result = state
        .db
        .run(move |conn| {
            let deleted = store::deleted_row(conn, &t, &entry, own.as_deref())?;
            Ok(store::restore_deleted(conn, &catalog, &t, &deleted, &actor))
        })
        .await?;
    match counts.written(&table.name, result) {
        Ok(row) => Ok(page::done(
            &req,
            &row_link(&table, &row),
            "success",
            "Row restored.",
        )),
        Err(WriteError::App(e)) => Err(e),
        Err(WriteError::Invalid(_, Some(message)) | WriteError::ForeignKey(message)) => {
            deleted_refused(&req, &access, &state, &table, message).await
        }
        Err(_) => deleted_refused(&req, &access, &state, &table, REFUSED.into()).await,
    }
}

const REFUSED: &str = "The database refused to insert this row again; nothing was written.";

/// A role that cannot see every column would put back a row with those columns lost.
fn refuse_partial_view(access: &Access, table: &Table) -> Result<(), AppError> {
    if access.rights.hidden(&table.name).is_empty() {
        return Ok(());
    }
    Err(AppError::Forbidden(format!(
        "Your role does not see every column of {}, so it cannot restore its deleted rows.",
        table.name
    )))
}

/// The deleted rows again (first page), with why the restore was refused (409).
async fn deleted_refused(
    req: &HttpRequest,
    access: &Access,
    state: &AppState,
    table: &std::sync::Arc<Table>,
    message: String,
) -> Result<HttpResponse, AppError> {
    let (t, own) = (table.clone(), own_entries(access));
    let rows = state
        .db
        .run(move |conn| store::deleted_rows(conn, &t, own, 0, PAGE + 1))
        .await?;
    let page = deleted_page(Layout::build(req), table, access, rows, 1, Some(message));
    page::render(actix_web::http::StatusCode::CONFLICT, &page)
}
