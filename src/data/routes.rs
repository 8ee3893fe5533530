//! The data pages: every table, its rows, one row to view and edit, create, delete.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::audit::{self, Actor, AuditFilter};
use crate::catalog::{Catalog, CatalogCache, Column, Table};
use crate::data::form;
use crate::data::saved as data_saved;
use crate::data::target::{Keyed, Target};
use crate::data::views::cells::Presenter;
use crate::data::views::*;
use crate::db::DbConn;
use crate::engine::errors::WriteError;
use crate::engine::query::ListQuery;
use crate::engine::saved::ViewDirectory;
use crate::engine::store::{self, CountCache, Row, count_label};
use crate::engine::value::Value;
use crate::error::AppError;
use crate::identity::permissions::{Access, Action, Rights};
use crate::state::AppState;
use crate::web::form::{Pairs, get};
use crate::web::page::{self, Layout, Page};
use crate::web::saved::{self, Opened};
use crate::web::table::VisibleTable;
use crate::web::{csrf, is_htmx};

pub async fn index(
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let (cache, rights) = (catalog.clone(), access.rights.clone());
    let tables = state
        .db
        .read(move |conn| {
            let catalog = rights.catalog_view(&cache.get(conn)?);
            table_summaries(conn, &catalog)
        })
        .await?;
    page::ok(&IndexPage { layout, tables })
}

/// Every table and view the role may read, with its row count.
fn table_summaries(conn: &mut DbConn, catalog: &Catalog) -> Result<Vec<TableSummary>, AppError> {
    let everything = ListQuery::default();
    catalog
        .tables
        .values()
        .map(|t| {
            Ok(TableSummary {
                name: t.name.clone(),
                path: table_path(&t.name),
                is_view: t.is_view,
                count: count_label(store::count(conn, t, &everything)?),
            })
        })
        .collect()
}

pub async fn refresh(
    req: HttpRequest,
    _access: Access,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let cache = catalog.clone();
    let n = state
        .db
        .run(move |conn| Ok(cache.reload(conn)?.tables.len()))
        .await?;
    let message = format!("Schema read again: {n} tables and views.");
    Ok(page::done(&req, "/data", "success", &message))
}

pub async fn list(
    req: HttpRequest,
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
    counts: web::Data<CountCache>,
    directory: web::Data<ViewDirectory>,
) -> Result<HttpResponse, AppError> {
    let VisibleTable { catalog, table, .. } = VisibleTable::of(&req, &access.rights).await?;
    let opened = saved::open(&state, &access, &table, req.query_string()).await?;
    let q = ListQuery::parse_in(&opened.query, &table, &layout.settings.zone())?;
    let swap = is_htmx(&req) && !req.headers().contains_key("hx-boosted");
    let panel = data_saved::PanelLoad::of(&access, &table, !swap);
    let (rows, panel) = panel
        .with_list(&state, catalog, &table, &q, &counts, &directory)
        .await?;
    let canonical = canonical_link(&req, &table, &q, &opened);
    if opened.view.is_none() && needs_tidying(&req, &q) {
        return Ok(HttpResponse::SeeOther()
            .insert_header(("Location", canonical))
            .finish());
    }
    let context = ListContext {
        csrf: csrf::token(&req),
        read_only: access.write_refusal(&table, Action::Update),
        actions: access.actions(&table),
        at: Presenter::new(layout.settings.zone()),
    };
    let view = list_view(&table, &q, &rows, context, opened.view.as_ref());
    if swap {
        return rows_partial(view, &canonical);
    }
    let saved = data_saved::panel(panel, &access, &table, &q, &opened, csrf::token(&req));
    page::ok(&ListPageView {
        layout,
        view,
        saved,
    })
}

/// The list's address without the empty fields a form submits; a saved view's address as
/// it was asked for.
fn canonical_link(req: &HttpRequest, table: &Table, q: &ListQuery, opened: &Opened) -> String {
    if opened.view.is_some() {
        return format!("{}?{}", table_path(&table.name), req.query_string());
    }
    match q.to_query(None, None) {
        c if c.is_empty() => table_path(&table.name),
        c => format!("{}?{c}", table_path(&table.name)),
    }
}

/// Forms submit every field, empty or not; the address bar gets the tidy equivalent —
/// only when tidying changes something: `name__eq=` (equal to the empty string) is a real
/// filter and stays as it is.
fn needs_tidying(req: &HttpRequest, q: &ListQuery) -> bool {
    let noisy = url::form_urlencoded::parse(req.query_string().as_bytes())
        .any(|(k, v)| v.is_empty() || k.starts_with("add_") || k == "col");
    noisy && q.to_query(None, None) != req.query_string() && !is_htmx(req)
}

/// The rows alone, for htmx, with the list's address pushed to the address bar.
fn rows_partial(view: ListView, canonical: &str) -> Result<HttpResponse, AppError> {
    let mut res = page::ok(&RowsPartial { view })?;
    if let Ok(v) = HeaderValue::from_str(canonical) {
        res.headers_mut()
            .insert(HeaderName::from_static("hx-push-url"), v);
    }
    Ok(res)
}

pub async fn new(
    req: HttpRequest,
    access: Access,
    Page(layout): Page,
) -> Result<HttpResponse, AppError> {
    let Target { table, .. } = Target::of(&req, &access, Some(Action::Create)).await?;
    let page = RecordPage::new(layout, &table, None, None, &BTreeMap::new());
    page::ok(&page)
}

pub async fn show(
    req: HttpRequest,
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let Keyed {
        catalog,
        table,
        key,
        ..
    } = Keyed::of(&req, &access, None).await?;
    let (t, rights, page_no) = (table.clone(), access.rights.clone(), history_page(&req));
    let own_email = access.user.email.clone();
    let (row, related, history, labels) = state
        .db
        .run(move |conn| {
            let row = store::get(conn, &t, &key)?;
            let related = store::related(conn, &catalog, &t, &row, 5)?;
            let labels = store::row_labels(conn, &catalog, &t, &row, Some(&counts))?;
            let history = row_history(conn, &catalog, &t, &row, &rights, own_email, page_no)?;
            Ok((row, related, history, labels))
        })
        .await?;
    let read_only = access.write_refusal(&table, Action::Update);
    let (history_newer, history_older) = history_links(&req, page_no, history.2);
    let (history, previous_history) = history_views(&layout, &table, history, read_only.is_none());
    let page = RecordPage {
        related: related_views(related),
        history_newer,
        history_older,
        history,
        previous_history,
        read_only,
        can_delete: access.write_refusal(&table, Action::Delete).is_none(),
        ..RecordPage::new(layout, &table, Some(&row), None, &BTreeMap::new())
    };
    page::ok(&page.with_labels(labels))
}

const HISTORY_PAGE: i64 = 20;

/// The History card's entries (this row's, earlier rows'), in the operator's zone.
fn history_views(
    layout: &Layout,
    table: &Table,
    history: RowHistory,
    may_restore: bool,
) -> (Vec<HistoryItem>, Vec<HistoryItem>) {
    let at = Presenter::new(layout.settings.zone());
    let cx = HistoryContext {
        table,
        labels: &history.3,
        at: &at,
    };
    (
        history_items(history.0, may_restore, &cx),
        history_items(history.1, false, &cx),
    )
}

/// The history page asked for (`?history=N`, from 1).
fn history_page(req: &HttpRequest) -> i64 {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "history")
        .and_then(|(_, v)| v.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 100_000)
}

/// The links to the history's newer and older pages, when there are.
fn history_links(req: &HttpRequest, page_no: i64, more: bool) -> (Option<String>, Option<String>) {
    let link = |n: i64| format!("{}?history={n}", req.path());
    (
        (page_no > 1).then(|| link(page_no - 1)),
        more.then(|| link(page_no + 1)),
    )
}

/// One page of a row's changes, newest first, hidden columns redacted, split into this
/// row's and those of earlier rows that had the same key (up to the key's last deletion),
/// and whether there are older ones. Everyone's changes are an administration area;
/// others see their own.
/// A row's history entries (this row's, earlier rows' under its key), whether there are
/// older ones, and the labels of the rows its foreign keys pointed at.
type RowHistory = (Vec<audit::Entry>, Vec<audit::Entry>, bool, store::FkLabels);

fn row_history(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: &Table,
    row: &Row,
    rights: &Rights,
    own_email: String,
    page_no: i64,
) -> Result<RowHistory, AppError> {
    let key = row.key_path();
    let filter = AuditFilter {
        table: Some(table.name.clone()),
        row_key: Some(key.clone()),
        user: (!rights.admin_areas).then_some(own_email),
        ..Default::default()
    };
    let offset = (page_no - 1) * HISTORY_PAGE;
    let mut history = audit::list(conn, &filter, offset, HISTORY_PAGE + 1)?;
    let more = history.len() as i64 > HISTORY_PAGE;
    history.truncate(HISTORY_PAGE as usize);
    for h in &mut history {
        h.changes = rights.redact_changes(&table.name, &h.changes);
    }
    // Nothing to split when the page holds no entry (a row never changed through Gatehouse).
    let deleted = if history.is_empty() {
        None
    } else {
        audit::last_deletion(conn, &table.name, &key)?
    };
    let (previous, current): (Vec<_>, Vec<_>) = history.into_iter().partition(|h| {
        deleted
            .as_ref()
            .is_some_and(|(at, id)| (h.created_at, &h.id) <= (*at, id))
    });
    // The rows the foreign keys in the diffs pointed at, by their labels.
    let values = fk_values(table, current.iter().chain(&previous));
    let labels = store::value_labels(conn, catalog, table, &values)?;
    Ok((current, previous, more, labels))
}

pub async fn create(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    pairs: web::Form<Pairs>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let Target {
        catalog,
        table,
        zone,
    } = Target::of(&req, &access, Some(Action::Create)).await?;
    let pairs = pairs.into_inner();
    let values = match form::parse(&table, &pairs, true, &zone) {
        Ok(v) => v,
        Err(errors) => return refused(&req, &table, None, &pairs, errors, None),
    };
    let (t, actor) = (table.clone(), Actor::from(&access.user));
    let result = state
        .db
        .run(move |conn| Ok(store::insert_checked(conn, &catalog, &t, &values, &actor)))
        .await?;
    match counts.written(&table.name, result) {
        Ok(row) => Ok(to_record(&req, &table, &row, "Row created.")),
        Err(e) => write_refused(&req, &table, None, &pairs, e),
    }
}

/// After a successful write: to the row's page, with `message`.
fn to_record(req: &HttpRequest, table: &Table, row: &Row, message: &str) -> HttpResponse {
    let location = format!("{}/{}", table_path(&table.name), row.key_path());
    page::done(req, &location, "success", message)
}

pub async fn update(
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
    let pairs = pairs.into_inner();
    let version = form_version(&pairs)?;
    let values = match form::parse(&table, &pairs, false, &zone) {
        Ok(v) => v,
        Err(errors) => {
            let row = fetch(&state, &table, &key).await?;
            return refused(&req, &table, Some(&row), &pairs, errors, None);
        }
    };
    let (t, k, actor) = (table.clone(), key.clone(), Actor::from(&access.user));
    let result = state
        .db
        .run(move |conn| {
            Ok(store::update_checked(
                conn, &catalog, &t, &k, &version, &values, &actor,
            ))
        })
        .await?;
    match counts.written(&table.name, result) {
        Ok(row) => Ok(to_record(&req, &table, &row, "Changes saved.")),
        Err(e) => {
            let row = fetch(&state, &table, &key).await.ok();
            write_refused(&req, &table, row.as_ref(), &pairs, e)
        }
    }
}

/// The version of the row the form was filled from.
pub(crate) fn form_version(pairs: &Pairs) -> Result<String, AppError> {
    get(pairs, "_version")
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            AppError::Invalid(
                "The form is missing the row's version. Reload the page and try again.".into(),
            )
        })
}

async fn fetch(state: &AppState, table: &Arc<Table>, key: &[Value]) -> Result<Row, AppError> {
    let (t, k) = (table.clone(), key.to_vec());
    state.db.run(move |conn| store::get(conn, &t, &k)).await
}

pub async fn delete_confirm(
    req: HttpRequest,
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let Keyed { table, key, .. } = Keyed::of(&req, &access, Some(Action::Delete)).await?;
    let row = fetch(&state, &table, &key).await?;
    page::ok(&DeletePage::new(layout, &table, &row, None))
}

pub async fn delete(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let Keyed {
        catalog,
        table,
        key,
        ..
    } = Keyed::of(&req, &access, Some(Action::Delete)).await?;
    let (t, k, actor) = (table.clone(), key.clone(), Actor::from(&access.user));
    let result = state
        .db
        .run(move |conn| Ok(store::delete(conn, &catalog, &t, &k, &actor)))
        .await?;
    match counts.written(&table.name, result) {
        Ok(()) => Ok(page::done(
            &req,
            &table_path(&table.name),
            "success",
            "Row deleted.",
        )),
        Err(WriteError::ForeignKey(message)) => {
            let row = fetch(&state, &table, &key).await?;
            let page = DeletePage::new(Layout::build(&req), &table, &row, Some(message));
            page::render(StatusCode::CONFLICT, &page)
        }
        Err(WriteError::App(e)) => Err(e),
        Err(_) => Err(AppError::internal("unexpected delete outcome")),
    }
}

#[derive(serde::Deserialize)]
pub struct LookupQuery {
    column: String,
    #[serde(default)]
    q: Option<String>,
}

/// The foreign-key picker: `<option>`s of the referenced table matching what was typed.
pub async fn lookup(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    query: web::Query<LookupQuery>,
) -> Result<HttpResponse, AppError> {
    let visible = VisibleTable::of(&req, &access.rights).await?;
    let LookupQuery { column, q } = query.into_inner();
    let typed = q.unwrap_or_else(|| typed_in_field(&req));
    let (target, key_column) = referenced(&visible, &column)?;
    let options = state
        .db
        .run(move |conn| store::lookup(conn, &target, &key_column, typed.trim(), 20))
        .await?;
    page::ok(&LookupOptions { options })
}

/// htmx sends the input under its own name (`f.<column>`); that is the search then.
fn typed_in_field(req: &HttpRequest) -> String {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k.starts_with("f."))
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The table a foreign-key column refers to, and the column it refers to there.
fn referenced(visible: &VisibleTable, column: &str) -> Result<(Arc<Table>, Column), AppError> {
    let fk = visible
        .table
        .foreign_key_of(column)
        .ok_or_else(|| AppError::Invalid(format!("'{column}' is not a foreign key.")))?;
    let target = visible.catalog.table(&fk.ref_table)?;
    let key_column = target
        .column(&fk.ref_columns[0])
        .ok_or(AppError::NotFound)?
        .clone();
    Ok((target, key_column))
}
