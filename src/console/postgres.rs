//! Postgres statements of the console: a connection of their own per run — on the read
//! replica for a read-only run when one is configured and answers, else on the primary — a
//! transaction that is `READ ONLY` unless in write mode (then with its audit entry inside),
//! `statement_timeout` set inside it, and the backend's pid registered here (and, on the
//! primary, in `gh_sql_runs`) so the cancel button can `pg_cancel_backend` it from any
//! instance (a run on the replica only from its own). Results come in diesel's binary format
//! and are rendered as text by type here; a result without rows still names its columns.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::data_types::{PgInterval, PgNumeric};
use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgRowByRowLoadingMode, PgValue};
use diesel::prelude::*;
use diesel::sql_types as t;
use diesel_dynamic_schema::dynamic_value::{Any, DynamicRow, NamedField};

use super::runner::{Cell, Failure, Handle, Job, Sink, first_keyword};

/// Where a run may go: the primary's URL, and the replica's for a read-only run.
pub(super) struct Target<'a> {
    pub primary: &'a str,
    pub replica: Option<&'a str>,
}

/// A connection for the run: the replica's when it is offered and answers (noted in the
/// handle, for cancelling), else the primary's — a replica that cannot be reached is
/// warned about and counted as a fallback, as the pages' reads are.
fn connect(target: &Target, handle: &Handle) -> Result<PgConnection, Failure> {
    if let Some(replica) = target.replica {
        match PgConnection::establish(replica) {
            Ok(conn) => {
                handle.on_replica.store(true, Ordering::SeqCst);
                return Ok(conn);
            }
            Err(error) => {
                tracing::warn!(%error, "the SQL console cannot reach the read replica: it reads the primary");
                crate::metrics::global().replica_fallback();
            }
        }
    }
    PgConnection::establish(target.primary)
        .map_err(|e| Failure::Database(format!("cannot connect to the database: {e}")))
}

/// Ask the server at `url` (the replica that runs a console statement) to cancel backend
/// `pid`.
pub(super) fn cancel_backend_at(url: &str, pid: i32) -> Result<(), String> {
    let mut conn = PgConnection::establish(url).map_err(|e| e.to_string())?;
    diesel::select(
        diesel::dsl::sql::<t::Bool>("pg_cancel_backend(")
            .bind::<t::Integer, _>(pid)
            .sql(")"),
    )
    .get_result::<bool>(&mut conn)
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Who runs a statement, and the run's id: the key of its `gh_sql_runs` row.
pub(super) struct Run<'a> {
    pub owner: &'a str,
    pub id: &'a str,
}

pub(super) fn run(
    target: &Target,
    job: &Job,
    run: Run<'_>,
    timeout: Duration,
    handle: &Arc<Handle>,
    sink: &mut dyn Sink,
) -> Result<Option<u64>, Failure> {
    let mut conn = connect(target, handle)?;
    let failed = |e: diesel::result::Error| failure(e, timeout, handle);
    let pid: i32 = diesel::select(diesel::dsl::sql::<t::Integer>("pg_backend_pid()"))
        .get_result(&mut conn)
        .map_err(failed)?;
    handle.pg_pid.store(pid, Ordering::SeqCst);
    // Best effort: without its row (a database that refuses the write, or a run on the
    // read-only replica) the run can still be cancelled from this instance, only not from
    // the others.
    let on_replica = handle.on_replica.load(Ordering::SeqCst);
    if !on_replica && let Err(e) = register(&mut conn, &run) {
        tracing::warn!(
            "the console could not record its run for cancels from other instances: {e}"
        );
    }
    let outcome = if handle.cancelled.load(Ordering::SeqCst) {
        Err(Failure::Cancelled)
    } else {
        transaction(&mut conn, job, timeout, sink).map_err(failed)
    };
    // Best effort: a row left behind (the connection lost) names a backend that is gone,
    // which the cancel from another instance checks before signalling.
    if !on_replica {
        let _ = diesel::sql_query("DELETE FROM gh_sql_runs WHERE owner_id = $1 AND run_id = $2")
            .bind::<t::Text, _>(run.owner)
            .bind::<t::Text, _>(run.id)
            .execute(&mut conn);
    }
    outcome
}

/// Record the run's backend (pid and start, so a pid reused later is never signalled), for a
/// cancel arriving at another instance; rows of runs a lost connection left are cleared.
fn register(conn: &mut PgConnection, run: &Run<'_>) -> QueryResult<()> {
    let started = crate::db::now();
    diesel::sql_query("DELETE FROM gh_sql_runs WHERE started_at < $1")
        .bind::<t::Timestamp, _>(started - chrono::Duration::days(1))
        .execute(conn)?;
    diesel::sql_query(
        "INSERT INTO gh_sql_runs (owner_id, run_id, backend_pid, backend_start, started_at) \
         SELECT $1, $2, pid, (extract(epoch FROM backend_start) * 1000000)::bigint, $3 \
         FROM pg_stat_activity WHERE pid = pg_backend_pid() \
         ON CONFLICT (owner_id, run_id) DO UPDATE SET backend_pid = EXCLUDED.backend_pid, \
         backend_start = EXCLUDED.backend_start, started_at = EXCLUDED.started_at",
    )
    .bind::<t::Text, _>(run.owner)
    .bind::<t::Text, _>(run.id)
    .bind::<t::Timestamp, _>(started)
    .execute(conn)?;
    Ok(())
}

fn transaction(
    conn: &mut PgConnection,
    job: &Job,
    timeout: Duration,
    sink: &mut dyn Sink,
) -> QueryResult<Option<u64>> {
    let mut tx = conn.build_transaction();
    if !job.write {
        tx = tx.read_only();
    }
    tx.run(|c| {
        // An integer of our own: nothing typed by the operator reaches this text.
        c.batch_execute(&format!(
            "SET LOCAL statement_timeout = {}",
            timeout.as_millis().max(1)
        ))?;
        let changed = statement(c, &job.sql, sink)?;
        if let Some(actor) = &job.audit {
            let e = super::store::write_entry(actor, &job.sql, changed);
            diesel::sql_query(crate::audit::INSERT_ENTRY)
                .bind::<t::Text, _>(&e.id)
                .bind::<t::Timestamp, _>(e.created_at)
                .bind::<t::Nullable<t::Text>, _>(&e.user_id)
                .bind::<t::Text, _>(&e.user_email)
                .bind::<t::Text, _>(&e.action)
                .bind::<t::Text, _>(&e.table_name)
                .bind::<t::Text, _>(&e.row_key)
                .bind::<t::Text, _>(&e.changes)
                .bind::<t::Text, _>(&e.via)
                .execute(c)?;
        }
        Ok(changed)
    })
}

/// Whether a statement returns rows (else it is executed and reports rows changed).
fn returns_rows(sql: &str) -> bool {
    let changes = matches!(
        first_keyword(sql).as_str(),
        "INSERT" | "UPDATE" | "DELETE" | "MERGE"
    );
    !changes || sql.to_ascii_uppercase().contains("RETURNING")
}

fn statement(c: &mut PgConnection, sql: &str, sink: &mut dyn Sink) -> QueryResult<Option<u64>> {
    if !returns_rows(sql) {
        return diesel::sql_query(sql).execute(c).map(|n| Some(n as u64));
    }
    let full = sink.full_bytes();
    let rows = diesel::sql_query(sql)
        .load_iter::<DynamicRow<NamedField<PgCell>>, PgRowByRowLoadingMode>(c)?;
    let mut first = true;
    for row in rows {
        let row = row?;
        let fields = (0..row.len()).filter_map(|i| row.get(i));
        if first {
            sink.columns(fields.clone().map(|f| f.name.clone()).collect());
            first = false;
        }
        let cells = fields.map(|f| f.value.cell(full)).collect();
        if !sink.row(cells) {
            break;
        }
    }
    if first
        && matches!(
            first_keyword(sql).as_str(),
            "SELECT" | "WITH" | "VALUES" | "TABLE"
        )
    {
        // No row, so no names from the rows: ask for one row of NULLs under the result's
        // columns (the statement planned again with LIMIT 0, not run), in a savepoint so a
        // statement that cannot be nested (a WITH that writes) only loses its headers.
        if let Ok(names) = c.transaction(|c| column_names(c, sql)) {
            sink.columns(names);
        }
    }
    Ok(None)
}

/// The names of a query's result columns, read from a row that has them and no values.
fn column_names(c: &mut PgConnection, sql: &str) -> QueryResult<Vec<String>> {
    let inner = sql.trim_end().trim_end_matches(';');
    let described = format!(
        "SELECT gh_q.* FROM (VALUES (1)) AS gh_one (x) LEFT JOIN \
         (SELECT * FROM (\n{inner}\n) AS gh_inner LIMIT 0) AS gh_q ON true"
    );
    let mut rows = diesel::sql_query(described)
        .load_iter::<DynamicRow<NamedField<PgCell>>, PgRowByRowLoadingMode>(c)?;
    let Some(row) = rows.next().transpose()? else {
        return Ok(Vec::new());
    };
    Ok((0..row.len())
        .filter_map(|i| row.get(i))
        .map(|f| f.name.clone())
        .collect())
}

fn failure(e: diesel::result::Error, timeout: Duration, handle: &Handle) -> Failure {
    let text = match &e {
        diesel::result::Error::DatabaseError(_, info) => info.message().to_string(),
        other => other.to_string(),
    };
    // "due to user request": this instance's cancel button, or another instance's.
    let cancelled = handle.cancelled.load(Ordering::SeqCst) && text.contains("canceling statement");
    if cancelled || text.contains("canceling statement due to user request") {
        Failure::Cancelled
    } else if text.contains("statement timeout") {
        Failure::Timeout(timeout)
    } else {
        Failure::Database(text)
    }
}

/// One value of a Postgres result: rendered, or bytes to render as the sink wants.
pub(super) enum PgCell {
    Cell(Cell),
    Bytes(Vec<u8>),
}

impl PgCell {
    fn cell(&self, full: bool) -> Cell {
        match self {
            PgCell::Cell(c) => c.clone(),
            PgCell::Bytes(b) => Cell::bytes(b, full),
        }
    }
}

impl FromSql<Any, Pg> for PgCell {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let (oid, bytes) = (value.get_oid().get(), value.as_bytes());
        let number = |s: String| Ok(PgCell::Cell(Cell::number(s)));
        let text = |s: String| Ok(PgCell::Cell(Cell::text(s)));
        match oid {
            16 => text(<bool as FromSql<t::Bool, Pg>>::from_sql(value)?.to_string()),
            21 => number(<i16 as FromSql<t::SmallInt, Pg>>::from_sql(value)?.to_string()),
            23 => number(<i32 as FromSql<t::Integer, Pg>>::from_sql(value)?.to_string()),
            20 => number(<i64 as FromSql<t::BigInt, Pg>>::from_sql(value)?.to_string()),
            26 if bytes.len() == 4 => {
                number(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]).to_string())
            }
            700 => number(<f32 as FromSql<t::Float, Pg>>::from_sql(value)?.to_string()),
            701 => number(<f64 as FromSql<t::Double, Pg>>::from_sql(value)?.to_string()),
            1700 => number(numeric_text(
                &<PgNumeric as FromSql<t::Numeric, Pg>>::from_sql(value)?,
            )),
            17 => Ok(PgCell::Bytes(bytes.to_vec())),
            1082 => text(<chrono::NaiveDate as FromSql<t::Date, Pg>>::from_sql(value)?.to_string()),
            1083 => text(<chrono::NaiveTime as FromSql<t::Time, Pg>>::from_sql(value)?.to_string()),
            1114 => text(
                <chrono::NaiveDateTime as FromSql<t::Timestamp, Pg>>::from_sql(value)?.to_string(),
            ),
            1184 => {
                let at = <chrono::DateTime<chrono::Utc> as FromSql<t::Timestamptz, Pg>>::from_sql(
                    value,
                )?;
                text(at.naive_utc().to_string() + "+00")
            }
            1186 => text(interval_text(
                &<PgInterval as FromSql<t::Interval, Pg>>::from_sql(value)?,
            )),
            2950 if bytes.len() == 16 => text(uuid_text(bytes)),
            // jsonb: a version byte, then the text.
            3802 if !bytes.is_empty() => text(String::from_utf8_lossy(&bytes[1..]).into_owned()),
            _ => text(other_text(oid, bytes)),
        }
    }

    fn from_nullable_sql(value: Option<PgValue<'_>>) -> deserialize::Result<Self> {
        match value {
            Some(v) => <PgCell as FromSql<Any, Pg>>::from_sql(v),
            None => Ok(PgCell::Cell(Cell::null())),
        }
    }
}

/// Text types (and enums, whose binary form is their label) read as they are; other binary
/// forms (arrays, ranges, geometric types …) are named, with the way to read them.
fn other_text(oid: u32, bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s)
            if !s
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
        {
            s.to_string()
        }
        _ => format!(
            "<{} bytes of type oid {oid}; select it AS TEXT to read it>",
            bytes.len()
        ),
    }
}

fn uuid_text(b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn interval_text(i: &PgInterval) -> String {
    let micros = i.microseconds.unsigned_abs();
    let sign = if i.microseconds < 0 { "-" } else { "" };
    let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
    let mut out = String::new();
    if i.months != 0 {
        out.push_str(&format!("{} mons ", i.months));
    }
    if i.days != 0 {
        out.push_str(&format!("{} days ", i.days));
    }
    out.push_str(&format!(
        "{sign}{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ));
    if frac != 0 {
        out.push_str(&format!(".{frac:06}"));
    }
    out
}

/// A NUMERIC in base-10000 groups, written in decimal with its scale.
fn numeric_text(n: &PgNumeric) -> String {
    let (negative, weight, scale, digits) = match n {
        PgNumeric::NaN => return "NaN".into(),
        PgNumeric::Positive {
            weight,
            scale,
            digits,
        } => (false, *weight, *scale, digits),
        PgNumeric::Negative {
            weight,
            scale,
            digits,
        } => (true, *weight, *scale, digits),
    };
    let group = |index: i32| -> i16 {
        usize::try_from(index)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let weight = i32::from(weight);
    let mut int = String::new();
    for i in 0..=weight {
        if int.is_empty() {
            int = group(i).to_string();
        } else {
            int.push_str(&format!("{:04}", group(i)));
        }
    }
    if int.is_empty() {
        int.push('0');
    }
    let mut frac = String::new();
    let groups = (i32::from(scale) + 3) / 4;
    for k in 0..groups {
        frac.push_str(&format!("{:04}", group(weight + 1 + k)));
    }
    frac.truncate(usize::from(scale));
    let sign = if negative { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics_are_written_in_decimal_with_their_scale() {
        let n = PgNumeric::Positive {
            weight: 1,
            scale: 2,
            digits: vec![1, 2345, 6700],
        };
        assert_eq!(numeric_text(&n), "12345.67");
        let small = PgNumeric::Negative {
            weight: -1,
            scale: 5,
            digits: vec![50],
        };
        assert_eq!(numeric_text(&small), "-0.00500");
        let zero = PgNumeric::Positive {
            weight: 0,
            scale: 0,
            digits: vec![],
        };
        assert_eq!(numeric_text(&zero), "0");
    }

    #[test]
    fn statements_that_change_rows_are_told_apart() {
        assert!(!returns_rows("update t set a = 1"));
        assert!(returns_rows("insert into t values (1) returning id"));
        assert!(returns_rows("with x as (select 1) select * from x"));
    }
}
