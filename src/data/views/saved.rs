//! The saved-views panel of a list: the table's views as a menu, the open view with its
//! notice, and the forms to save, change, share, rename and delete.

/// One saved view in the menu.
#[derive(Clone)]
pub struct SavedItem {
    pub id: i64,
    pub name: String,
    pub href: String,
    /// The operator owns it (and so may change, rename, share and delete it).
    pub mine: bool,
    pub active: bool,
    /// The roles it is shared with, comma-separated (empty: personal).
    pub shared_with: String,
}

/// A role offered in the share choice.
pub struct ShareRole {
    pub name: String,
    pub checked: bool,
}

pub struct SavedPanel {
    pub csrf: String,
    /// The table's list.
    pub path: String,
    /// Where the panel's forms post: `/data/{table}/views`.
    pub action: String,
    /// The list's query as a view keeps it (no page, cursor or view).
    pub query: String,
    pub items: Vec<SavedItem>,
    /// The view the list was opened with.
    pub active: Option<SavedItem>,
    /// Why part of the open view was not applied.
    pub notice: Option<String>,
    pub may_share: bool,
    pub roles: Vec<ShareRole>,
}
