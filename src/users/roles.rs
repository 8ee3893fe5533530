//! `/roles`, for administrators: the built-in roles, and custom roles with a matrix of
//! rights per table (read / create / update / delete), a default for tables that appear
//! later, columns hidden from the role, and whether it enters the administration areas.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::audit::Actor;
use crate::catalog::{Catalog, CatalogCache};
use crate::error::AppError;
use crate::identity::permissions::{Actions, Admin, RightsCache};
use crate::identity::roles::{RoleInput, RoleRecord, TableRight};
use crate::identity::row_rules;
use crate::state::AppState;
use crate::users::views::{RoleFormPage, RoleRow, RolesPage, TableRights};
use crate::users::{rules_store, store};
use crate::web::form::{Pairs, get};
use crate::web::nav::views_changed;
use crate::web::page::{self, Layout, Page};

pub async fn index(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let catalog = catalog_of(&state, &catalog).await?;
    let (roles, broken_rules) = state
        .db
        .run(move |conn| {
            let roles = store::roles_in_use(conn)?;
            Ok((roles, row_rules::broken_rules(conn, &catalog)?))
        })
        .await?;
    let roles = roles
        .into_iter()
        .map(|(role, users)| RoleRow { role, users })
        .collect();
    page::ok(&RolesPage {
        layout,
        roles,
        broken_rules,
    })
}

async fn catalog_of(
    state: &AppState,
    catalog: &web::Data<CatalogCache>,
) -> Result<std::sync::Arc<Catalog>, AppError> {
    let cache = catalog.clone();
    state.db.run(move |conn| cache.get(conn)).await
}

/// The matrix for every table of the catalog, filled from the role's saved rights and
/// the actions of its row rules per table.
fn matrix(
    catalog: &Catalog,
    rights: &[TableRight],
    default: Actions,
    rules: &[(String, String)],
) -> Vec<TableRights> {
    catalog
        .tables
        .values()
        .map(|t| {
            let saved = rights.iter().find(|(name, _, _)| *name == t.name);
            TableRights {
                table: t.name.clone(),
                actions: saved.map_or(default, |(_, a, _)| Actions::parse(a)),
                columns: t
                    .columns
                    .iter()
                    .filter(|c| !c.primary_key)
                    .map(|c| {
                        (
                            c.name.clone(),
                            saved.is_some_and(|(_, _, h)| h.contains(&c.name)),
                        )
                    })
                    .collect(),
                rules: rules
                    .iter()
                    .filter(|(table, _)| *table == t.name)
                    .map(|(_, action)| action.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })
        .collect()
}

/// The role form showing `input`, with the matrix over the whole catalog.
async fn form_page(
    layout: Layout,
    state: &AppState,
    catalog: &web::Data<CatalogCache>,
    input: RoleInput,
    role: Option<&RoleRecord>,
    error: Option<String>,
) -> Result<RoleFormPage, AppError> {
    let default = Actions::parse(&input.default_actions);
    let catalog = catalog_of(state, catalog).await?;
    let name = role.filter(|r| !r.builtin).map(|r| r.name.clone());
    let rules = match name {
        Some(name) => {
            let run = move |conn: &mut _| rules_store::rule_actions(conn, &name);
            state.db.run(run).await?
        }
        None => Vec::new(),
    };
    Ok(RoleFormPage {
        layout,
        creating: role.is_none(),
        builtin: role.is_some_and(|r| r.builtin),
        tables: matrix(&catalog, &input.tables, default, &rules),
        name: input.name,
        description: input.description,
        default,
        admin_areas: input.admin_areas,
        require_2fa: input.require_2fa,
        require_passkey: input.require_passkey,
        change_schema: input.change_schema,
        share_views: input.share_views || role.is_some_and(|r| r.name == "admin"),
        run_sql: input.run_sql,
        write_sql: input.write_sql,
        error,
    })
}

pub async fn new(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let input = RoleInput {
        name: String::new(),
        description: String::new(),
        default_actions: "r".into(),
        admin_areas: false,
        require_2fa: false,
        change_schema: false,
        run_sql: false,
        write_sql: false,
        tables: Vec::new(),
        share_views: false,
        require_passkey: false,
    };
    page::ok(&form_page(layout, &state, &catalog, input, None, None).await?)
}

pub async fn edit(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
    name: web::Path<String>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let name = name.into_inner();
    let (role, tables) = state
        .db
        .run(move |conn| store::role_with_rights(conn, &name))
        .await?;
    let input = RoleInput {
        name: role.name.clone(),
        description: role.description.clone(),
        default_actions: role.default_actions.clone(),
        admin_areas: role.admin_areas,
        require_2fa: role.require_2fa,
        change_schema: role.change_schema,
        run_sql: role.run_sql,
        write_sql: role.write_sql,
        tables,
        share_views: role.share_views,
        require_passkey: role.require_passkey,
    };
    page::ok(&form_page(layout, &state, &catalog, input, Some(&role), None).await?)
}

fn actions_from(pairs: &Pairs, prefix: &str) -> String {
    ['r', 'c', 'u', 'd']
        .iter()
        .filter(|a| get(pairs, &format!("{prefix}.{a}")).is_some())
        .collect()
}

/// Read the matrix form: every catalog table's rights and hidden columns.
async fn input_from(
    state: &AppState,
    pairs: &Pairs,
    name: String,
    catalog: &web::Data<CatalogCache>,
) -> Result<RoleInput, AppError> {
    let catalog = catalog_of(state, catalog).await?;
    let tables = catalog
        .tables
        .values()
        .map(|t| {
            let hidden: Vec<String> = pairs
                .iter()
                .filter(|(k, v)| {
                    *k == format!("h.{}", t.name) && t.column(v).is_some_and(|c| !c.primary_key)
                })
                .map(|(_, v)| v.clone())
                .collect();
            (
                t.name.clone(),
                actions_from(pairs, &format!("t.{}", t.name)),
                hidden,
            )
        })
        .collect();
    Ok(RoleInput {
        name,
        description: get(pairs, "description")
            .unwrap_or("")
            .trim()
            .chars()
            .take(200)
            .collect(),
        default_actions: actions_from(pairs, "default"),
        admin_areas: get(pairs, "admin_areas").is_some(),
        require_2fa: get(pairs, "require_2fa").is_some(),
        change_schema: get(pairs, "change_schema").is_some(),
        run_sql: get(pairs, "run_sql").is_some(),
        write_sql: get(pairs, "write_sql").is_some(),
        tables,
        share_views: get(pairs, "share_views").is_some(),
        require_passkey: get(pairs, "require_passkey").is_some(),
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

pub async fn create(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    pairs: web::Form<Pairs>,
    rights_cache: web::Data<RightsCache>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let pairs = pairs.into_inner();
    let name = get(&pairs, "name").unwrap_or("").trim().to_lowercase();
    let input = input_from(&state, &pairs, name.clone(), &catalog).await?;
    let outcome = if valid_name(&name) {
        let (saved, actor) = (input.clone(), Actor::from(&admin.0.user));
        state
            .db
            .run(move |conn| store::create_role(conn, &saved, &actor))
            .await?
    } else {
        Err("A role name uses lower-case letters, digits, - and _ (at most 40).".to_string())
    };
    match outcome {
        Ok(()) => {
            rights_cache.forget_all();
            views_changed(&req);
            Ok(page::done(&req, "/roles", "success", "Role created."))
        }
        Err(error) => {
            let layout = Layout::build(&req);
            let page = form_page(layout, &state, &catalog, input, None, Some(error)).await?;
            page::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

pub async fn update(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    pairs: web::Form<Pairs>,
    rights_cache: web::Data<RightsCache>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let input = input_from(&state, &pairs, name.into_inner(), &catalog).await?;
    let actor = Actor::from(&admin.0.user);
    state
        .db
        .run(move |conn| store::update_role(conn, &input, &actor))
        .await?;
    rights_cache.forget_all();
    views_changed(&req);
    Ok(page::done(&req, "/roles", "success", "Role saved."))
}

pub async fn delete(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    rights_cache: web::Data<RightsCache>,
) -> Result<HttpResponse, AppError> {
    let (name, actor) = (name.into_inner(), Actor::from(&admin.0.user));
    let outcome = state
        .db
        .run(move |conn| store::delete_role(conn, &name, &actor))
        .await?;
    rights_cache.forget_all();
    views_changed(&req);
    Ok(match outcome {
        Ok(()) => page::done(&req, "/roles", "success", "Role deleted."),
        Err(message) => page::done(&req, "/roles", "error", message),
    })
}
