//! What a signed-in operator may do with the data. One function decides, and every data
//! route asks it before acting (the pages ask it too, to show only what is allowed).
//! Built-in roles: `admin` and `editor` read and write every table, `viewer` reads.

use crate::auth::CurrentUser;
use crate::data::catalog::Table;

pub const READ_ONLY_ROLE: &str = "Your role lets you read this table, not change it.";

/// Why `user` may not change rows of `table`, if they may not.
pub fn write_refusal(table: &Table, user: &CurrentUser) -> Option<&'static str> {
    table
        .read_only_reason()
        .or_else(|| (!can_write(user)).then_some(READ_ONLY_ROLE))
}

pub fn can_write(user: &CurrentUser) -> bool {
    matches!(user.role.as_str(), "admin" | "editor")
}
