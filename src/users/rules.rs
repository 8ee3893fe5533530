//! `/roles/{name}/rules/{table}`, for administrators: a custom role's row rules on one
//! table (read, create, update, delete), checked against the catalog line by line, previewed
//! as the number of rows each sample operator of the role would see, saved with an audit
//! entry; the rights cache is forgotten so the next request applies them.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::audit::Actor;
use crate::catalog::{CatalogCache, Table};
use crate::error::AppError;
use crate::identity::permissions::{Admin, RightsCache};
use crate::state::AppState;
use crate::users::rule_form;
use crate::users::rules_store;
use crate::users::views::{Preview, PreviewPartial, RuleDraft, RulesPage};
use crate::web::form::Pairs;
use crate::web::is_htmx;
use crate::web::page::{self, Layout, Page};

/// The role (a custom one) and the table (from the whole catalog) a rule page is about.
async fn target(
    state: &AppState,
    catalog: &web::Data<CatalogCache>,
    path: web::Path<(String, String)>,
) -> Result<(String, Arc<Table>), AppError> {
    let (role, table) = path.into_inner();
    let (cache, name) = (catalog.clone(), role.clone());
    let table = state
        .db
        .run(move |conn| {
            rules_store::check_role(conn, &name)?;
            cache.get(conn)?.table(&table)
        })
        .await?;
    Ok((role, table))
}

fn rules_page(
    layout: Layout,
    role: String,
    table: &Table,
    drafts: Vec<RuleDraft>,
    preview: Preview,
    error: Option<String>,
) -> RulesPage {
    let columns = table
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.data_type.clone()))
        .collect();
    RulesPage {
        layout,
        role,
        table: table.name.clone(),
        columns,
        drafts,
        preview,
        error,
    }
}

pub async fn edit(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (role, table) = target(&state, &catalog, path).await?;
    let (name, t) = (role.clone(), table.clone());
    let drafts = state
        .db
        .run(move |conn| rules_store::saved_drafts(conn, &name, &t))
        .await?;
    page::ok(&rules_page(
        layout,
        role,
        &table,
        drafts,
        Preview::default(),
        None,
    ))
}

pub async fn update(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
    rights_cache: web::Data<RightsCache>,
    path: web::Path<(String, String)>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    let (role, table) = target(&state, &catalog, path).await?;
    let (drafts, parsed) = rule_form::read(&pairs, &table);
    let Some(rules) = parsed else {
        let error = Some("Nothing was saved: correct the marked conditions.".to_string());
        let page = rules_page(
            Layout::build(&req),
            role,
            &table,
            drafts,
            Preview::default(),
            error,
        );
        return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let (name, t, actor) = (role.clone(), table.name.clone(), Actor::from(&admin.0.user));
    state
        .db
        .run(move |conn| rules_store::save_rules(conn, &name, &t, &rules, &actor))
        .await?;
    rights_cache.forget_all();
    let back = format!("/roles/{role}/rules/{}", table.name);
    Ok(page::done(&req, &back, "success", "Row rules saved."))
}

/// The counts of the draft read rule, for the role's sample operators; nothing is saved.
pub async fn preview(
    req: HttpRequest,
    _admin: Admin,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
    path: web::Path<(String, String)>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    let (role, table) = target(&state, &catalog, path).await?;
    let (drafts, _) = rule_form::read(&pairs, &table);
    let read = drafts
        .iter()
        .find(|d| d.action == "read")
        .ok_or(AppError::NotFound)?;
    let preview = match read.all_error.clone().or(read.any_error.clone()) {
        Some(e) => Preview::failed(format!("The read rule cannot be counted: {e}")),
        None => match rule_form::rule_of(read, &table) {
            Err(e) => Preview::failed(format!("The read rule cannot be counted: {e}")),
            Ok(rule) => {
                let (name, t) = (role.clone(), table.clone());
                let run = move |conn: &mut _| rules_store::preview(conn, &name, &t, rule.as_ref());
                state.db.run(run).await?
            }
        },
    };
    if is_htmx(&req) {
        return page::ok(&PreviewPartial { preview });
    }
    page::ok(&rules_page(
        Layout::build(&req),
        role,
        &table,
        drafts,
        preview,
        None,
    ))
}
