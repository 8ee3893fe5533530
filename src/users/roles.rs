//! `/roles`, for administrators: the built-in roles, and custom roles with a matrix of
//! rights per table (read / create / update / delete), a default for tables that appear
//! later, columns hidden from the role, and whether it enters the administration areas.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::audit::{self, Actor};
use crate::catalog::CatalogCache;
use crate::db::{self, now};
use crate::error::AppError;
use crate::identity::permissions::RightsCache;
use crate::identity::permissions::{Actions, Admin};
use crate::identity::users::{self, RoleInput, RoleRecord};
use crate::state::AppState;
use crate::web::flash;
use crate::web::form::{Pairs, get};
use crate::web::page::{self, Layout, Page};

pub struct RoleRow {
    pub role: RoleRecord,
    pub users: i64,
}

#[derive(Template)]
#[template(path = "users/roles.html")]
struct IndexPage {
    layout: Layout,
    roles: Vec<RoleRow>,
}

pub async fn index(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let roles = state
        .db
        .run(|conn| {
            users::roles(conn)?
                .into_iter()
                .map(|role| {
                    Ok(RoleRow {
                        users: users::users_with_role(conn, &role.name)?,
                        role,
                    })
                })
                .collect::<Result<Vec<_>, AppError>>()
        })
        .await?;
    page::ok(&IndexPage { layout, roles })
}

pub struct TableRights {
    pub table: String,
    pub actions: Actions,
    pub columns: Vec<(String, bool)>,
}

#[derive(Template)]
#[template(path = "users/role_form.html")]
struct FormPage {
    layout: Layout,
    creating: bool,
    builtin: bool,
    name: String,
    description: String,
    default: Actions,
    admin_areas: bool,
    require_2fa: bool,
    tables: Vec<TableRights>,
    error: Option<String>,
}

/// The matrix for every table of the catalog, filled from the role's saved rights.
async fn matrix(
    state: &AppState,
    rights: Vec<(String, String, Vec<String>)>,
    default: Actions,
    catalog: web::Data<CatalogCache>,
) -> Result<Vec<TableRights>, AppError> {
    let cache = catalog.clone();
    let catalog = state.db.run(move |conn| cache.get(conn)).await?;
    Ok(catalog
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
            }
        })
        .collect())
}

pub async fn new(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let default = Actions::parse("r");
    page::ok(&FormPage {
        layout,
        creating: true,
        builtin: false,
        name: String::new(),
        description: String::new(),
        default,
        admin_areas: false,
        require_2fa: false,
        tables: matrix(&state, Vec::new(), default, catalog.clone()).await?,
        error: None,
    })
}

pub async fn edit(
    _admin: Admin,
    Page(layout): Page,
    state: web::Data<AppState>,
    name: web::Path<String>,
    catalog: web::Data<CatalogCache>,
) -> Result<HttpResponse, AppError> {
    let n = name.into_inner();
    let (role, rights) = state
        .db
        .run(move |conn| {
            let role = users::find_role(conn, &n)?.ok_or(AppError::NotFound)?;
            let rights = users::role_tables(conn, &role.name)?;
            Ok((role, rights))
        })
        .await?;
    let default = Actions::parse(&role.default_actions);
    page::ok(&FormPage {
        layout,
        creating: false,
        builtin: role.builtin,
        tables: matrix(&state, rights, default, catalog.clone()).await?,
        name: role.name,
        description: role.description,
        default,
        admin_areas: role.admin_areas,
        require_2fa: role.require_2fa,
        error: None,
    })
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
    catalog: web::Data<CatalogCache>,
) -> Result<RoleInput, AppError> {
    let cache = catalog.clone();
    let catalog = state.db.run(move |conn| cache.get(conn)).await?;
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
        tables,
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn actor(admin: &Admin) -> Actor {
    Actor {
        user_id: Some(admin.0.user.id.clone()),
        email: admin.0.user.email.clone(),
    }
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
    let input = input_from(&state, &pairs, name.clone(), catalog.clone()).await?;
    let error = if !valid_name(&name) {
        Some("A role name uses lower-case letters, digits, - and _ (at most 40).".to_string())
    } else {
        None
    };
    let outcome = match error {
        Some(e) => Err(e),
        None => {
            let actor = actor(&admin);
            let input_for_db = clone_input(&input);
            state
                .db
                .run(move |conn| {
                    if users::find_role(conn, &input_for_db.name)?.is_some() {
                        return Ok(Err("A role with this name already exists.".to_string()));
                    }
                    db::write_tx(conn, |conn| {
                        users::save_role(conn, &input_for_db, true, now())?;
                        audit::record(
                            conn,
                            &actor,
                            "role.created",
                            "gh_roles",
                            &input_for_db.name,
                            &serde_json::json!({}),
                        )?;
                        Ok::<_, AppError>(())
                    })?;
                    Ok(Ok(()))
                })
                .await?
        }
    };
    match outcome {
        Ok(()) => {
            rights_cache.forget_all();
            Ok(page::see_other(&req, "/roles")
                .cookie(flash::cookie(
                    "success",
                    "Role created.",
                    state.config.secure_cookies(),
                ))
                .finish())
        }
        Err(error) => {
            let default = Actions::parse(&input.default_actions);
            let tables = matrix(&state, input.tables.clone(), default, catalog.clone()).await?;
            page::render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &FormPage {
                    layout: Layout::build(&req),
                    creating: true,
                    builtin: false,
                    name,
                    description: input.description,
                    default,
                    admin_areas: input.admin_areas,
                    require_2fa: input.require_2fa,
                    tables,
                    error: Some(error),
                },
            )
        }
    }
}

fn clone_input(i: &RoleInput) -> RoleInput {
    RoleInput {
        name: i.name.clone(),
        description: i.description.clone(),
        default_actions: i.default_actions.clone(),
        admin_areas: i.admin_areas,
        require_2fa: i.require_2fa,
        tables: i.tables.clone(),
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
    let pairs = pairs.into_inner();
    let input = input_from(&state, &pairs, name.into_inner(), catalog.clone()).await?;
    let actor = actor(&admin);
    state
        .db
        .run(move |conn| {
            let role = users::find_role(conn, &input.name)?.ok_or(AppError::NotFound)?;
            db::write_tx(conn, |conn| {
                if role.builtin {
                    // Built-in roles are fixed, except whether they require two-factor sign-in.
                    users::set_role_2fa(conn, &role.name, input.require_2fa)?;
                } else {
                    users::save_role(conn, &input, false, now())?;
                }
                audit::record(
                    conn,
                    &actor,
                    "role.updated",
                    "gh_roles",
                    &role.name,
                    &serde_json::json!({}),
                )?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
    rights_cache.forget_all();
    Ok(page::see_other(&req, "/roles")
        .cookie(flash::cookie(
            "success",
            "Role saved.",
            state.config.secure_cookies(),
        ))
        .finish())
}

pub async fn delete(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    rights_cache: web::Data<RightsCache>,
) -> Result<HttpResponse, AppError> {
    let (n, actor) = (name.into_inner(), actor(&admin));
    let outcome = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                let role = users::find_role(conn, &n)?.ok_or(AppError::NotFound)?;
                if role.builtin {
                    return Ok(Err("Built-in roles cannot be deleted."));
                }
                if users::users_with_role(conn, &role.name)? > 0 {
                    return Ok(Err(
                        "Operators still have this role: give them another one first.",
                    ));
                }
                users::delete_role(conn, &role.name)?;
                audit::record(
                    conn,
                    &actor,
                    "role.deleted",
                    "gh_roles",
                    &role.name,
                    &serde_json::json!({}),
                )?;
                Ok::<_, AppError>(Ok(()))
            })
        })
        .await?;
    rights_cache.forget_all();
    let (kind, message) = match outcome {
        Ok(()) => ("success", "Role deleted."),
        Err(m) => ("error", m),
    };
    Ok(page::see_other(&req, "/roles")
        .cookie(flash::cookie(kind, message, state.config.secure_cookies()))
        .finish())
}
