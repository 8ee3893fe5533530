//! The webhook outbox's entrance. `record_event` runs inside the transaction of the change
//! that caused the event, so an event exists exactly when its change committed; the
//! integrations slice's worker claims and delivers what is queued here.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::audit::Actor;
use crate::db::DbConn;
use crate::db::schema::{gh_outbox as o, gh_webhook_endpoints as e};
use crate::identity::permissions::{Action, rights_of};
use crate::identity::row_rules::RowRule;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = e)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub description: String,
    pub events: String,
    pub role: String,
    pub enabled: bool,
    pub secret_enc: String,
    pub old_secret_enc: Option<String>,
    pub old_secret_until: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<NaiveDateTime>,
    pub last_success_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

impl Endpoint {
    /// Subscriptions, as `table:action` (`*` for any table or action).
    pub fn subscriptions(&self) -> Vec<String> {
        serde_json::from_str(&self.events).unwrap_or_default()
    }

    pub fn wants(&self, table: &str, action: &str) -> bool {
        self.subscriptions().iter().any(|s| {
            let (t, a) = s.split_once(':').unwrap_or((s.as_str(), "*"));
            (t == "*" || t == table) && (a == "*" || a == action)
        })
    }
}

fn enabled_endpoints(conn: &mut DbConn) -> QueryResult<Vec<Endpoint>> {
    e::table
        .filter(e::enabled.eq(true))
        .select(Endpoint::as_select())
        .load(conn)
}

/// An event's `timestamp`: RFC 3339 in UTC, to the millisecond.
pub fn timestamp(at: NaiveDateTime) -> String {
    at.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

type JsonObject = serde_json::Map<String, serde_json::Value>;

/// One row change as the outbox records it: the row's values by column name.
/// Whether the changed row is inside a rule (bound without an operator), asked of the
/// engine that wrote it, in the change's transaction.
pub type RowInside<'a> = &'a dyn Fn(&mut DbConn, &RowRule) -> QueryResult<bool>;

#[derive(Clone, Copy)]
pub struct Change<'a> {
    pub table: &'a str,
    /// `created`, `updated` or `deleted`.
    pub action: &'a str,
    /// The row's key as it appears in URLs.
    pub key: &'a str,
    pub before: Option<&'a JsonObject>,
    pub after: Option<&'a JsonObject>,
    /// For endpoints whose role has a read rule on the table: is the row inside it?
    /// (`None`: such endpoints get nothing — fail closed.)
    pub inside: Option<RowInside<'a>>,
}

/// Whether any enabled endpoint subscribes to `action` on `table` (an import writes a
/// row at a time, with its event, only then).
pub fn subscribed(conn: &mut DbConn, table: &str, action: &str) -> QueryResult<bool> {
    Ok(enabled_endpoints(conn)?
        .iter()
        .any(|ep| ep.wants(table, action)))
}

/// Queue the event of a row change for every endpoint that wants it, with the columns the
/// endpoint's role may not see left out (and nothing for a table it may not read, or for a
/// row outside its role's read rule).
pub fn record_event(conn: &mut DbConn, change: &Change<'_>, actor: &Actor) -> QueryResult<usize> {
    let now = crate::db::now();
    let Change {
        table,
        action,
        key,
        before,
        after,
        inside,
    } = *change;
    let wanted: Vec<Endpoint> = enabled_endpoints(conn)?
        .into_iter()
        .filter(|ep| ep.wants(table, action))
        .collect();
    let mut queued = 0;
    for ep in wanted {
        let rights = rights_of(conn, &ep.role)?;
        if !rights.can(table, Action::Read) {
            continue;
        }
        // The endpoint's role's read rule, with no operator behind it: `$me` conditions
        // are false, so only rows its constant conditions let through are sent.
        let rule = rights
            .rules
            .get(table)
            .and_then(|rs| rs.iter().find(|r| r.action == Action::Read));
        if let Some(rule) = rule {
            let seen = match inside {
                Some(inside) => inside(conn, &rule.rule)?,
                None => false,
            };
            if !seen {
                continue;
            }
        }
        let hidden = rights.hidden(table);
        let strip = |m: Option<&JsonObject>| -> serde_json::Value {
            match m {
                Some(m) => serde_json::Value::Object(
                    m.iter()
                        .filter(|(k, _)| !hidden.contains(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                None => serde_json::Value::Null,
            }
        };
        let event_type = format!("record.{action}");
        let payload = serde_json::json!({
            "type": event_type,
            "timestamp": timestamp(now),
            "data": { "table": table, "key": key, "before": strip(before), "after": strip(after), "actor": actor.email },
        });
        enqueue(conn, &ep.id, &event_type, &payload.to_string(), now)?;
        queued += 1;
    }
    Ok(queued)
}

/// Queue a user event (`user.created`, `user.disabled`, …) for endpoints subscribed to
/// `users:*` or `users:<event>` — in the transaction of the change, like row events.
pub fn record_user_event(
    conn: &mut DbConn,
    action: &str,
    user_id: &str,
    details: &serde_json::Value,
    actor: &Actor,
) -> QueryResult<usize> {
    let short = action.strip_prefix("user.").unwrap_or(action);
    let now = crate::db::now();
    let wanted: Vec<Endpoint> = enabled_endpoints(conn)?
        .into_iter()
        .filter(|ep| {
            ep.subscriptions()
                .iter()
                .any(|s| s == "users:*" || *s == format!("users:{short}"))
        })
        .collect();
    let payload = serde_json::json!({
        "type": action,
        "timestamp": timestamp(now),
        "data": { "user_id": user_id, "details": details, "actor": actor.email },
    })
    .to_string();
    for ep in &wanted {
        enqueue(conn, &ep.id, action, &payload, now)?;
    }
    Ok(wanted.len())
}

pub fn enqueue(
    conn: &mut DbConn,
    endpoint_id: &str,
    event_type: &str,
    payload: &str,
    now: NaiveDateTime,
) -> QueryResult<String> {
    let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
    diesel::insert_into(o::table)
        .values((
            o::id.eq(&id),
            o::endpoint_id.eq(endpoint_id),
            o::event_type.eq(event_type),
            o::payload.eq(payload),
            o::created_at.eq(now),
            o::next_attempt_at.eq(now),
            o::attempts.eq(0),
            o::status.eq("pending"),
        ))
        .execute(conn)?;
    Ok(id)
}
