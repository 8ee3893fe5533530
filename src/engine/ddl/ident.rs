//! Names of new tables, columns and indexes: checked before they reach any DDL (length,
//! characters, reserved words, names Gatehouse and the databases keep for themselves), and
//! then always quoted.

/// Postgres truncates longer names (NAMEDATALEN - 1); SQLite has no limit, so both get this.
pub const MAX_LEN: usize = 63;

/// Words reserved by SQL, Postgres or SQLite, and the system column names of both
/// (a column named `ctid` or `rowid` would clash with the database's own).
const RESERVED: &[&str] = &[
    "_rowid_",
    "abort",
    "add",
    "all",
    "alter",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "attach",
    "autoincrement",
    "begin",
    "between",
    "both",
    "by",
    "case",
    "cast",
    "check",
    "cmax",
    "cmin",
    "collate",
    "column",
    "commit",
    "constraint",
    "create",
    "cross",
    "ctid",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "database",
    "default",
    "deferrable",
    "delete",
    "desc",
    "detach",
    "distinct",
    "do",
    "drop",
    "else",
    "end",
    "escape",
    "except",
    "exists",
    "explain",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "full",
    "glob",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "index",
    "initially",
    "inner",
    "insert",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "oid",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "placing",
    "pragma",
    "primary",
    "references",
    "regexp",
    "reindex",
    "rename",
    "replace",
    "returning",
    "right",
    "rollback",
    "rowid",
    "select",
    "session_user",
    "set",
    "similar",
    "some",
    "symmetric",
    "table",
    "tableoid",
    "then",
    "to",
    "trailing",
    "transaction",
    "trigger",
    "true",
    "union",
    "unique",
    "update",
    "user",
    "using",
    "vacuum",
    "values",
    "variadic",
    "verbose",
    "view",
    "when",
    "where",
    "window",
    "with",
    "xmax",
    "xmin",
];

/// Whether `word` is reserved (the list is sorted: tested below).
pub fn is_reserved(word: &str) -> bool {
    RESERVED.binary_search(&word).is_ok()
}

/// Check a name for a new table, column or index; `what` names it in the message.
pub fn check(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("Give the {what} a name."));
    }
    if name.len() > MAX_LEN {
        return Err(format!(
            "The {what} name \"{name}\" is too long: at most {MAX_LEN} characters."
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(format!(
            "The {what} name \"{name}\" may use lower-case letters, digits and _ only, and must start with a letter or _."
        ));
    }
    if ["gh_", "sqlite_", "pg_"]
        .iter()
        .any(|p| name.starts_with(p))
    {
        return Err(format!(
            "The {what} name \"{name}\" starts with a prefix kept for Gatehouse or the database (gh_, sqlite_, pg_)."
        ));
    }
    if is_reserved(name) {
        return Err(format!(
            "\"{name}\" is a reserved word in SQL: choose another {what} name."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserved_list_is_sorted() {
        assert!(RESERVED.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn names_are_checked() {
        assert!(check("order_items", "table").is_ok());
        assert!(check("_tmp2", "column").is_ok());
        assert!(check("select", "table").unwrap_err().contains("reserved"));
        assert!(check("Bad", "table").is_err());
        assert!(check("a\"b", "table").is_err());
        assert!(check("1st", "table").is_err());
        assert!(check("gh_users", "table").is_err());
        assert!(
            check(&"x".repeat(64), "table")
                .unwrap_err()
                .contains("too long")
        );
    }
}
