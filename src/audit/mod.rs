//! The change log's queries. Entries are written by the code that makes the change, on the
//! same connection and inside the same transaction, so a change and its entry land together;
//! a row change is also announced to live pages from here (`db::changes`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::changes::{self, Notice};
use crate::db::schema::gh_audit;
use crate::db::{DbConn, new_id, now};

/// Who made a change, and through what (`via`, see [`Via`]).
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<String>,
    pub email: String,
    /// The channel as stored in `gh_audit.via`: `ui`, `api:<token name>`, `import`,
    /// `restore`.
    pub via: String,
}

/// Through what a change was made, as the History card shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Ui,
    Import,
    Restore,
}

impl Via {
    pub fn code(self) -> &'static str {
        match self {
            Via::Ui => "ui",
            Via::Import => "import",
            Via::Restore => "restore",
        }
    }
}

impl Actor {
    /// The same operator acting through another channel (an import, a restore).
    pub fn through(mut self, via: Via) -> Actor {
        self.via = via.code().to_string();
        self
    }
}

/// A stored channel in words: "UI", "API token “name”", "import", "restore" ("" before it
/// was recorded).
pub fn via_label(via: &str) -> String {
    match via.split_once(':') {
        Some(("api", name)) => format!("API token “{name}”"),
        _ => match via {
            "ui" => "UI".into(),
            "import" => "import".into(),
            "restore" => "restore".into(),
            other => other.to_string(),
        },
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = gh_audit)]
pub struct Entry {
    pub id: String,
    pub created_at: NaiveDateTime,
    pub user_id: Option<String>,
    pub user_email: String,
    pub action: String,
    pub table_name: String,
    pub row_key: String,
    pub changes: String,
    pub via: String,
}

/// The insert of an [`Entry`] as plain SQL, for a connection that is not a pooled `DbConn`
/// (the SQL console's own, so its write-mode entry lands in the statement's transaction).
/// Placeholders `$1`…`$9` in the order of [`Entry`]'s fields; SQLite binds them by position.
pub const INSERT_ENTRY: &str = "INSERT INTO gh_audit (id, created_at, user_id, user_email, action, table_name, row_key, changes, via) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

impl Entry {
    /// A new entry, as [`record`] would write it.
    pub fn new(
        actor: &Actor,
        action: &str,
        table: &str,
        row_key: &str,
        changes: &serde_json::Value,
    ) -> Entry {
        Entry {
            id: new_id(),
            created_at: now(),
            user_id: actor.user_id.clone(),
            user_email: actor.email.clone(),
            action: action.to_string(),
            table_name: table.to_string(),
            row_key: row_key.to_string(),
            changes: changes.to_string(),
            via: actor.via.clone(),
        }
    }
}

pub fn record(
    conn: &mut DbConn,
    actor: &Actor,
    action: &str,
    table: &str,
    row_key: &str,
    changes: &serde_json::Value,
) -> QueryResult<()> {
    let (id, at) = (new_id(), now());
    diesel::insert_into(gh_audit::table)
        .values((
            gh_audit::id.eq(&id),
            gh_audit::created_at.eq(at),
            gh_audit::user_id.eq(&actor.user_id),
            gh_audit::user_email.eq(&actor.email),
            gh_audit::action.eq(action),
            gh_audit::table_name.eq(table),
            gh_audit::row_key.eq(row_key),
            gh_audit::changes.eq(changes.to_string()),
            gh_audit::via.eq(&actor.via),
        ))
        .execute(conn)?;
    // Row changes of user tables are announced to live pages (`/events`); Gatehouse's own
    // tables are not, and a notice carries no values.
    if let Some(change) = changes::action_of(action).filter(|_| !table.starts_with("gh_")) {
        let notice = Notice {
            id,
            table: table.to_string(),
            key: row_key.to_string(),
            action: change.to_string(),
            actor: actor.email.clone(),
            at: at
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        changes::announce(conn, &notice)?;
    }
    Ok(())
}

/// What `/audit` may be narrowed to.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user: Option<String>,
    pub table: Option<String>,
    pub action: Option<String>,
    pub row_key: Option<String>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
}

/// Newest first; one more than `limit` is read to know whether there is a next page.
pub fn list(
    conn: &mut DbConn,
    f: &AuditFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<Entry>> {
    let mut q = gh_audit::table.select(Entry::as_select()).into_boxed();
    if let Some(u) = &f.user {
        q = q.filter(gh_audit::user_email.eq(u.trim().to_lowercase()));
    }
    if let Some(t) = &f.table {
        q = q.filter(gh_audit::table_name.eq(t));
    }
    if let Some(a) = &f.action {
        q = q.filter(gh_audit::action.eq(a));
    }
    if let Some(k) = &f.row_key {
        q = q.filter(gh_audit::row_key.eq(k));
    }
    if let Some(s) = f.since {
        q = q.filter(gh_audit::created_at.ge(s));
    }
    if let Some(u) = f.until {
        q = q.filter(gh_audit::created_at.lt(u));
    }
    q.order((gh_audit::created_at.desc(), gh_audit::id.desc()))
        .offset(offset)
        .limit(limit)
        .load(conn)
}

/// When the newest `record.deleted` entry of a row key was written (time and id, the
/// entries' order): entries up to it belong to an earlier row that had the same key (SQLite
/// reuses the rowid of a deleted row; anyone may insert an old key again).
pub fn last_deletion(
    conn: &mut DbConn,
    table: &str,
    row_key: &str,
) -> QueryResult<Option<(NaiveDateTime, String)>> {
    gh_audit::table
        .filter(gh_audit::table_name.eq(table))
        .filter(gh_audit::row_key.eq(row_key))
        .filter(gh_audit::action.eq("record.deleted"))
        .order((gh_audit::created_at.desc(), gh_audit::id.desc()))
        .select((gh_audit::created_at, gh_audit::id))
        // Not `.first()`: diesel binds its `LIMIT ?`, and SQLite plans a statement with a
        // bound LIMIT again at every run (on every record page). A key has few deletions.
        .load::<(NaiveDateTime, String)>(conn)
        .map(|found| found.into_iter().next())
}

/// The distinct actions recorded, for the filter's select.
pub fn actions(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    gh_audit::table
        .select(gh_audit::action)
        .distinct()
        .order(gh_audit::action)
        .load(conn)
}

/// One entry by id.
pub fn get(conn: &mut DbConn, id: &str) -> QueryResult<Option<Entry>> {
    gh_audit::table
        .find(id)
        .select(Entry::as_select())
        .first(conn)
        .optional()
}

/// The row values before the change (`changes.before`) of the entries `ids` that have
/// them, by entry id: a deleted row as its deletion recorded it.
pub fn before_values(
    conn: &mut DbConn,
    ids: &[String],
) -> QueryResult<std::collections::HashMap<String, serde_json::Map<String, serde_json::Value>>> {
    let rows: Vec<(String, String)> = gh_audit::table
        .filter(gh_audit::id.eq_any(ids))
        .select((gh_audit::id, gh_audit::changes))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, changes)| {
            let v: serde_json::Value = serde_json::from_str(&changes).ok()?;
            Some((id, v.get("before")?.as_object()?.clone()))
        })
        .collect())
}

/// The entries of a row key written after `(at, id)`, oldest first.
pub fn after(
    conn: &mut DbConn,
    table: &str,
    row_key: &str,
    at: NaiveDateTime,
    id: &str,
) -> QueryResult<Vec<Entry>> {
    gh_audit::table
        .filter(gh_audit::table_name.eq(table))
        .filter(gh_audit::row_key.eq(row_key))
        .filter(
            gh_audit::created_at
                .gt(at)
                .or(gh_audit::created_at.eq(at).and(gh_audit::id.gt(id))),
        )
        .order((gh_audit::created_at.asc(), gh_audit::id.asc()))
        .select(Entry::as_select())
        .load(conn)
}

/// Delete the entries written before `before`, `batch` rows per statement, each statement
/// its own short transaction (no long lock on the log); returns how many were deleted.
pub fn prune(conn: &mut DbConn, before: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    let mut total = 0;
    loop {
        let ids: Vec<String> = gh_audit::table
            .filter(gh_audit::created_at.lt(before))
            .select(gh_audit::id)
            .limit(batch)
            .load(conn)?;
        if ids.is_empty() {
            return Ok(total);
        }
        total += diesel::delete(gh_audit::table.filter(gh_audit::id.eq_any(&ids))).execute(conn)?;
    }
}
