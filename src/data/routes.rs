//! The data pages: every table, its rows, one row to view and edit, create, delete.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::audit::{self as audit, Actor, AuditFilter};
use crate::catalog::CatalogCache;
use crate::catalog::{Catalog, Table};
use crate::data::form;
use crate::data::views::*;
use crate::engine::errors::WriteError;
use crate::engine::keys;
use crate::engine::query::ListQuery;
use crate::engine::store::CountCache;
use crate::engine::store::{self, Row, count_label};
use crate::engine::value::display;
use crate::error::AppError;
use crate::identity::CurrentUser;
use crate::identity::permissions::{Access, Action};
use crate::state::AppState;
use crate::web::form::{Pairs, get};
use crate::web::page::{self, Layout, Page};
use crate::web::table::VisibleTable;
use crate::web::{flash, is_htmx};

pub fn actor(user: &CurrentUser) -> Actor {
    Actor {
        user_id: Some(user.id.clone()),
        email: user.email.clone(),
    }
}

/// The table name and the raw key segment, read from the undecoded path so that names
/// and keys holding `/` or `,` come through intact.
pub fn path_parts(req: &HttpRequest) -> Result<(String, Option<String>), AppError> {
    let segs = keys::raw_segments(req.path());
    let table = keys::decode_segment(segs.first().ok_or(AppError::NotFound)?)?;
    Ok((table, segs.get(1).map(|s| s.to_string())))
}

fn table_path(name: &str) -> String {
    format!("/data/{}", keys::encode_part(name))
}

pub async fn index(
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let cache = catalog.clone();
    let rights = access.rights.clone();
    let tables = state
        .db
        .run(move |conn| {
            let catalog = rights.catalog_view(&cache.get(conn)?);
            let empty = ListQuery::default();
            catalog
                .tables
                .values()
                .map(|t| {
                    Ok(TableSummary {
                        name: t.name.clone(),
                        path: table_path(&t.name),
                        is_view: t.is_view,
                        count: count_label(store::count(conn, t, &empty)?),
                    })
                })
                .collect::<Result<Vec<_>, AppError>>()
        })
        .await?;
    page::ok(&IndexPage { layout, tables })
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
    Ok(page::see_other(&req, "/data")
        .cookie(flash::cookie(
            "success",
            &format!("Schema read again: {n} tables and views."),
            state.config.secure_cookies(),
        ))
        .finish())
}

/// Load the catalog and one table of it.
async fn table_of(
    req: &HttpRequest,
    access: &Access,
) -> Result<(Arc<Catalog>, Arc<Table>), AppError> {
    let v = VisibleTable::of(req, &access.rights).await?;
    Ok((v.catalog, v.table))
}

pub async fn list(
    req: HttpRequest,
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let (name, _) = path_parts(&req)?;
    let qs = req.query_string().to_string();
    let (cache, counts) = (catalog.clone(), counts.clone());
    let rights = access.rights.clone();
    let (table, q, rows) = state
        .db
        .run(move |conn| {
            let catalog = rights.catalog_view(&cache.get(conn)?);
            let table = catalog.table(&name)?;
            let q = ListQuery::parse(&qs, &table)?;
            let rows = store::list(conn, &catalog, &table, &q, &counts)?;
            Ok((table, q, rows))
        })
        .await?;
    // Forms submit every field, empty or not; the address bar gets the tidy equivalent.
    let canonical = match q.to_query(None, None) {
        c if c.is_empty() => table_path(&table.name),
        c => format!("{}?{c}", table_path(&table.name)),
    };
    let tidy = q.to_query(None, None);
    let noisy = url::form_urlencoded::parse(req.query_string().as_bytes())
        .any(|(k, v)| v.is_empty() || k.starts_with("add_") || k == "col");
    // Only when tidying changes something: `name__eq=` (equal to the empty string) is a
    // real filter and stays as it is.
    if noisy && tidy != req.query_string() && !is_htmx(&req) {
        return Ok(HttpResponse::SeeOther()
            .insert_header(("Location", canonical))
            .finish());
    }
    let view = list_view(
        &table,
        &q,
        &rows,
        crate::web::csrf::token(&req),
        access.write_refusal(&table, Action::Update),
        access.actions(&table),
    );
    let boosted = req.headers().contains_key("hx-boosted");
    if is_htmx(&req) && !boosted {
        let mut res = page::ok(&RowsPartial { view })?;
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&canonical) {
            res.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("hx-push-url"),
                v,
            );
        }
        return Ok(res);
    }
    page::ok(&ListPageView { layout, view })
}

#[allow(clippy::too_many_arguments)]
fn record_page(
    layout: Layout,
    table: &Table,
    row: Option<&Row>,
    submitted: Option<&Pairs>,
    errors: &BTreeMap<String, String>,
    form_error: Option<String>,
    related: Vec<RelatedView>,
    history: Vec<HistoryItem>,
    read_only: Option<&'static str>,
    can_delete: bool,
) -> RecordPage {
    RecordPage {
        layout,
        table: table.name.clone(),
        path: table_path(&table.name),
        key_path: row.map(|r| r.key_path()),
        fields: form::fields(table, row, submitted, errors, row.is_none()),
        version: submitted
            .and_then(|p| get(p, "_version").map(str::to_string))
            .or_else(|| row.map(Row::version))
            .unwrap_or_default(),
        form_error,
        read_only,
        can_delete,
        related,
        history,
    }
}

pub async fn new(
    req: HttpRequest,
    access: Access,
    Page(layout): Page,
) -> Result<HttpResponse, AppError> {
    path_parts(&req)?;
    let (_, table) = table_of(&req, &access).await?;
    if let Some(reason) = access.write_refusal(&table, Action::Create) {
        return Err(AppError::Forbidden(reason.into()));
    }
    page::ok(&record_page(
        layout,
        &table,
        None,
        None,
        &BTreeMap::new(),
        None,
        Vec::new(),
        Vec::new(),
        None,
        false,
    ))
}

pub async fn show(
    req: HttpRequest,
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let (name, key) = path_parts(&req)?;
    let key = key.ok_or(AppError::NotFound)?;
    let cache = catalog.clone();
    let rights = access.rights.clone();
    let own_email = access.user.email.clone();
    let (table, row, related, history) = state
        .db
        .run(move |conn| {
            let catalog = rights.catalog_view(&cache.get(conn)?);
            let table = catalog.table(&name)?;
            let key = keys::decode(&key, &table)?;
            let row = store::find(conn, &table, &key)?.ok_or(AppError::NotFound)?;
            let related = store::related(conn, &catalog, &table, &row, 5)?;
            // Everyone's changes are an administration area; others see their own.
            let filter = AuditFilter {
                table: Some(table.name.clone()),
                row_key: Some(row.key_path()),
                user: (!rights.admin_areas).then(|| own_email.clone()),
                ..Default::default()
            };
            let mut history = audit::list(conn, &filter, 0, 20)?;
            for h in &mut history {
                h.changes = rights.redact_changes(&table.name, &h.changes);
            }
            Ok((table, row, related, history))
        })
        .await?;
    let page = record_page(
        layout,
        &table,
        Some(&row),
        None,
        &BTreeMap::new(),
        None,
        related_views(related),
        history_items(history),
        access.write_refusal(&table, Action::Update),
        access.write_refusal(&table, Action::Delete).is_none(),
    );
    page::ok(&page)
}

/// Re-show the form with what was typed and why it was refused.
fn refused(
    req: &HttpRequest,
    table: &Table,
    row: Option<&Row>,
    pairs: &Pairs,
    errors: BTreeMap<String, String>,
    form_error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let form_error =
        form_error.or_else(|| Some("Some values need attention; nothing was saved.".into()));
    let page = record_page(
        Layout::build(req),
        table,
        row,
        Some(pairs),
        &errors,
        form_error,
        Vec::new(),
        Vec::new(),
        None,
        false,
    );
    page::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

pub async fn create(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    pairs: web::Form<Pairs>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    path_parts(&req)?;
    let (catalog, table) = table_of(&req, &access).await?;
    if let Some(reason) = access.write_refusal(&table, Action::Create) {
        return Err(AppError::Forbidden(reason.into()));
    }
    let pairs = pairs.into_inner();
    let values = match form::parse(&table, &pairs, true) {
        Ok(v) => v,
        Err(errors) => return refused(&req, &table, None, &pairs, errors, None),
    };
    let (t, actor) = (table.clone(), actor(&access.user));
    let result = state
        .db
        .run(move |conn| Ok(store::insert_checked(conn, &catalog, &t, &values, &actor)))
        .await?;
    if result.is_ok() {
        counts.invalidate(&table.name);
    }
    match result {
        Ok(row) => Ok(page::see_other(
            &req,
            &format!("{}/{}", table_path(&table.name), row.key_path()),
        )
        .cookie(flash::cookie(
            "success",
            "Row created.",
            state.config.secure_cookies(),
        ))
        .finish()),
        Err(e) => write_refused(&req, &table, None, &pairs, e),
    }
}

fn write_refused(
    req: &HttpRequest,
    table: &Table,
    row: Option<&Row>,
    pairs: &Pairs,
    e: WriteError,
) -> Result<HttpResponse, AppError> {
    match e {
        WriteError::Invalid(errors, message) => refused(req, table, row, pairs, errors, message),
        WriteError::ForeignKey(message) => {
            refused(req, table, row, pairs, BTreeMap::new(), Some(message))
        }
        WriteError::Conflict(current) => conflict(req, table, &current, pairs),
        WriteError::App(e) => Err(e),
    }
}

/// 409: the row changed since the form was shown. Show what changed, keep nothing.
fn conflict(
    req: &HttpRequest,
    table: &Table,
    current: &Row,
    pairs: &Pairs,
) -> Result<HttpResponse, AppError> {
    let lines = table
        .columns
        .iter()
        .zip(&current.values)
        .filter_map(|(c, v)| {
            let yours = get(pairs, &format!("f.{}", c.name))?.to_string();
            let theirs = if v.is_null() {
                "NULL".to_string()
            } else {
                display(v, c)
            };
            let now_input = crate::engine::value::input_value(v, c);
            Some(ConflictLine {
                column: c.name.clone(),
                changed_meanwhile: now_input != yours,
                yours,
                theirs,
            })
        })
        .collect();
    let page = ConflictPage {
        layout: Layout::build(req),
        table: table.name.clone(),
        record_link: format!("{}/{}", table_path(&table.name), current.key_path()),
        lines,
    };
    page::render(StatusCode::CONFLICT, &page)
}

pub async fn update(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    pairs: web::Form<Pairs>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let (_, key) = path_parts(&req)?;
    let key = key.ok_or(AppError::NotFound)?;
    let (catalog, table) = table_of(&req, &access).await?;
    if let Some(reason) = access.write_refusal(&table, Action::Update) {
        return Err(AppError::Forbidden(reason.into()));
    }
    let key = keys::decode(&key, &table)?;
    let pairs = pairs.into_inner();
    let version = get(&pairs, "_version")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            AppError::Invalid(
                "The form is missing the row's version. Reload the page and try again.".into(),
            )
        })?
        .to_string();
    let values = match form::parse(&table, &pairs, false) {
        Ok(v) => v,
        Err(errors) => {
            let row = fetch(&state, &table, &key).await?;
            return refused(&req, &table, Some(&row), &pairs, errors, None);
        }
    };
    let (t, k, actor) = (table.clone(), key.clone(), actor(&access.user));
    let result = state
        .db
        .run(move |conn| {
            Ok(store::update_checked(
                conn, &catalog, &t, &k, &version, &values, &actor,
            ))
        })
        .await?;
    if result.is_ok() {
        counts.invalidate(&table.name);
    }
    match result {
        Ok(row) => Ok(page::see_other(
            &req,
            &format!("{}/{}", table_path(&table.name), row.key_path()),
        )
        .cookie(flash::cookie(
            "success",
            "Changes saved.",
            state.config.secure_cookies(),
        ))
        .finish()),
        Err(e) => {
            let row = fetch(&state, &table, &key).await.ok();
            write_refused(&req, &table, row.as_ref(), &pairs, e)
        }
    }
}

async fn fetch(
    state: &AppState,
    table: &Arc<Table>,
    key: &[crate::engine::value::Value],
) -> Result<Row, AppError> {
    let (t, k) = (table.clone(), key.to_vec());
    state
        .db
        .run(move |conn| store::find(conn, &t, &k)?.ok_or(AppError::NotFound))
        .await
}

fn summary(table: &Table, row: &Row) -> Vec<(String, String)> {
    table
        .columns
        .iter()
        .zip(&row.values)
        .take(8)
        .map(|(c, v)| {
            (
                c.name.clone(),
                if v.is_null() {
                    "NULL".into()
                } else {
                    display(v, c)
                },
            )
        })
        .collect()
}

pub async fn delete_confirm(
    req: HttpRequest,
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (_, key) = path_parts(&req)?;
    let (_, table) = table_of(&req, &access).await?;
    if let Some(reason) = access.write_refusal(&table, Action::Delete) {
        return Err(AppError::Forbidden(reason.into()));
    }
    let key = keys::decode(&key.ok_or(AppError::NotFound)?, &table)?;
    let row = fetch(&state, &table, &key).await?;
    page::ok(&DeletePage {
        layout,
        table: table.name.clone(),
        path: table_path(&table.name),
        key_path: row.key_path(),
        summary: summary(&table, &row),
        error: None,
    })
}

pub async fn delete(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    counts: web::Data<CountCache>,
) -> Result<HttpResponse, AppError> {
    let (_, key) = path_parts(&req)?;
    let (catalog, table) = table_of(&req, &access).await?;
    if let Some(reason) = access.write_refusal(&table, Action::Delete) {
        return Err(AppError::Forbidden(reason.into()));
    }
    let key = keys::decode(&key.ok_or(AppError::NotFound)?, &table)?;
    let (t, k, actor) = (table.clone(), key.clone(), actor(&access.user));
    let result = state
        .db
        .run(move |conn| Ok(store::delete(conn, &catalog, &t, &k, &actor)))
        .await?;
    if result.is_ok() {
        counts.invalidate(&table.name);
    }
    match result {
        Ok(()) => Ok(page::see_other(&req, &table_path(&table.name))
            .cookie(flash::cookie(
                "success",
                "Row deleted.",
                state.config.secure_cookies(),
            ))
            .finish()),
        Err(WriteError::ForeignKey(message)) => {
            let row = fetch(&state, &table, &key).await?;
            let page = DeletePage {
                layout: Layout::build(&req),
                table: table.name.clone(),
                path: table_path(&table.name),
                key_path: row.key_path(),
                summary: summary(&table, &row),
                error: Some(message),
            };
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
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let (name, _) = path_parts(&req)?;
    let query = query.into_inner();
    // htmx sends the input under its own name (`f.<column>`); accept that as the search.
    let typed = query
        .q
        .or_else(|| {
            url::form_urlencoded::parse(req.query_string().as_bytes())
                .find(|(k, _)| k.starts_with("f."))
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default();
    let cache = catalog.clone();
    let rights = access.rights.clone();
    let options = state
        .db
        .run(move |conn| {
            let catalog = rights.catalog_view(&cache.get(conn)?);
            let table = catalog.table(&name)?;
            let fk = table.foreign_key_of(&query.column).ok_or_else(|| {
                AppError::Invalid(format!("'{}' is not a foreign key.", query.column))
            })?;
            let target = catalog.table(&fk.ref_table)?;
            let key_col = target
                .column(&fk.ref_columns[0])
                .ok_or(AppError::NotFound)?
                .clone();
            store::lookup(conn, &target, &key_col, typed.trim(), 20)
        })
        .await?;
    page::ok(&LookupOptions { options })
}
