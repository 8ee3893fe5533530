//! The console's own tables: each operator's last `HISTORY_KEPT` statements, saved queries
//! (personal, or shared with roles), the audit entry of a write-mode statement, and the
//! Postgres side of the cancel button (this instance's runs by pid, other instances' through
//! `gh_sql_runs`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::audit::{self, Actor};
use crate::db::schema::{
    gh_roles, gh_sql_history as h, gh_sql_queries as q, gh_sql_query_roles as qr,
};
use crate::db::{DbConn, new_id, now, write_tx};

pub const HISTORY_KEPT: i64 = 50;
const NAME_MAX: usize = 100;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = h)]
pub struct HistoryEntry {
    pub id: String,
    pub statement: String,
    pub write_mode: bool,
    pub outcome: String,
    pub created_at: NaiveDateTime,
}

/// Remember a statement an operator ran, keeping only their newest `HISTORY_KEPT`.
pub fn remember(
    conn: &mut DbConn,
    user_id: &str,
    statement: &str,
    write: bool,
    outcome: &str,
) -> QueryResult<()> {
    write_tx(conn, |conn| {
        diesel::insert_into(h::table)
            .values((
                h::id.eq(new_id()),
                h::user_id.eq(user_id),
                h::statement.eq(statement),
                h::write_mode.eq(write),
                h::outcome.eq(outcome),
                h::created_at.eq(now()),
            ))
            .execute(conn)?;
        // Ids are UUIDv7: their order is the order of running.
        let older: Vec<String> = h::table
            .filter(h::user_id.eq(user_id))
            .order(h::id.desc())
            .select(h::id)
            .limit(1000)
            .offset(HISTORY_KEPT)
            .load(conn)?;
        if !older.is_empty() {
            diesel::delete(h::table.filter(h::id.eq_any(older))).execute(conn)?;
        }
        Ok(())
    })
}

pub fn history(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<HistoryEntry>> {
    h::table
        .filter(h::user_id.eq(user_id))
        .order(h::id.desc())
        .limit(HISTORY_KEPT)
        .select(HistoryEntry::as_select())
        .load(conn)
}

/// One statement of the operator's own history.
pub fn history_statement(
    conn: &mut DbConn,
    user_id: &str,
    id: &str,
) -> QueryResult<Option<String>> {
    h::table
        .filter(h::user_id.eq(user_id).and(h::id.eq(id)))
        .select(h::statement)
        .first(conn)
        .optional()
}

/// The statement a link to the page asks for: one of the operator's history, or a saved
/// query they may see.
pub fn statement_to_load(
    conn: &mut DbConn,
    user_id: &str,
    role: &str,
    history: Option<String>,
    query: Option<String>,
) -> QueryResult<Option<String>> {
    if let Some(id) = history {
        return history_statement(conn, user_id, &id);
    }
    let Some(id) = query else {
        return Ok(None);
    };
    Ok(saved_queries(conn, user_id, role)?
        .into_iter()
        .find(|q| q.id == id)
        .map(|q| q.statement))
}

#[derive(Debug, Clone)]
pub struct SavedQuery {
    pub id: String,
    pub name: String,
    pub statement: String,
    pub mine: bool,
    pub roles: Vec<String>,
}

/// The operator's own queries and those shared with their role, by name.
pub fn saved_queries(conn: &mut DbConn, user_id: &str, role: &str) -> QueryResult<Vec<SavedQuery>> {
    let shared = qr::table
        .filter(qr::role_name.eq(role.to_string()))
        .select(qr::query_id);
    let rows: Vec<(String, String, String, String)> = q::table
        .filter(q::owner_id.eq(user_id).or(q::id.eq_any(shared)))
        .order((q::name, q::id))
        .select((q::id, q::name, q::statement, q::owner_id))
        .load(conn)?;
    let ids: Vec<&String> = rows.iter().map(|r| &r.0).collect();
    let links: Vec<(String, String)> = qr::table
        .filter(qr::query_id.eq_any(ids))
        .order(qr::role_name)
        .select((qr::query_id, qr::role_name))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, statement, owner)| SavedQuery {
            roles: links
                .iter()
                .filter(|(q, _)| *q == id)
                .map(|(_, r)| r.clone())
                .collect(),
            mine: owner == user_id,
            id,
            name,
            statement,
        })
        .collect())
}

/// Save a query under a name, shared with `roles` (which must exist).
pub fn save_query(
    conn: &mut DbConn,
    user_id: &str,
    name: &str,
    statement: &str,
    roles: &[String],
) -> QueryResult<Result<(), String>> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX {
        return Ok(Err(format!(
            "Give the query a name (at most {NAME_MAX} characters)."
        )));
    }
    if statement.trim().is_empty() {
        return Ok(Err("There is no statement to save.".into()));
    }
    let known: Vec<String> = gh_roles::table
        .filter(gh_roles::name.eq_any(roles))
        .select(gh_roles::name)
        .load(conn)?;
    if let Some(unknown) = roles.iter().find(|r| !known.contains(r)) {
        return Ok(Err(format!("There is no role named {unknown}.")));
    }
    let id = new_id();
    write_tx(conn, |conn| {
        diesel::insert_into(q::table)
            .values((
                q::id.eq(&id),
                q::owner_id.eq(user_id),
                q::name.eq(name),
                q::statement.eq(statement),
                q::created_at.eq(now()),
            ))
            .execute(conn)?;
        for role in &known {
            diesel::insert_into(qr::table)
                .values((qr::query_id.eq(&id), qr::role_name.eq(role)))
                .execute(conn)?;
        }
        Ok(Ok(()))
    })
}

/// Delete one of the operator's own queries; `false` when they own none by that id.
pub fn delete_query(conn: &mut DbConn, user_id: &str, id: &str) -> QueryResult<bool> {
    let mine = q::table.filter(q::id.eq(id).and(q::owner_id.eq(user_id)));
    Ok(diesel::delete(mine).execute(conn)? > 0)
}

/// The audit entry of a write-mode statement that failed (nothing changed), with why. One
/// that ran has its entry written in its own transaction (`write_entry`).
pub fn audit_write(
    conn: &mut DbConn,
    actor: &Actor,
    statement: &str,
    outcome: &str,
) -> QueryResult<()> {
    let changes = serde_json::json!({ "statement": statement, "outcome": outcome });
    audit::record(conn, actor, "sql.executed", "", "", &changes)
}

/// The audit entry of a write-mode statement, written by the console's own connection in
/// the statement's transaction (so it commits, or rolls back, with the statement).
pub fn write_entry(actor: &Actor, statement: &str, changed: Option<u64>) -> audit::Entry {
    let outcome = match changed {
        Some(n) => format!("{n} rows changed"),
        None => "rows returned".to_string(),
    };
    let changes = serde_json::json!({ "statement": statement, "outcome": outcome });
    audit::Entry::new(actor, "sql.executed", "", "", &changes)
}

/// Cancel a run of `owner` that another instance runs: its Postgres backend is recorded in
/// `gh_sql_runs` (with the backend's start, so a pid reused since is never signalled).
/// `false` when no such run is recorded (or on SQLite, where one instance runs them all).
pub fn cancel_elsewhere(conn: &mut DbConn, owner: &str, run_id: &str) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Signalled {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ok: bool,
    }
    let DbConn::Postgres(c) = conn else {
        return Ok(false);
    };
    let sent = diesel::sql_query(
        "SELECT pg_cancel_backend(r.backend_pid) AS ok FROM gh_sql_runs r \
         JOIN pg_stat_activity a ON a.pid = r.backend_pid \
         AND (extract(epoch FROM a.backend_start) * 1000000)::bigint = r.backend_start \
         WHERE r.run_id = $1 AND r.owner_id = $2",
    )
    .bind::<diesel::sql_types::Text, _>(run_id)
    .bind::<diesel::sql_types::Text, _>(owner)
    .load::<Signalled>(c)?;
    Ok(sent.iter().any(|s| s.ok))
}

/// Ask Postgres to cancel the statement running on backend `pid` (the console's own
/// connection, opened with the same credentials). SQLite runs stop through their handle.
pub fn cancel_backend(conn: &mut DbConn, pid: i32) -> QueryResult<()> {
    if let DbConn::Postgres(c) = conn
        && pid != 0
    {
        diesel::select(
            diesel::dsl::sql::<diesel::sql_types::Bool>("pg_cancel_backend(")
                .bind::<diesel::sql_types::Integer, _>(pid)
                .sql(")"),
        )
        .get_result::<bool>(c)?;
    }
    Ok(())
}
