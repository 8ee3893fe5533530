//! `gatehouse transfer`: Gatehouse's own state (operators with their two-factor recovery
//! codes, roles and their table rights and row rules, operator attributes, API tokens, webhook endpoints with their sealed
//! secrets, settings, saved views and whom they are shared with, the audit log, saved SQL
//! queries, single sign-on providers with their sealed secrets, per-role SSO options and the
//! identities linked to operators, dashboard pins, passkeys, display settings) copied from one database to another,
//! SQLite to Postgres or back, in one transaction on the target. Sessions and the running
//! state of the old installation (sign-in failures, resets, queued events and mail, API
//! rate windows, SQL history, passkey challenges) are not copied. Every `gh_*` table is in one list or the
//! other (a test checks it). Sealed secrets stay sealed: the target must run with the same
//! secret key.

use std::collections::BTreeMap;

use crate::db::{self, Backend, DatabaseUrl, DbConn};
use crate::engine::sql::Sql;
use crate::engine::value::Value;

/// Copied, in the order rows must be written (referenced tables first).
pub const COPIED: &[&str] = &[
    "gh_roles",
    "gh_role_tables",
    "gh_role_rules",
    "gh_users",
    "gh_user_attributes",
    "gh_recovery_codes",
    "gh_api_tokens",
    "gh_webhook_endpoints",
    "gh_settings",
    "gh_views",
    "gh_view_roles",
    "gh_audit",
    "gh_sql_queries",
    "gh_sql_query_roles",
    "gh_sso_providers",
    "gh_sso_roles",
    "gh_identities",
    "gh_dashboard_pins",
    "gh_passkeys",
    "gh_user_settings",
];
/// Emptied on the target (before the copied tables, which some of them reference).
pub const CLEARED: &[&str] = &[
    "gh_api_rate",
    "gh_deliveries",
    "gh_outbox",
    "gh_mail_queue",
    "gh_sessions",
    "gh_login_failures",
    "gh_password_resets",
    "gh_sql_history",
    "gh_webauthn_challenges",
    "gh_sql_runs",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Other,
}

/// A column as the target declares it.
struct Column {
    name: String,
    kind: Kind,
    /// The Postgres type to cast a text parameter to.
    cast: String,
}

fn columns(conn: &mut DbConn, backend: Backend, table: &str) -> Result<Vec<Column>, String> {
    let mut q = Sql::new(backend);
    // Each backend's catalog: SQLite's table_info, Postgres's information_schema.
    match backend {
        Backend::Sqlite => q
            .push("SELECT name, type FROM pragma_table_info(")
            .bind(Value::Text(table.into()))
            .push(") ORDER BY cid"),
        Backend::Postgres => q
            .push("SELECT column_name::text, udt_name::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ")
            .bind(Value::Text(table.into()))
            .push(" ORDER BY ordinal_position"),
    };
    let rows = q
        .load(conn)
        .map_err(|e| format!("cannot read the columns of {table}: {e}"))?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let name = r.first()?.as_text()?;
            let ty = r.get(1)?.as_text().unwrap_or_default().to_lowercase();
            Some(Column {
                kind: if ty.contains("bool") {
                    Kind::Bool
                } else {
                    Kind::Other
                },
                cast: ty,
                name,
            })
        })
        .collect())
}

fn count(conn: &mut DbConn, backend: Backend, table: &str) -> Result<i64, String> {
    let mut q = Sql::new(backend);
    q.push("SELECT COUNT(*) FROM ").ident(table);
    let rows = q
        .load(conn)
        .map_err(|e| format!("cannot count {table}: {e}"))?;
    Ok(rows
        .first()
        .and_then(|r| r.first())
        .and_then(Value::as_text)
        .and_then(|t| t.parse().ok())
        .unwrap_or(0))
}

/// The query reading every row of `table`: its columns as text on Postgres (typed reads
/// of timestamps are not portable), as stored on SQLite.
fn select_all(backend: Backend, table: &str, cols: &[Column]) -> Sql {
    let mut q = Sql::new(backend);
    q.push("SELECT ");
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        match backend {
            Backend::Postgres => q.push("CAST(").ident(&c.name).push(" AS TEXT)"),
            Backend::Sqlite => q.ident(&c.name),
        };
    }
    q.push(" FROM ").ident(table);
    q
}

fn insert(
    conn: &mut DbConn,
    backend: Backend,
    table: &str,
    cols: &[Column],
    row: Vec<Value>,
) -> diesel::QueryResult<usize> {
    let mut q = Sql::new(backend);
    q.push("INSERT INTO ").ident(table).push(" (");
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.ident(&c.name);
    }
    q.push(") VALUES (");
    for (i, (value, c)) in row.into_iter().zip(cols).enumerate() {
        if i > 0 {
            q.push(", ");
        }
        bind(&mut q, backend, value, c);
    }
    q.push(")");
    q.execute(conn)
}

/// A value for a target column: booleans as 1/0 on SQLite, everything as a text parameter
/// cast to the column's type on Postgres.
fn bind(q: &mut Sql, backend: Backend, value: Value, col: &Column) {
    let truth = |v: &Value| match v {
        Value::Bool(b) => Some(*b),
        Value::Int(i) => Some(*i != 0),
        Value::Text(t) => Some(matches!(t.as_str(), "true" | "t" | "1")),
        _ => None,
    };
    match (backend, col.kind, value) {
        (_, _, Value::Null) if backend == Backend::Postgres => {
            q.push("CAST(")
                .bind(Value::Null)
                .push(" AS ")
                .push(&col.cast)
                .push(")");
        }
        (_, _, Value::Null) => {
            q.bind(Value::Null);
        }
        (Backend::Sqlite, Kind::Bool, v) => {
            q.bind(Value::Int(i64::from(truth(&v).unwrap_or(false))));
        }
        (Backend::Sqlite, _, v) => {
            q.bind(v);
        }
        (Backend::Postgres, Kind::Bool, v) => {
            let b = truth(&v).unwrap_or(false);
            q.push("CAST(")
                .bind(Value::Text(b.to_string()))
                .push(" AS bool)");
        }
        (Backend::Postgres, _, v) => {
            q.push("CAST(")
                .bind(v.as_text().map_or(Value::Null, Value::Text))
                .push(" AS ")
                .push(&col.cast)
                .push(")");
        }
    }
}

/// What was copied: rows per table.
pub type Summary = BTreeMap<&'static str, usize>;

/// Saved views keep their numbers (they are in bookmarked addresses), so on Postgres the
/// id sequence must continue after the highest copied one; SQLite's AUTOINCREMENT already
/// does.
fn continue_serials(conn: &mut DbConn, backend: Backend) -> diesel::QueryResult<()> {
    if backend == Backend::Postgres {
        let mut q = Sql::new(backend);
        q.push("SELECT setval(pg_get_serial_sequence('gh_views', 'id'), COALESCE((SELECT MAX(id) FROM gh_views), 0) + 1, false)");
        q.load(conn)?;
    }
    Ok(())
}

/// Copy the state from `from` to `to` (both migrated first). Refuses a target that has
/// operators unless `force`, which replaces the target's state.
pub fn run(from: &DatabaseUrl, to: &DatabaseUrl, force: bool) -> Result<Summary, String> {
    if from.masked() == to.masked() {
        return Err("--from and --to are the same database".into());
    }
    db::migrate::run(from).map_err(|e| format!("source: {e}"))?;
    db::migrate::run(to).map_err(|e| format!("target: {e}"))?;
    let (sb, tb) = (from.backend(), to.backend());
    let mut source = from.connect()?;
    let mut target = to.connect()?;
    let operators = count(&mut target, tb, "gh_users")?;
    if operators > 0 && !force {
        return Err(format!(
            "the target already has {operators} operator(s); add --force to replace Gatehouse's state there"
        ));
    }
    let mut plan = Vec::new();
    for table in COPIED {
        // The columns both sides have (SQLite would read a missing "column" as a string
        // literal); a target column the source lacks takes its default.
        let known: Vec<String> = columns(&mut source, sb, table)?
            .into_iter()
            .map(|c| c.name)
            .collect();
        let cols: Vec<Column> = columns(&mut target, tb, table)?
            .into_iter()
            .filter(|c| known.contains(&c.name))
            .collect();
        plan.push((*table, cols));
    }
    // Rows stream from the source into the target's one transaction: constant memory,
    // whatever the size of the audit log, and nothing partial if any row fails.
    db::write_tx(&mut target, |conn| {
        for table in CLEARED.iter().chain(COPIED.iter().rev()) {
            let mut q = Sql::new(tb);
            q.push("DELETE FROM ").ident(table);
            q.execute(conn)?;
        }
        let mut summary = Summary::new();
        for (table, cols) in plan {
            let (mut n, mut failed) = (0, None);
            select_all(sb, table, &cols).for_each(&mut source, |row| {
                match insert(conn, tb, table, &cols, row) {
                    Ok(_) => n += 1,
                    Err(e) => failed = Some(e),
                }
                failed.is_none()
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            summary.insert(table, n);
        }
        continue_serials(conn, tb)?;
        Ok::<_, diesel::result::Error>(summary)
    })
    .map_err(|e| format!("the copy failed and was rolled back: {e}"))
}
