//! The builder's handlers: the new-table form and its submission, a table's schema page
//! and its alterations. Each submission is first a preview, then (confirmed) the change.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::audit::Actor;
use crate::catalog::CatalogCache;
use crate::engine::ddl::impact_referrers;
use crate::engine::keys::encode_part;
use crate::error::AppError;
use crate::identity::permissions::Access;
use crate::schema::form::{COLUMN_ROWS, INDEX_ROWS};
use crate::schema::store::{self, Outcome};
use crate::schema::views::{NewTablePage, PreviewPage, RefusedPage, TablePage, on_delete, types};
use crate::state::AppState;
use crate::web::form::Pairs;
use crate::web::page::{self, Layout, Page};
use crate::web::table::VisibleTable;

/// Only administrators and roles with the "change schema" right use the builder.
fn require(access: &Access) -> Result<(), AppError> {
    if access.rights.change_schema {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Your role may not change the schema.".into(),
        ))
    }
}

async fn choices(
    state: &AppState,
    catalog: &web::Data<CatalogCache>,
    access: &Access,
) -> Result<store::Choices, AppError> {
    let (cache, rights) = (catalog.clone(), access.rights.clone());
    state
        .db
        .run(move |conn| store::choices(conn, &cache, &rights))
        .await
}

pub async fn new_table_form(
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    require(&access)?;
    let choices = choices(&state, &catalog, &access).await?;
    page::ok(&NewTablePage {
        layout,
        rows: (0..COLUMN_ROWS).collect(),
        index_rows: (0..INDEX_ROWS).collect(),
        types: types(),
        enums: choices.enums,
        targets: choices.targets,
        on_delete: on_delete(),
    })
}

pub async fn new_table(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    require(&access)?;
    let outcome = submit(&state, &catalog, &access, None, pairs.into_inner()).await?;
    respond(&req, outcome, "/data/new-table")
}

pub async fn show(
    req: HttpRequest,
    access: Access,
    Page(layout): Page,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    require(&access)?;
    let VisibleTable { table, .. } = VisibleTable::of(&req, &access.rights).await?;
    let choices = choices(&state, &catalog, &access).await?;
    page::ok(&TablePage {
        layout,
        path: format!("/data/{}", encode_part(&table.name)),
        referrers: impact_referrers(&table),
        table,
        types: types(),
        enums: choices.enums,
        targets: choices.targets,
        on_delete: on_delete(),
    })
}

pub async fn change(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    require(&access)?;
    let VisibleTable { table, .. } = VisibleTable::of(&req, &access.rights).await?;
    let name = Some(table.name.clone());
    let outcome = submit(&state, &catalog, &access, name, pairs.into_inner()).await?;
    respond(
        &req,
        outcome,
        &format!("/data/{}/schema", encode_part(&table.name)),
    )
}

async fn submit(
    state: &AppState,
    catalog: &web::Data<CatalogCache>,
    access: &Access,
    table: Option<String>,
    pairs: Pairs,
) -> Result<Outcome, AppError> {
    let (cache, rights) = (catalog.clone(), access.rights.clone());
    let actor = Actor::from(&access.user);
    state
        .db
        .run(move |conn| store::submit(conn, &cache, &rights, table.as_deref(), &pairs, &actor))
        .await
}

/// The preview (or a refusal) at `action`, or the redirect after the change.
fn respond(req: &HttpRequest, outcome: Outcome, action: &str) -> Result<HttpResponse, AppError> {
    let layout = Layout::build(req);
    let back = action.to_string();
    match outcome {
        Outcome::Preview {
            plan,
            fields,
            note,
            status,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            page::render(
                status,
                &PreviewPage {
                    layout,
                    action: action.to_string(),
                    back,
                    script: plan.script(),
                    summary: plan.summary,
                    impact: plan.impact,
                    confirm_name: plan.confirm_name,
                    fields,
                    note,
                },
            )
        }
        Outcome::Refused(message) => page::render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &RefusedPage {
                layout,
                back,
                message,
            },
        ),
        Outcome::Done { summary, location } => {
            // Saved views may have followed a rename: the navigation reads them again.
            crate::web::nav::views_changed(req);
            Ok(page::done(
                req,
                &location,
                "success",
                &format!("Schema changed: {summary}."),
            ))
        }
    }
}
