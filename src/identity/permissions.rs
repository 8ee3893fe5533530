//! What a signed-in operator may do. Every data route takes `Access` (the operator and their
//! role's rights) and asks it; every administration route takes `Admin`. The pages ask the
//! same questions to show only what is allowed, and a role's hidden columns are removed from
//! the catalog it sees, so they cannot appear in a list, a record, an export, a search, a
//! filter or a foreign-key label.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

pub use crate::catalog::rules::Action;
use crate::catalog::{Catalog, RowKey, Table};
use crate::db::DbConn;
use crate::db::notify::Peers;
use crate::error::AppError;
use crate::identity::CurrentUser;
use crate::identity::memo::{BoundCache, ViewMemo};
use crate::identity::roles::{self, RoleRecord, TableRight};
use crate::identity::row_rules::{self, Me, RoleRule, Scope, Scopes};
use crate::identity::session;
use crate::state::{AppState, app_data};

pub const READ_ONLY_ROLE: &str = "Your role lets you read this table, not change it.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Actions {
    pub read: bool,
    pub create: bool,
    pub update: bool,
    pub delete: bool,
}

impl Actions {
    pub fn parse(s: &str) -> Actions {
        Actions {
            read: s.contains('r'),
            create: s.contains('c'),
            update: s.contains('u'),
            delete: s.contains('d'),
        }
    }

    pub fn code(self) -> String {
        [
            (self.read, 'r'),
            (self.create, 'c'),
            (self.update, 'u'),
            (self.delete, 'd'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect()
    }

    pub fn any_write(self) -> bool {
        self.create || self.update || self.delete
    }
}

/// A role's rights, as loaded from `gh_roles` and `gh_role_tables`.
#[derive(Debug, Clone)]
pub struct Rights {
    pub role: String,
    pub admin_areas: bool,
    pub require_2fa: bool,
    /// May use the schema builder (administrators always may).
    pub change_schema: bool,
    /// May share saved views with roles.
    pub share_views: bool,
    pub default: Actions,
    pub tables: HashMap<String, (Actions, Vec<String>)>,
    /// The SQL console: reading (the whole database) and its write mode.
    pub run_sql: bool,
    pub write_sql: bool,
    /// Row rules per table (never for administrators).
    pub rules: HashMap<String, Vec<RoleRule>>,
    /// Whom `$me` means in the rules: the signed-in operator, or an API token's maker
    /// (`identity::token_me`); `None` for a webhook or a token whose maker may no longer
    /// act, where every `$me` condition is false (fail closed).
    pub me: Option<Me>,
    /// The catalog view last made from these rights (see `catalog_view`).
    view: ViewMemo,
}

impl Rights {
    pub fn from_record(role: RoleRecord, tables: Vec<TableRight>) -> Rights {
        let everything = role.name == "admin";
        Rights {
            admin_areas: everything || role.admin_areas,
            require_2fa: role.require_2fa,
            change_schema: everything || role.change_schema,
            share_views: everything || role.share_views,
            run_sql: everything || role.run_sql,
            write_sql: everything || (role.run_sql && role.write_sql),
            default: if everything {
                Actions::parse("rcud")
            } else {
                Actions::parse(&role.default_actions)
            },
            tables: if everything {
                HashMap::new()
            } else {
                tables
                    .into_iter()
                    .map(|(t, a, h)| (t, (Actions::parse(&a), h)))
                    .collect()
            },
            role: role.name,
            rules: HashMap::new(),
            me: None,
            view: ViewMemo::default(),
        }
    }

    /// A role that may do nothing (an operator whose role was deleted).
    pub fn none(role: &str) -> Rights {
        Rights {
            role: role.to_string(),
            admin_areas: false,
            require_2fa: false,
            change_schema: false,
            share_views: false,
            default: Actions::default(),
            tables: HashMap::new(),
            run_sql: false,
            write_sql: false,
            rules: HashMap::new(),
            me: None,
            view: ViewMemo::default(),
        }
    }

    pub fn actions(&self, table: &str) -> Actions {
        self.tables.get(table).map_or(self.default, |(a, _)| *a)
    }

    pub fn hidden(&self, table: &str) -> &[String] {
        self.tables.get(table).map_or(&[], |(_, h)| h.as_slice())
    }

    pub fn can(&self, table: &str, action: Action) -> bool {
        let a = self.actions(table);
        match action {
            Action::Read => a.read,
            Action::Create => a.read && a.create,
            Action::Update => a.read && a.update,
            Action::Delete => a.read && a.delete,
        }
    }

    /// An audit entry's before/after values without the columns this role may not see.
    pub fn redact_changes(&self, table: &str, changes: &str) -> String {
        let hidden = self.hidden(table);
        if hidden.is_empty() {
            return changes.to_string();
        }
        let Ok(mut v) = serde_json::from_str::<serde_json::Value>(changes) else {
            return String::new();
        };
        for side in ["before", "after"] {
            if let Some(obj) = v.get_mut(side).and_then(|o| o.as_object_mut()) {
                obj.retain(|k, _| !hidden.contains(k));
            }
        }
        v.to_string()
    }

    fn restricts_anything(&self) -> bool {
        !self.rules.is_empty()
            || self.default != Actions::parse("rcud") && self.default != Actions::parse("r")
            || self.tables.values().any(|(a, h)| !h.is_empty() || !a.read)
    }

    /// The catalog as this role sees it: unreadable tables gone, hidden columns removed
    /// (key columns are never hidden: rows must stay addressable).
    pub fn catalog_view(&self, catalog: &Arc<Catalog>) -> Arc<Catalog> {
        if !self.restricts_anything() {
            return catalog.clone();
        }
        // Made once per catalog and rights (bound rights live for seconds), not per request.
        self.view.get(catalog, || {
            let tables = catalog
                .tables
                .iter()
                .filter(|(name, _)| self.can(name, Action::Read))
                .map(|(name, t)| (name.clone(), self.table_view(t)))
                .collect();
            Arc::new(Catalog { tables })
        })
    }

    /// The role's rules on `table` bound for `self.me` (`None`: no rule, every row).
    fn scopes(&self, table: &Table) -> Option<Arc<Scopes>> {
        let rules = self.rules.get(&table.name)?;
        let mut by_action: [Option<Scope>; 4] = Default::default();
        let mut allow_move_out = false;
        for r in rules {
            let i = Action::ALL.iter().position(|a| *a == r.action)?;
            by_action[i] = Some(r.rule.bind(table, self.me.as_ref()));
            allow_move_out |= r.action == Action::Update && r.allow_move_out;
        }
        Some(Arc::new(Scopes::new(by_action, allow_move_out)))
    }

    /// Whether the role has a row rule for `action` on `table`.
    pub fn has_rule(&self, table: &str, action: Action) -> bool {
        self.rules
            .get(table)
            .is_some_and(|rs| rs.iter().any(|r| r.action == action))
    }

    /// Whether the role has row rules at all (then `$me` must be bound per operator).
    pub fn has_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// These rights for one operator: `$me` in the rules means them.
    pub fn for_operator(self: &Arc<Self>, me: Me) -> Arc<Rights> {
        if !self.has_rules() {
            return self.clone();
        }
        let mut r = (**self).clone();
        r.me = Some(me);
        Arc::new(r)
    }

    fn table_view(&self, table: &Arc<Table>) -> Arc<Table> {
        let hidden = self.hidden(&table.name);
        let scopes = self.scopes(table);
        if hidden.is_empty() && scopes.is_none() {
            return table.clone();
        }
        let mut t = (**table).clone();
        if scopes
            .as_ref()
            .is_some_and(|s| s.of(Action::Read).is_some())
        {
            // The planner's estimate counts every row: under a read rule it would reveal
            // hidden ones, so counts become bounded counts of the visible rows.
            t.estimated_rows = None;
        }
        t.scopes = scopes;
        if hidden.is_empty() {
            return Arc::new(t);
        }
        let keys = match &table.key {
            RowKey::Primary(k) => k.clone(),
            _ => Vec::new(),
        };
        let gone = |c: &String| hidden.contains(c) && !keys.contains(c);
        t.columns.retain(|c| !gone(&c.name));
        t.foreign_keys.retain(|f| !f.columns.iter().any(gone));
        t.indexes.retain(|i| !i.columns.iter().any(gone));
        t.referrers.retain(|r| !r.ref_columns.iter().any(gone));
        Arc::new(t)
    }
}

/// Rights per role, remembered for two seconds, and forgotten at once when a role is
/// edited: here directly, on the other instances by notification (`peers`).
#[derive(Default)]
pub struct RightsCache {
    entries: Mutex<HashMap<String, (Instant, Arc<Rights>)>>,
    /// Operators' attributes (for row rules), by user id, under the same rules.
    attributes: Mutex<HashMap<String, (Instant, Arc<Me>)>>,
    /// Rights bound for each operator, while their role's rights and attributes are cached.
    bound: BoundCache,
    /// API tokens' makers (`identity::token_me`), by user id; `None`: may not act.
    makers: Mutex<crate::identity::token_me::Makers>,
    pub peers: Peers,
}

/// The channel on which instances tell each other that roles changed.
pub const RIGHTS_CHANNEL: &str = "gh_rights";

impl RightsCache {
    /// Forget every role's rights, here and on the other instances.
    pub fn forget_all(&self) {
        self.forget_here();
        self.peers.tell(crate::db::notify::EVERYTHING);
    }

    /// Forget every role's rights here (a notification from another instance).
    pub fn forget_here(&self) {
        if let Ok(mut e) = self.entries.lock() {
            e.clear();
        }
        if let Ok(mut a) = self.attributes.lock() {
            a.clear();
        }
        self.bound.clear();
        if let Ok(mut m) = self.makers.lock() {
            m.clear();
        }
    }

    pub(super) fn maker(&self, user_id: &str) -> Option<Option<Arc<Me>>> {
        let m = self.makers.lock().ok()?;
        m.get(user_id)
            .filter(|(at, _)| at.elapsed() < crate::identity::token_me::REMEMBER)
            .map(|(_, me)| me.clone())
    }

    pub(super) fn put_maker(&self, user_id: &str, me: Option<Arc<Me>>) {
        if let Ok(mut m) = self.makers.lock() {
            if m.len() > 10_000 {
                m.clear();
            }
            m.insert(user_id.to_string(), (Instant::now(), me));
        }
    }

    fn me(&self, user_id: &str) -> Option<Arc<Me>> {
        let a = self.attributes.lock().ok()?;
        a.get(user_id)
            .filter(|(at, _)| at.elapsed() < Duration::from_secs(2))
            .map(|(_, m)| m.clone())
    }

    fn put_me(&self, me: Arc<Me>) {
        if let Ok(mut a) = self.attributes.lock() {
            if a.len() > 10_000 {
                a.clear();
            }
            a.insert(me.id.clone(), (Instant::now(), me));
        }
    }

    fn get(&self, role: &str) -> Option<Arc<Rights>> {
        let e = self.entries.lock().ok()?;
        e.get(role)
            .filter(|(at, _)| at.elapsed() < Duration::from_secs(2))
            .map(|(_, r)| r.clone())
    }

    fn put(&self, role: &str, rights: Arc<Rights>) {
        if let Ok(mut e) = self.entries.lock() {
            e.insert(role.to_string(), (Instant::now(), rights));
        }
    }
}

/// The signed-in operator and what their role allows.
#[derive(Clone)]
pub struct Access {
    pub user: CurrentUser,
    pub rights: Arc<Rights>,
}

impl Access {
    /// Why this operator may not change rows of `table`, if they may not.
    pub fn write_refusal(&self, table: &Table, action: Action) -> Option<&'static str> {
        table
            .read_only_reason()
            .or_else(|| (!self.rights.can(&table.name, action)).then_some(READ_ONLY_ROLE))
    }

    /// Refuse with 403 unless `action` is allowed on `table`.
    pub fn require(&self, table: &Table, action: Action) -> Result<(), AppError> {
        match self.write_refusal(table, action) {
            Some(reason) => Err(AppError::Forbidden(reason.into())),
            None => Ok(()),
        }
    }

    pub fn actions(&self, table: &Table) -> Actions {
        if table.read_only_reason().is_some() {
            return Actions {
                read: true,
                ..Actions::default()
            };
        }
        self.rights.actions(&table.name)
    }
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T, AppError>>>>;

/// The rights of a role as stored (none for an unknown role).
pub fn rights_of(conn: &mut DbConn, role: &str) -> diesel::QueryResult<Rights> {
    Ok(match roles::find_role(conn, role)? {
        Some(r) => {
            let tables = roles::role_tables(conn, &r.name)?;
            let mut rights = Rights::from_record(r, tables);
            if rights.role != "admin" {
                for rule in row_rules::rules_of_role(conn, &rights.role)? {
                    rights
                        .rules
                        .entry(rule.table.clone())
                        .or_default()
                        .push(rule);
                }
            }
            rights
        }
        None => Rights::none(role),
    })
}

pub async fn load_rights(req: &HttpRequest, role: &str) -> Result<Arc<Rights>, AppError> {
    let state = app_data::<AppState>(req)?;
    let cache = app_data::<RightsCache>(req)?;
    if let Some(r) = cache.get(role) {
        req.extensions_mut().insert(r.clone());
        return Ok(r);
    }
    let name = role.to_string();
    let rights = state
        .db
        .run(move |conn| Ok(rights_of(conn, &name)?))
        .await?;
    let rights = Arc::new(rights);
    cache.put(role, rights.clone());
    req.extensions_mut().insert(rights.clone());
    Ok(rights)
}

/// The rights with `$me` meaning `user` (their attributes loaded, cached as the rights are),
/// when the role has row rules.
async fn bind_operator(
    req: &HttpRequest,
    user: &CurrentUser,
    rights: Arc<Rights>,
) -> Result<Arc<Rights>, AppError> {
    if !rights.has_rules() {
        return Ok(rights);
    }
    let cache = app_data::<RightsCache>(req)?;
    let me = match cache.me(&user.id) {
        Some(me) => me,
        None => {
            let state = app_data::<AppState>(req)?;
            let (id, email) = (user.id.clone(), user.email.clone());
            let attributes = state
                .db
                .run(move |conn| Ok(row_rules::attributes(conn, &id)?))
                .await?;
            let me = Arc::new(Me {
                id: user.id.clone(),
                email,
                attributes,
            });
            cache.put_me(me.clone());
            me
        }
    };
    let bound = cache.bound.get(&rights, &me);
    req.extensions_mut().insert(bound.clone());
    Ok(bound)
}

impl FromRequest for Access {
    type Error = AppError;
    type Future = LocalFuture<Access>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let user = session::load(&req).await?.ok_or(AppError::Unauthorized)?;
            let rights = load_rights(&req, &user.role).await?;
            let rights = bind_operator(&req, &user, rights).await?;
            Ok(Access { user, rights })
        })
    }
}

/// An operator allowed into the administration areas (users, roles, everyone's audit).
pub struct Admin(pub Access);

impl FromRequest for Admin {
    type Error = AppError;
    type Future = LocalFuture<Admin>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let access = Access::from_request(req, payload);
        Box::pin(async move {
            let access = access.await?;
            if !access.rights.admin_areas {
                return Err(AppError::Forbidden(
                    "This area is for administrators.".into(),
                ));
            }
            Ok(Admin(access))
        })
    }
}
