//! Saved views: a list's query (search, filters, sort, visible columns, rows per page) kept
//! under a name in `gh_views`, personal or shared with roles (`gh_view_roles`), and how a
//! stored query meets the table as the viewer sees it now (columns removed since, or hidden
//! from the viewer's role, are dropped and counted, never revealed).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::catalog::Table;
use crate::db::schema::{gh_view_roles as vr, gh_views as v};
use crate::db::{DbConn, now, write_tx};

/// The parameters a view keeps; paging and cursors are not part of a view.
const KEPT: &[&str] = &["q", "sort", "per_page", "cols"];

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = v)]
pub struct SavedView {
    pub id: i64,
    pub table_name: String,
    pub name: String,
    pub owner_id: String,
    pub query: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The views of `table` the operator owns or that are shared with their role, by name.
pub fn for_viewer(
    conn: &mut DbConn,
    table: &str,
    user_id: &str,
    role: &str,
) -> QueryResult<Vec<SavedView>> {
    v::table
        .filter(v::table_name.eq(table))
        .filter(
            v::owner_id
                .eq(user_id)
                .or(v::id.eq_any(vr::table.filter(vr::role_name.eq(role)).select(vr::view_id))),
        )
        .select(SavedView::as_select())
        .order((v::name, v::id))
        .load(conn)
}

/// One view of `table`, if the operator owns it or it is shared with their role.
pub fn find_for_viewer(
    conn: &mut DbConn,
    table: &str,
    id: i64,
    user_id: &str,
    role: &str,
) -> QueryResult<Option<SavedView>> {
    v::table
        .filter(v::id.eq(id).and(v::table_name.eq(table)))
        .filter(
            v::owner_id
                .eq(user_id)
                .or(v::id.eq_any(vr::table.filter(vr::role_name.eq(role)).select(vr::view_id))),
        )
        .select(SavedView::as_select())
        .first(conn)
        .optional()
}

/// The roles a view is shared with.
pub fn roles_of(conn: &mut DbConn, id: i64) -> QueryResult<Vec<String>> {
    vr::table
        .filter(vr::view_id.eq(id))
        .select(vr::role_name)
        .order(vr::role_name)
        .load(conn)
}

/// Store a new view (its query already reduced by `keep`) and return its id.
pub fn create(
    conn: &mut DbConn,
    table: &str,
    name: &str,
    owner_id: &str,
    query: &str,
    roles: &[String],
) -> QueryResult<i64> {
    write_tx(conn, |conn| {
        let at = now();
        diesel::insert_into(v::table)
            .values((
                v::table_name.eq(table),
                v::name.eq(name),
                v::owner_id.eq(owner_id),
                v::query.eq(query),
                v::created_at.eq(at),
                v::updated_at.eq(at),
            ))
            .execute(conn)?;
        let id = v::table
            .filter(v::owner_id.eq(owner_id))
            .select(v::id)
            .order(v::id.desc())
            .first(conn)?;
        set_roles(conn, id, roles)?;
        Ok(id)
    })
}

/// Replace the roles a view is shared with.
pub fn set_roles(conn: &mut DbConn, id: i64, roles: &[String]) -> QueryResult<()> {
    diesel::delete(vr::table.filter(vr::view_id.eq(id))).execute(conn)?;
    for role in roles {
        diesel::insert_into(vr::table)
            .values((vr::view_id.eq(id), vr::role_name.eq(role)))
            .execute(conn)?;
    }
    Ok(())
}

/// Change a view's name and/or query.
pub fn update(conn: &mut DbConn, id: i64, name: &str, query: &str) -> QueryResult<()> {
    diesel::update(v::table.find(id))
        .set((
            v::name.eq(name),
            v::query.eq(query),
            v::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut DbConn, id: i64) -> QueryResult<()> {
    diesel::delete(vr::table.filter(vr::view_id.eq(id))).execute(conn)?;
    diesel::delete(v::table.find(id)).execute(conn)?;
    Ok(())
}

fn is_kept(key: &str) -> bool {
    KEPT.contains(&key) || key.contains("__")
}

/// The part of a list's query string a view keeps (no page, cursor or view).
pub fn keep(query: &str) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, val) in url::form_urlencoded::parse(query.as_bytes()) {
        if is_kept(&k) {
            out.append_pair(&k, &val);
        }
    }
    out.finish()
}

/// A stored query applied to a table, with the address's own parameters on top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub query: String,
    /// How many of the view's references to columns were dropped (removed since the view
    /// was saved, or hidden from the viewer).
    pub dropped: usize,
}

/// The view's parameters that still name columns of `table` (as the viewer sees it), then
/// those of `over` (the address) except `view`; a parameter in `over` replaces the view's.
pub fn apply(stored: &str, over: &str, table: &Table) -> Applied {
    let over: Vec<(String, String)> = url::form_urlencoded::parse(over.as_bytes())
        .filter(|(k, _)| k != "view")
        .map(|(k, val)| (k.into_owned(), val.into_owned()))
        .collect();
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    let mut dropped = 0;
    let known = |name: &str| table.column(name).is_some();
    for (k, val) in url::form_urlencoded::parse(stored.as_bytes()) {
        // The column choice's checkboxes (`col`) replace the view's `cols`.
        if over
            .iter()
            .any(|(o, _)| *o == k || (k == "cols" && o == "col"))
        {
            continue;
        }
        match k.as_ref() {
            "sort" if !known(val.trim_start_matches('-')) => dropped += 1,
            "cols" => {
                let cols: Vec<&str> = val.split(',').filter(|c| !c.is_empty()).collect();
                let live: Vec<&str> = cols.iter().copied().filter(|c| known(c)).collect();
                dropped += cols.len() - live.len();
                if !live.is_empty() {
                    out.append_pair("cols", &live.join(","));
                }
            }
            f if f.contains("__") => match f.rsplit_once("__") {
                Some((c, _)) if known(c) => {
                    out.append_pair(&k, &val);
                }
                _ => dropped += 1,
            },
            _ => {
                out.append_pair(&k, &val);
            }
        }
    }
    for (k, val) in &over {
        out.append_pair(k, val);
    }
    Applied {
        query: out.finish(),
        dropped,
    }
}

/// Views follow their table to its new name (in the schema change's transaction).
pub fn rename_table(conn: &mut DbConn, from: &str, to: &str) -> QueryResult<usize> {
    diesel::update(v::table.filter(v::table_name.eq(from)))
        .set(v::table_name.eq(to))
        .execute(conn)
}

/// Views of `table` follow a renamed column (`to`), or forget a dropped one (`None`): in
/// their filters, sort and visible columns (in the schema change's transaction).
pub fn rename_column(
    conn: &mut DbConn,
    table: &str,
    from: &str,
    to: Option<&str>,
) -> QueryResult<usize> {
    let views: Vec<(i64, String)> = v::table
        .filter(v::table_name.eq(table))
        .select((v::id, v::query))
        .load(conn)?;
    let mut changed = 0;
    for (id, query) in views {
        let rewritten = rewrite_column(&query, from, to);
        if rewritten != query {
            diesel::update(v::table.find(id))
                .set(v::query.eq(&rewritten))
                .execute(conn)?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// A stored query with column `from` renamed to `to`, or left out (`None`).
pub fn rewrite_column(query: &str, from: &str, to: Option<&str>) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, val) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "sort" => {
                let (desc, col) = match val.strip_prefix('-') {
                    Some(c) => ("-", c),
                    None => ("", val.as_ref()),
                };
                match (col == from, to) {
                    (false, _) => {
                        out.append_pair("sort", &val);
                    }
                    (true, Some(to)) => {
                        out.append_pair("sort", &format!("{desc}{to}"));
                    }
                    (true, None) => {}
                }
            }
            "cols" => {
                let cols: Vec<&str> = val
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .filter_map(|c| if c == from { to } else { Some(c) })
                    .collect();
                if !cols.is_empty() {
                    out.append_pair("cols", &cols.join(","));
                }
            }
            f if f.contains("__") => match (f.rsplit_once("__"), to) {
                (Some((c, op)), Some(to)) if c == from => {
                    out.append_pair(&format!("{to}__{op}"), &val);
                }
                (Some((c, _)), None) if c == from => {}
                _ => {
                    out.append_pair(&k, &val);
                }
            },
            _ => {
                out.append_pair(&k, &val);
            }
        }
    }
    out.finish()
}

/// A list link's query while view `id` (stored as `stored`) is open: `view=ID` first, so
/// the view's tab stays marked, then `query`. A parameter the view keeps that `query` leaves
/// out is sent empty (rows per page: the default), so the view's value does not come back
/// underneath. `None` when `query` drops one of the view's filters: the list is then no
/// longer that view (an empty filter can mean "equal to the empty string").
pub fn link_query(id: i64, stored: &str, query: &str) -> Option<String> {
    let present: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect();
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    out.append_pair("view", &id.to_string());
    for (k, _) in url::form_urlencoded::parse(stored.as_bytes()) {
        if present.iter().any(|p| *p == k) {
            continue;
        }
        match k.as_ref() {
            "per_page" => {
                out.append_pair(
                    "per_page",
                    &crate::engine::query::DEFAULT_PAGE_SIZE.to_string(),
                );
            }
            "q" | "sort" | "cols" => {
                out.append_pair(&k, "");
            }
            _ => return None,
        }
    }
    let head = out.finish();
    Some(if query.is_empty() {
        head
    } else {
        format!("{head}&{query}")
    })
}

/// A saved view as the navigation lists it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: i64,
    pub table_name: String,
    pub name: String,
    pub owner_id: String,
    pub roles: Vec<String>,
}

/// The channel on which a view change reaches the other instances' directories.
pub const VIEWS_CHANNEL: &str = "gh_views";

/// A backstop only: a change reaches every instance by notification (`VIEWS_CHANNEL`), and
/// a listener that lost its connection forgets everything when it is back.
const DIRECTORY_TTL: Duration = Duration::from_secs(600);

/// Every saved view's name, table, owner and roles, and every role's name, for the
/// navigation and the list's saved-views panel: read in three queries when stale (after a
/// change of views or roles on any instance, told by notification), by one request while
/// the others show what is cached, so a page costs no trip to the database for it.
#[derive(Default)]
pub struct ViewDirectory {
    inner: RwLock<Directory>,
    /// The same directory on the other instances.
    pub peers: crate::db::notify::Peers,
}

#[derive(Default)]
struct Directory {
    views: Arc<Vec<Listed>>,
    /// Every role's name, built-in first (the panel's share form).
    roles: Arc<Vec<String>>,
    /// When `views` was read (or a refresh was claimed); `None`: read them again.
    read_at: Option<Instant>,
    /// Bumped by every change, so a read that started before it does not count as fresh.
    generation: u64,
}

impl ViewDirectory {
    /// Whatever is cached, fresh or not (empty before the first read).
    pub fn snapshot(&self) -> Arc<Vec<Listed>> {
        self.inner
            .read()
            .map(|d| d.views.clone())
            .unwrap_or_default()
    }

    /// Every role's name as last read, built-in roles first.
    pub fn roles(&self) -> Arc<Vec<String>> {
        self.inner
            .read()
            .map(|d| d.roles.clone())
            .unwrap_or_default()
    }

    /// Whether this request should read the views again: they are stale, and no other
    /// request has started to. Returns the generation to hand to [`Self::refresh`].
    pub fn claim(&self) -> Option<u64> {
        let stale = |d: &Directory| d.read_at.is_none_or(|at| at.elapsed() > DIRECTORY_TTL);
        if !self.inner.read().is_ok_and(|d| stale(&d)) {
            return None;
        }
        let mut d = self.inner.write().ok()?;
        if !stale(&d) {
            return None;
        }
        d.read_at = Some(Instant::now());
        Some(d.generation)
    }

    /// Read every view again (after [`Self::claim`] returned `generation`).
    pub fn refresh(&self, conn: &mut DbConn, generation: u64) -> QueryResult<()> {
        let views: Vec<(i64, String, String, String)> = v::table
            .select((v::id, v::table_name, v::name, v::owner_id))
            .order((v::table_name, v::name, v::id))
            .load(conn)?;
        let shares: Vec<(i64, String)> = vr::table
            .select((vr::view_id, vr::role_name))
            .order((vr::view_id, vr::role_name))
            .load(conn)?;
        let roles = crate::identity::roles::role_names(conn)?;
        let mut by_view: HashMap<i64, Vec<String>> = HashMap::new();
        for (view, role) in shares {
            by_view.entry(view).or_default().push(role);
        }
        let listed = views
            .into_iter()
            .map(|(id, table_name, name, owner_id)| Listed {
                roles: by_view.remove(&id).unwrap_or_default(),
                id,
                table_name,
                name,
                owner_id,
            })
            .collect();
        if let Ok(mut d) = self.inner.write() {
            d.views = Arc::new(listed);
            d.roles = Arc::new(roles);
            if d.generation != generation {
                d.read_at = None;
            }
        }
        Ok(())
    }

    /// A view was created, changed or deleted here: read them again on the next page, here
    /// and on every other instance.
    pub fn forget(&self) {
        self.forget_here();
        self.peers.tell(crate::db::notify::EVERYTHING);
    }

    /// Read them again on this instance's next page (another instance changed one).
    pub fn forget_here(&self) {
        if let Ok(mut d) = self.inner.write() {
            d.read_at = None;
            d.generation += 1;
        }
    }
}

impl Listed {
    /// Whether the operator may open it: their own, or shared with their role.
    pub fn visible_to(&self, user_id: &str, role: &str) -> bool {
        self.owner_id == user_id || self.roles.iter().any(|r| r == role)
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite_column;

    #[test]
    fn a_renamed_or_dropped_column_is_rewritten_in_filters_sort_and_columns() {
        let q = "q=x&sort=-nick&cols=id%2Cnick%2Cemail&nick__contains=n1&email__eq=a";
        assert_eq!(
            rewrite_column(q, "nick", Some("handle")),
            "q=x&sort=-handle&cols=id%2Chandle%2Cemail&handle__contains=n1&email__eq=a"
        );
        assert_eq!(
            rewrite_column(q, "nick", None),
            "q=x&cols=id%2Cemail&email__eq=a"
        );
        assert_eq!(rewrite_column(q, "city", None), q);
    }
}
