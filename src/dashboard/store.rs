//! The dashboard's queries over Gatehouse's own tables: changes from the audit log, live
//! sessions, webhook deliveries, the mail queue, sign-in failures, and the pinned charts.
//! Each reads a bounded window (30 days, 24 hours) through an index on its time column.

use chrono::{DateTime, Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::audit::{self, Actor};
use crate::catalog::Kind;
use crate::db::schema::{
    gh_dashboard_pins as pins, gh_login_failures as lf, gh_mail_queue as mq, gh_sessions as sess,
    gh_webhook_endpoints as ep,
};
use crate::db::{Backend, DbConn, new_id, now};
use crate::engine::aggregate::Bucket;
use crate::engine::sql::Sql;
use crate::engine::store::backend_of;
use crate::engine::value::Value;
use crate::engine::zoned::{self, Calendar, Offsets};
use crate::error::AppError;

/// Changes of one table on one day (`YYYY-MM-DD`, in the operator's zone).
#[derive(Debug, Clone)]
pub struct DayChanges {
    pub day: String,
    pub table: String,
    pub count: i64,
}

/// Audit entries per day and table over the calendar's days, in `zone`: the window starts
/// at the first day's midnight there, and each entry counts on its day there.
pub fn changes_per_day(
    conn: &mut DbConn,
    zone: &jiff::tz::TimeZone,
    calendar: &Calendar,
    now: jiff::Timestamp,
) -> Result<Vec<DayChanges>, AppError> {
    let since = DateTime::from_timestamp(calendar.since.as_second(), 0)
        .map(|t| t.naive_utc())
        .unwrap_or_default();
    let offsets = Offsets::between(zone, calendar.since, now);
    let mut sql = Sql::new(backend_of(conn));
    sql.push("SELECT ");
    if offsets.is_utc() {
        push_prefix(&mut sql, "created_at", 10);
    } else {
        zoned::push_bucket(
            &mut sql,
            "created_at",
            Kind::DateTime,
            Bucket::Day,
            &offsets,
        );
    }
    sql.push(" AS d, table_name, COUNT(*) FROM gh_audit WHERE created_at >= ");
    push_time(&mut sql, since);
    sql.push(" GROUP BY d, table_name ORDER BY d");
    Ok(sql
        .load(conn)?
        .into_iter()
        .map(|r| DayChanges {
            day: text(r.first()),
            table: text(r.get(1)),
            count: int(r.get(2)),
        })
        .collect())
}

/// Operators with a signed-in session seen in the last 15 minutes.
pub fn active_operators(conn: &mut DbConn) -> QueryResult<i64> {
    sess::table
        .filter(sess::stage.eq(crate::identity::sessions::STAGE_FULL))
        .filter(sess::last_seen_at.ge(now() - Duration::minutes(15)))
        .select(sess::user_id)
        .distinct()
        .load::<Option<String>>(conn)
        .map(|ids| ids.len() as i64)
}

/// Webhook attempts of the last 24 hours: per hour, succeeded and failed.
#[derive(Debug, Clone, Default)]
pub struct Deliveries {
    /// (`YYYY-MM-DD HH`, succeeded, failed), oldest first.
    pub hours: Vec<(String, i64, i64)>,
    pub attempts: i64,
    pub succeeded: i64,
    pub p95_ms: Option<i64>,
}

pub fn deliveries(conn: &mut DbConn) -> Result<Deliveries, AppError> {
    let since = now() - Duration::hours(24);
    let mut sql = Sql::new(backend_of(conn));
    sql.push("SELECT ");
    push_prefix(&mut sql, "attempted_at", 13);
    sql.push(
        " AS h, SUM(CASE WHEN error IS NULL AND status_code BETWEEN 200 AND 299 THEN 1 ELSE 0 END), \
         COUNT(*) FROM gh_deliveries WHERE attempted_at >= ",
    );
    push_time(&mut sql, since);
    sql.push(" GROUP BY h ORDER BY h");
    let mut d = Deliveries::default();
    for r in sql.load(conn)? {
        let (ok, all) = (int(r.get(1)), int(r.get(2)));
        d.hours.push((text(r.first()), ok, all - ok));
        d.attempts += all;
        d.succeeded += ok;
    }
    if d.attempts > 0 {
        // The 95th percentile: the attempt that many places into the window's latencies.
        let mut sql = Sql::new(backend_of(conn));
        sql.push("SELECT latency_ms FROM gh_deliveries WHERE attempted_at >= ");
        push_time(&mut sql, since);
        sql.push(&format!(
            " ORDER BY latency_ms LIMIT 1 OFFSET {}",
            (d.attempts - 1) * 95 / 100
        ));
        d.p95_ms = sql.load(conn)?.first().map(|r| int(r.first()));
    }
    Ok(d)
}

/// An endpoint that is failing or was disabled after failing.
#[derive(Debug, Clone)]
pub struct FailingEndpoint {
    pub id: String,
    pub url: String,
    pub since: Option<NaiveDateTime>,
    pub disabled: bool,
}

pub fn failing_endpoints(conn: &mut DbConn) -> QueryResult<Vec<FailingEndpoint>> {
    let rows: Vec<(String, String, Option<NaiveDateTime>, bool)> = ep::table
        .filter(
            ep::failing_since
                .is_not_null()
                .or(ep::disabled_reason.is_not_null()),
        )
        .order(ep::created_at)
        .limit(20)
        .select((ep::id, ep::url, ep::failing_since, ep::enabled))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, url, since, enabled)| FailingEndpoint {
            id,
            url,
            since,
            disabled: !enabled,
        })
        .collect())
}

/// Mail waiting to be sent, and mail given up on.
pub fn mail_queue(conn: &mut DbConn) -> QueryResult<(i64, i64)> {
    let count = |conn: &mut DbConn, status: &str| {
        mq::table
            .filter(mq::status.eq(status.to_string()))
            .count()
            .get_result::<i64>(conn)
    };
    Ok((count(conn, "pending")?, count(conn, "failed")?))
}

/// A failed sign-in.
#[derive(Debug, Clone)]
pub struct SignInFailure {
    pub email: String,
    pub ip: String,
    pub at: NaiveDateTime,
}

/// Failed sign-ins of the last 24 hours: how many, and the latest few.
pub fn sign_in_failures(conn: &mut DbConn) -> QueryResult<(i64, Vec<SignInFailure>)> {
    let since = now() - Duration::hours(24);
    let recent = lf::table.filter(lf::created_at.ge(since));
    let n: i64 = recent.count().get_result(conn)?;
    let latest: Vec<(String, String, NaiveDateTime)> = recent
        .order(lf::created_at.desc())
        .limit(10)
        .select((lf::email, lf::ip, lf::created_at))
        .load(conn)?;
    let latest = latest
        .into_iter()
        .map(|(email, ip, at)| SignInFailure { email, ip, at })
        .collect();
    Ok((n, latest))
}

/// A chart pinned to the dashboard.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pins)]
pub struct Pin {
    pub id: String,
    /// None: pinned for everyone.
    pub owner_id: Option<String>,
    pub table_name: String,
    pub title: String,
    pub query: String,
    pub created_by: String,
}

/// The pins an operator sees: their own and those for everyone, oldest first.
pub fn pins_for(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<Pin>> {
    pins::table
        .filter(pins::owner_id.is_null().or(pins::owner_id.eq(user_id)))
        .order((pins::created_at, pins::id))
        .limit(50)
        .select(Pin::as_select())
        .load(conn)
}

pub fn find_pin(conn: &mut DbConn, id: &str) -> QueryResult<Option<Pin>> {
    pins::table
        .find(id)
        .select(Pin::as_select())
        .first(conn)
        .optional()
}

/// Pin a chart (for everyone when `owner` is None), with its audit entry.
pub fn add_pin(
    conn: &mut DbConn,
    actor: &Actor,
    owner: Option<&str>,
    table: &str,
    title: &str,
    query: &str,
) -> QueryResult<String> {
    let id = new_id();
    crate::db::write_tx(conn, |conn| {
        diesel::insert_into(pins::table)
            .values((
                pins::id.eq(&id),
                pins::owner_id.eq(owner),
                pins::table_name.eq(table),
                pins::title.eq(title),
                pins::query.eq(query),
                pins::created_by.eq(&actor.email),
                pins::created_at.eq(now()),
            ))
            .execute(conn)?;
        let changes = serde_json::json!({"after": {
            "table": table, "title": title, "query": query,
            "for": if owner.is_some() { "owner" } else { "everyone" },
        }});
        audit::record(conn, actor, "pin", "gh_dashboard_pins", &id, &changes)
    })?;
    Ok(id)
}

/// Unpin a chart, with its audit entry.
pub fn remove_pin(conn: &mut DbConn, actor: &Actor, pin: &Pin) -> QueryResult<()> {
    crate::db::write_tx(conn, |conn| {
        diesel::delete(pins::table.find(&pin.id)).execute(conn)?;
        let changes = serde_json::json!({"before": {
            "table": pin.table_name, "title": pin.title, "query": pin.query,
            "for": if pin.owner_id.is_some() { "owner" } else { "everyone" },
        }});
        audit::record(conn, actor, "unpin", "gh_dashboard_pins", &pin.id, &changes)
    })
}

/// The first `n` characters of a timestamp as text (`10`: the day, `13`: the hour).
/// SQLite keeps timestamps as ISO text; Postgres formats them.
fn push_prefix(sql: &mut Sql, column: &str, n: usize) {
    match sql.backend() {
        Backend::Sqlite => sql.push(&format!("substr({column}, 1, {n})")),
        Backend::Postgres => {
            let format = if n == 10 {
                "YYYY-MM-DD"
            } else {
                "YYYY-MM-DD HH24"
            };
            sql.push(&format!("to_char({column}, '{format}')"))
        }
    };
}

/// A timestamp parameter: ISO text on SQLite (compared as text, as stored), a TIMESTAMP on
/// Postgres (which will not compare a text parameter with a timestamp).
fn push_time(sql: &mut Sql, t: NaiveDateTime) {
    let text = Value::Text(t.format("%Y-%m-%d %H:%M:%S").to_string());
    match sql.backend() {
        Backend::Sqlite => sql.bind(text),
        Backend::Postgres => sql.push("CAST(").bind(text).push(" AS TIMESTAMP)"),
    };
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_text).unwrap_or_default()
}

fn int(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Int(n)) => *n,
        Some(v) => v.as_text().and_then(|t| t.parse().ok()).unwrap_or(0),
        None => 0,
    }
}
