//! A list's query as a request asks for it: the address alone, or a saved view
//! (`?view=ID`) the operator owns or that is shared with their role, with the address's
//! parameters on top. The data pages, their exports and the API all start here; a view the
//! operator may not open is "not found".

use crate::catalog::Table;
use crate::engine::saved::{self, SavedView};
use crate::error::AppError;
use crate::identity::Access;
use crate::state::AppState;

/// The query to parse, and the view it came from.
pub struct Opened {
    pub query: String,
    pub view: Option<SavedView>,
    /// Column references of the view that no longer apply (removed or hidden).
    pub dropped: usize,
}

/// The `view` parameter of a query string, if any; not a number is a 400.
pub fn view_id(query: &str) -> Result<Option<i64>, AppError> {
    let Some((_, raw)) = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "view")
    else {
        return Ok(None);
    };
    raw.parse::<i64>()
        .map(Some)
        .map_err(|_| AppError::Invalid(format!("'{raw}' is not a saved view's number.")))
}

/// `query` with the saved view it names (if any) applied underneath.
pub async fn open(
    state: &AppState,
    access: &Access,
    table: &Table,
    query: &str,
) -> Result<Opened, AppError> {
    let Some(id) = view_id(query)? else {
        return Ok(Opened {
            query: query.to_string(),
            view: None,
            dropped: 0,
        });
    };
    let view = find(state, access, table, id).await?;
    let applied = saved::apply(&view.query, query, table);
    Ok(Opened {
        query: applied.query,
        view: Some(view),
        dropped: applied.dropped,
    })
}

/// Who may share views with roles: administrators (the `admin` role, whose rights always
/// include it) and roles given the "share views" right.
pub fn may_share(access: &Access) -> bool {
    access.rights.share_views
}

/// Saved view `id` of `table`, if the operator may open it (their own, or shared with their
/// role); otherwise "not found".
pub async fn find(
    state: &AppState,
    access: &Access,
    table: &Table,
    id: i64,
) -> Result<SavedView, AppError> {
    let (name, user, role) = (
        table.name.clone(),
        access.user.id.clone(),
        access.rights.role.clone(),
    );
    state
        .db
        .run(move |conn| Ok(saved::find_for_viewer(conn, &name, id, &user, &role)?))
        .await?
        .ok_or(AppError::NotFound)
}
