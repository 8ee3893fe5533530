//! The integrations slice's queries: the outbox as the delivery worker sees it (claiming due
//! events under row leases, filing attempts, redelivering), webhook endpoints, and (in
//! `mail`) the mail queue and SMTP settings. API tokens are stored by the identity core.

pub mod mail;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};

use crate::db::schema::{gh_deliveries as d, gh_outbox as o, gh_webhook_endpoints as e};
use crate::db::{DbConn, new_id};
use crate::events::outbox::Endpoint;
use crate::identity::users;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = o)]
pub struct OutboxRow {
    pub id: String,
    pub endpoint_id: String,
    pub event_type: String,
    pub payload: String,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub attempts: i32,
    pub status: String,
    pub locked_until: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = d)]
pub struct Delivery {
    pub id: String,
    pub outbox_id: String,
    pub attempted_at: NaiveDateTime,
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub response_excerpt: String,
    pub error: Option<String>,
}

pub fn endpoints(conn: &mut DbConn) -> QueryResult<Vec<Endpoint>> {
    e::table
        .select(Endpoint::as_select())
        .order(e::created_at)
        .load(conn)
}

pub fn endpoint(conn: &mut DbConn, id: &str) -> QueryResult<Option<Endpoint>> {
    e::table
        .find(id)
        .select(Endpoint::as_select())
        .first(conn)
        .optional()
}

/// A new endpoint, its secret already sealed.
pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    /// Subscriptions, as `table:action`.
    pub events: Vec<String>,
    pub role: String,
    pub secret_sealed: String,
}

pub fn insert_endpoint(
    conn: &mut DbConn,
    id: &str,
    new: &NewEndpoint,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(e::table)
        .values((
            e::id.eq(id),
            e::url.eq(&new.url),
            e::description.eq(&new.description),
            e::events.eq(serde_json::to_string(&new.events).unwrap_or_else(|_| "[]".into())),
            e::role.eq(&new.role),
            e::enabled.eq(true),
            e::secret_enc.eq(&new.secret_sealed),
            e::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A new secret; the old one stays valid for 24 hours (both signatures are sent).
pub fn rotate_secret(
    conn: &mut DbConn,
    endpoint: &Endpoint,
    sealed: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(e::table.find(&endpoint.id))
        .set((
            e::secret_enc.eq(sealed),
            e::old_secret_enc.eq(Some(&endpoint.secret_enc)),
            e::old_secret_until.eq(Some(now + chrono::Duration::hours(24))),
        ))
        .execute(conn)
}

/// Enable or disable an endpoint by hand, forgetting why and since when it was failing.
pub fn set_enabled(conn: &mut DbConn, id: &str, enabled: bool) -> QueryResult<usize> {
    diesel::update(e::table.find(id))
        .set((
            e::enabled.eq(enabled),
            e::disabled_reason.eq(None::<String>),
            e::failing_since.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
}

pub fn delete_endpoint(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(e::table.find(id)).execute(conn)
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Lease up to `limit` due events until `lease_until`; returns them with their endpoints.
/// On Postgres `FOR UPDATE SKIP LOCKED` lets several workers claim side by side without
/// ever taking the same event; SQLite runs one worker and serialises on its write lock.
pub fn claim(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<(OutboxRow, Endpoint)>> {
    claim_except(conn, now, lease_until, limit, &[])
}

/// `claim`, leaving alone the events of the endpoints in `skip` (those the worker already
/// has as many deliveries in flight to as it allows).
pub fn claim_except(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
    skip: &[String],
) -> QueryResult<Vec<(OutboxRow, Endpoint)>> {
    // The skipped endpoints travel as one comma-joined text (endpoint ids hold no comma).
    let sql = match conn {
        DbConn::Postgres(_) => {
            "UPDATE gh_outbox SET locked_until = $1 WHERE id IN (SELECT id FROM gh_outbox WHERE status = 'pending' \
             AND next_attempt_at <= $2 AND (locked_until IS NULL OR locked_until < $2) \
             AND endpoint_id <> ALL(string_to_array($4, ',')) ORDER BY next_attempt_at \
             LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id"
        }
        DbConn::Sqlite(_) => {
            "UPDATE gh_outbox SET locked_until = ?1 WHERE id IN (SELECT id FROM gh_outbox WHERE status = 'pending' \
             AND next_attempt_at <= ?2 AND (locked_until IS NULL OR locked_until < ?2) \
             AND instr(',' || ?4 || ',', ',' || endpoint_id || ',') = 0 ORDER BY next_attempt_at \
             LIMIT ?3) RETURNING id"
        }
    };
    let skip_joined = skip.join(",");
    // A plain read first: most ticks find nothing due and need no write lock.
    let due: i64 = o::table
        .filter(o::status.eq("pending"))
        .filter(o::next_attempt_at.le(now))
        .filter(o::locked_until.is_null().or(o::locked_until.lt(now)))
        .filter(o::endpoint_id.ne_all(skip))
        .count()
        .get_result(conn)?;
    if due == 0 {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = crate::db::write_tx(conn, |conn| {
        let claimed: Vec<Claimed> = match conn {
            DbConn::Postgres(c) => diesel::sql_query(sql)
                .bind::<Timestamp, _>(lease_until)
                .bind::<Timestamp, _>(now)
                .bind::<diesel::sql_types::BigInt, _>(limit)
                .bind::<Text, _>(&skip_joined)
                .load(c)?,
            DbConn::Sqlite(c) => diesel::sql_query(sql)
                .bind::<Timestamp, _>(lease_until)
                .bind::<Timestamp, _>(now)
                .bind::<diesel::sql_types::BigInt, _>(limit)
                .bind::<Text, _>(&skip_joined)
                .load(c)?,
        };
        Ok::<_, diesel::result::Error>(claimed.into_iter().map(|c| c.id).collect())
    })?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    o::table
        .inner_join(e::table)
        .filter(o::id.eq_any(&ids))
        .select((OutboxRow::as_select(), Endpoint::as_select()))
        .load(conn)
}

/// Give claimed events back at once (the worker had no free slot for their endpoint), so
/// that this or another worker may take them without waiting for the lease to run out.
pub fn release(conn: &mut DbConn, ids: &[String]) -> QueryResult<usize> {
    diesel::update(
        o::table
            .filter(o::id.eq_any(ids))
            .filter(o::status.eq("pending")),
    )
    .set(o::locked_until.eq(None::<NaiveDateTime>))
    .execute(conn)
}

diesel::joinable!(o -> e (endpoint_id));
diesel::allow_tables_to_appear_in_same_query!(o, e);

/// What one delivery attempt came to.
pub struct Attempt {
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub excerpt: String,
    pub error: Option<String>,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|s| (200..300).contains(&s))
    }
}

/// File an attempt, schedule the next one (or give up), and keep the endpoint's health.
pub fn record_attempt(
    conn: &mut DbConn,
    row: &OutboxRow,
    endpoint: &Endpoint,
    attempt: &Attempt,
    schedule: &[std::time::Duration],
    disable_after: std::time::Duration,
    now: NaiveDateTime,
) -> QueryResult<()> {
    crate::db::write_tx(conn, |conn| {
        diesel::insert_into(d::table)
            .values((
                d::id.eq(new_id()),
                d::outbox_id.eq(&row.id),
                d::attempted_at.eq(now),
                d::status_code.eq(attempt.status_code),
                d::latency_ms.eq(attempt.latency_ms),
                d::response_excerpt.eq(&attempt.excerpt),
                d::error.eq(&attempt.error),
            ))
            .execute(conn)?;
        let attempts = row.attempts + 1;
        if attempt.succeeded() {
            diesel::update(o::table.find(&row.id))
                .set((
                    o::status.eq("delivered"),
                    o::attempts.eq(attempts),
                    o::locked_until.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
            diesel::update(e::table.find(&endpoint.id))
                .set((
                    e::last_success_at.eq(Some(now)),
                    e::failing_since.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
            return Ok(());
        }
        match schedule.get((attempts as usize).saturating_sub(1)) {
            Some(delay) => {
                let jitter = 0.9 + 0.2 * (rand_unit());
                let wait =
                    chrono::Duration::milliseconds((delay.as_millis() as f64 * jitter) as i64);
                diesel::update(o::table.find(&row.id))
                    .set((
                        o::attempts.eq(attempts),
                        o::next_attempt_at.eq(now + wait),
                        o::locked_until.eq(None::<NaiveDateTime>),
                    ))
                    .execute(conn)?;
            }
            None => {
                diesel::update(o::table.find(&row.id))
                    .set((
                        o::status.eq("failed"),
                        o::attempts.eq(attempts),
                        o::locked_until.eq(None::<NaiveDateTime>),
                    ))
                    .execute(conn)?;
            }
        }
        let since = endpoint.failing_since.unwrap_or(now);
        let limit = chrono::Duration::from_std(disable_after).unwrap_or(chrono::Duration::MAX);
        if now - since >= limit && endpoint.enabled {
            // Tell the administrators (by email, when email is set up).
            let admins = users::active_admin_emails(conn)?;
            let body = format!(
                "Gatehouse disabled the webhook endpoint {} because every delivery has failed since {} UTC.\n\nFix the receiver, then enable the endpoint again under Integrations → Webhooks; nothing queued meanwhile is lost.",
                endpoint.url,
                since.format("%Y-%m-%d %H:%M")
            );
            for admin in admins {
                crate::events::mail::enqueue(
                    conn,
                    &admin,
                    "A webhook endpoint was disabled",
                    &body,
                )?;
            }
            diesel::update(e::table.find(&endpoint.id))
                .set((
                    e::enabled.eq(false),
                    e::disabled_reason.eq(Some(format!(
                        "Disabled automatically: every delivery has failed since {} UTC.",
                        since.format("%Y-%m-%d %H:%M")
                    ))),
                ))
                .execute(conn)?;
        } else if endpoint.failing_since.is_none() {
            diesel::update(e::table.find(&endpoint.id))
                .set(e::failing_since.eq(Some(now)))
                .execute(conn)?;
        }
        Ok(())
    })
}

fn rand_unit() -> f64 {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}

pub fn recent_events(
    conn: &mut DbConn,
    endpoint_id: &str,
    limit: i64,
) -> QueryResult<Vec<(OutboxRow, Vec<Delivery>)>> {
    let rows: Vec<OutboxRow> = o::table
        .filter(o::endpoint_id.eq(endpoint_id))
        .order(o::created_at.desc())
        .limit(limit)
        .select(OutboxRow::as_select())
        .load(conn)?;
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let deliveries: Vec<Delivery> = d::table
        .filter(d::outbox_id.eq_any(ids))
        .order(d::attempted_at)
        .select(Delivery::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mine = deliveries
                .iter()
                .filter(|d| d.outbox_id == r.id)
                .cloned()
                .collect();
            (r, mine)
        })
        .collect())
}

/// Send an event again now (a new attempt of the same message: same `webhook-id`).
pub fn redeliver(conn: &mut DbConn, outbox_id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(o::table.find(outbox_id))
        .set((
            o::status.eq("pending"),
            o::next_attempt_at.eq(now),
            o::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
}
