//! Saved views of a table's list: save the current query under a name (personal, or shared
//! with roles by a role with the "share views" right), save changes, rename, re-share and
//! delete (each audited under `gh_views`), and the panel the list page shows. Opening a
//! view (`?view=ID`) is the core's `web::saved`, shared with exports and the API.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::audit::{self, Actor};
use crate::catalog::{Catalog, Table};
use crate::data::views::{SavedItem, SavedPanel, ShareRole, table_path};
use crate::db::DbConn;
use crate::engine::query::ListQuery;
use crate::engine::saved::{self, Listed, SavedView, ViewDirectory};
use crate::engine::store::{self, CountCache, ListPage};
use crate::error::AppError;
use crate::identity::Access;
use crate::identity::roles;
use crate::state::AppState;
use crate::web::form::{Pairs, get};
use crate::web::nav::views_changed;
use crate::web::page;
use crate::web::saved::{self as opened, Opened, may_share};
use crate::web::table::VisibleTable;

/// Where audit entries of views are filed (not under the data table, whose rows' history
/// they would otherwise join).
const AUDIT_TABLE: &str = "gh_views";

/// A submitted view: its name, its query (as a view keeps it) and, when the form offered
/// sharing, the roles to share it with.
struct ViewForm {
    name: String,
    query: Option<String>,
    roles: Option<Vec<String>>,
}

impl ViewForm {
    fn read(pairs: &Pairs, table: &Table, access: &Access) -> Result<ViewForm, AppError> {
        let name = get(pairs, "name").unwrap_or("").trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AppError::Invalid(
                "Give the view a name of 1 to 100 characters.".into(),
            ));
        }
        let query = get(pairs, "query").map(saved::keep);
        if let Some(q) = &query {
            ListQuery::parse(q, table)?;
        }
        let chosen: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k == "role")
            .map(|(_, v)| v.clone())
            .collect();
        let sharing = get(pairs, "sharing").is_some() || !chosen.is_empty();
        if sharing && !may_share(access) {
            return Err(AppError::Forbidden(
                "Your role may not share views with roles (the \"share views\" right).".into(),
            ));
        }
        Ok(ViewForm {
            name,
            query,
            roles: sharing.then_some(chosen),
        })
    }
}

/// Every named role must exist.
fn check_roles(conn: &mut DbConn, chosen: &[String]) -> Result<(), AppError> {
    let known = roles::role_names(conn)?;
    match chosen.iter().find(|r| !known.contains(r)) {
        Some(r) => Err(AppError::Invalid(format!("There is no role '{r}'."))),
        None => Ok(()),
    }
}

fn record(
    conn: &mut DbConn,
    actor: &Actor,
    action: &str,
    id: i64,
    changes: serde_json::Value,
) -> Result<(), AppError> {
    Ok(audit::record(
        conn,
        actor,
        action,
        AUDIT_TABLE,
        &id.to_string(),
        &changes,
    )?)
}

/// Store a new view and its audit entries in one transaction.
fn create_view(
    conn: &mut DbConn,
    table: &str,
    form: &ViewForm,
    actor: &Actor,
) -> Result<i64, AppError> {
    let roles = form.roles.clone().unwrap_or_default();
    let owner = actor.user_id.clone().unwrap_or_default();
    crate::db::write_tx(conn, |conn| {
        check_roles(conn, &roles)?;
        let query = form.query.clone().unwrap_or_default();
        let id = saved::create(conn, table, &form.name, &owner, &query, &roles)?;
        let about = json!({ "table": table, "name": form.name, "query": query });
        record(conn, actor, "view.created", id, about)?;
        if !roles.is_empty() {
            record(
                conn,
                actor,
                "view.shared",
                id,
                json!({ "table": table, "roles": roles }),
            )?;
        }
        Ok(id)
    })
}

/// Apply a change to a view its owner submitted, auditing what changed.
fn change_view(
    conn: &mut DbConn,
    view: &SavedView,
    form: &ViewForm,
    actor: &Actor,
) -> Result<(), AppError> {
    crate::db::write_tx(conn, |conn| {
        let query = form.query.clone().unwrap_or_else(|| view.query.clone());
        saved::update(conn, view.id, &form.name, &query)?;
        let table = &view.table_name;
        if form.name != view.name {
            let about = json!({ "table": table, "from": view.name, "to": form.name });
            record(conn, actor, "view.renamed", view.id, about)?;
        }
        if query != view.query {
            let about = json!({ "table": table, "from": view.query, "to": query });
            record(conn, actor, "view.updated", view.id, about)?;
        }
        if let Some(roles) = &form.roles {
            check_roles(conn, roles)?;
            let before = saved::roles_of(conn, view.id)?;
            let mut after = roles.clone();
            after.sort();
            after.dedup();
            if before != after {
                saved::set_roles(conn, view.id, &after)?;
                let about = json!({ "table": table, "from": before, "to": after });
                record(conn, actor, "view.shared", view.id, about)?;
            }
        }
        Ok(())
    })
}

fn delete_view(conn: &mut DbConn, view: &SavedView, actor: &Actor) -> Result<(), AppError> {
    crate::db::write_tx(conn, |conn| {
        saved::delete(conn, view.id)?;
        let about = json!({ "table": view.table_name, "name": view.name, "query": view.query });
        record(conn, actor, "view.deleted", view.id, about)
    })
}

/// The view the path names, if it is the operator's own: another's view they may open is
/// 403, one they may not even open 404.
async fn own_view(
    req: &HttpRequest,
    access: &Access,
    state: &AppState,
    table: &Table,
) -> Result<SavedView, AppError> {
    let id: i64 = req
        .match_info()
        .get("id")
        .and_then(|s| s.parse().ok())
        .ok_or(AppError::NotFound)?;
    let view = opened::find(state, access, table, id).await?;
    if view.owner_id != access.user.id {
        return Err(AppError::Forbidden(
            "Only the view's owner may change it.".into(),
        ));
    }
    Ok(view)
}

pub async fn create(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    let visible = VisibleTable::of(&req, &access.rights).await?;
    let form = ViewForm::read(&pairs, &visible.table, &access)?;
    let (table, actor) = (visible.table.name.clone(), Actor::from(&access.user));
    let id = state
        .db
        .run(move |conn| create_view(conn, &table, &form, &actor))
        .await?;
    views_changed(&req);
    let to = format!("{}?view={id}", table_path(&visible.table.name));
    Ok(page::done(&req, &to, "success", "View saved."))
}

pub async fn update(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    let visible = VisibleTable::of(&req, &access.rights).await?;
    let view = own_view(&req, &access, &state, &visible.table).await?;
    let form = ViewForm::read(&pairs, &visible.table, &access)?;
    let (id, actor) = (view.id, Actor::from(&access.user));
    state
        .db
        .run(move |conn| change_view(conn, &view, &form, &actor))
        .await?;
    views_changed(&req);
    let to = format!("{}?view={id}", table_path(&visible.table.name));
    Ok(page::done(&req, &to, "success", "View saved."))
}

pub async fn delete(
    req: HttpRequest,
    access: Access,
    state: web::Data<AppState>,
    pairs: web::Form<Pairs>,
) -> Result<HttpResponse, AppError> {
    let visible = VisibleTable::of(&req, &access.rights).await?;
    let view = own_view(&req, &access, &state, &visible.table).await?;
    if get(&pairs, "confirm") != Some("yes") {
        return Err(AppError::Invalid(
            "Tick the confirmation to delete the view.".into(),
        ));
    }
    let actor = Actor::from(&access.user);
    state
        .db
        .run(move |conn| delete_view(conn, &view, &actor))
        .await?;
    views_changed(&req);
    let to = table_path(&visible.table.name);
    Ok(page::done(&req, &to, "success", "View deleted."))
}

/// What the saved-views panel shows, from the view directory the navigation is built from
/// (kept fresh by every change of views or roles, here and on the other instances): no
/// query of its own, nothing at all for an htmx swap of the rows.
pub struct PanelLoad {
    name: String,
    user: String,
    role: String,
    sharing: bool,
    wanted: bool,
}

/// The table's views the operator may open (with the roles each is shared with) and, for
/// those who may share, every role's name.
#[derive(Default)]
pub struct PanelRows {
    views: Vec<Listed>,
    all_roles: Vec<String>,
}

impl PanelLoad {
    pub fn of(access: &Access, table: &Table, wanted: bool) -> PanelLoad {
        PanelLoad {
            name: table.name.clone(),
            user: access.user.id.clone(),
            role: access.rights.role.clone(),
            sharing: may_share(access),
            wanted,
        }
    }

    pub fn load(&self, directory: &ViewDirectory) -> PanelRows {
        if !self.wanted {
            return PanelRows::default();
        }
        let views = directory
            .snapshot()
            .iter()
            .filter(|v| v.table_name == self.name && v.visible_to(&self.user, &self.role))
            .cloned()
            .collect();
        let all_roles = if self.sharing {
            directory.roles().to_vec()
        } else {
            Vec::new()
        };
        PanelRows { views, all_roles }
    }
}

impl PanelLoad {
    /// The list's page of rows (one trip to the database) and the panel's rows.
    pub async fn with_list(
        self,
        state: &AppState,
        catalog: Arc<Catalog>,
        table: &Arc<Table>,
        q: &ListQuery,
        counts: &web::Data<CountCache>,
        directory: &ViewDirectory,
    ) -> Result<(ListPage, PanelRows), AppError> {
        let (t, query, counts) = (table.clone(), q.clone(), counts.clone());
        let rows = state
            .db
            .read(move |conn| store::list(conn, &catalog, &t, &query, &counts))
            .await?;
        Ok((rows, self.load(directory)))
    }
}

/// The saved-views panel of a list opened with `opened`, showing query `q`.
pub fn panel(
    rows: PanelRows,
    access: &Access,
    table: &Table,
    q: &ListQuery,
    opened: &Opened,
    csrf: String,
) -> SavedPanel {
    let PanelRows { views, all_roles } = rows;
    let sharing = may_share(access);
    let path = table_path(&table.name);
    let active_id = opened.view.as_ref().map(|v| v.id);
    let items: Vec<SavedItem> = views
        .iter()
        .map(|v| SavedItem {
            id: v.id,
            name: v.name.clone(),
            href: format!("{path}?view={}", v.id),
            mine: v.owner_id == access.user.id,
            active: Some(v.id) == active_id,
            shared_with: v.roles.join(", "),
        })
        .collect();
    let active_roles: Vec<String> = views
        .iter()
        .find(|v| Some(v.id) == active_id)
        .map(|v| v.roles.clone())
        .unwrap_or_default();
    let active = items.iter().find(|i| i.active).cloned();
    SavedPanel {
        csrf,
        action: format!("{path}/views"),
        path,
        query: saved::keep(&q.to_query(Some(1), None)),
        items,
        active,
        notice: (opened.dropped > 0).then(|| {
            format!(
                "This view refers to {} column(s) that no longer exist or that your role cannot see; the rest of it is applied.",
                opened.dropped
            )
        }),
        may_share: sharing,
        roles: all_roles
            .into_iter()
            .map(|r| ShareRole {
                checked: active_roles.contains(&r),
                name: r,
            })
            .collect(),
    }
}
