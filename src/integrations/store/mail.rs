//! The mail queue as the mail worker and the email page see it (claiming due messages,
//! filing the outcome with retries, the latest messages), and the SMTP settings (the
//! password sealed at rest). Messages enter the queue through `events::mail`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::schema::{gh_mail_queue as q, gh_settings as s};
use crate::db::{self, DbConn, now};

/// The key of the SMTP settings in `gh_settings`.
pub const SETTINGS_KEY: &str = "smtp";
/// Seconds to wait before each retry of a message that could not be sent.
const RETRIES: [u64; 5] = [30, 120, 600, 3600, 21_600];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    pub tls: String,
    pub username: String,
    /// Sealed (encrypted) password.
    pub password_sealed: String,
    pub sender: String,
}

pub fn settings(conn: &mut DbConn) -> QueryResult<Option<SmtpSettings>> {
    let raw: Option<String> = s::table
        .find(SETTINGS_KEY)
        .select(s::value)
        .first(conn)
        .optional()?;
    Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
}

pub fn save_settings(conn: &mut DbConn, settings: &SmtpSettings) -> QueryResult<()> {
    db::write_tx(conn, |conn| {
        diesel::delete(s::table.find(SETTINGS_KEY)).execute(conn)?;
        diesel::insert_into(s::table)
            .values((
                s::key.eq(SETTINGS_KEY),
                s::value.eq(serde_json::to_string(settings).unwrap_or_default()),
                s::updated_at.eq(now()),
            ))
            .execute(conn)?;
        Ok(())
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = q)]
pub struct Mail {
    pub id: String,
    pub to_addr: String,
    pub subject: String,
    pub body: String,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub attempts: i32,
    pub status: String,
    pub last_error: Option<String>,
    pub locked_until: Option<NaiveDateTime>,
}

/// The latest messages, newest first.
pub fn recent(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<Mail>> {
    q::table
        .order(q::created_at.desc())
        .limit(limit)
        .select(Mail::as_select())
        .load(conn)
}

/// Take the due messages for two minutes (one mail worker per instance).
pub fn claim(conn: &mut DbConn, at: NaiveDateTime) -> QueryResult<Vec<Mail>> {
    db::write_tx(conn, |conn| {
        let due: Vec<Mail> = q::table
            .filter(q::status.eq("pending"))
            .filter(q::next_attempt_at.le(at))
            .filter(q::locked_until.is_null().or(q::locked_until.lt(at)))
            .order(q::next_attempt_at)
            .limit(10)
            .select(Mail::as_select())
            .load(conn)?;
        for m in &due {
            diesel::update(q::table.find(&m.id))
                .set(q::locked_until.eq(Some(at + chrono::Duration::minutes(2))))
                .execute(conn)?;
        }
        Ok(due)
    })
}

/// File the outcome of sending `mail`: sent, or pending again until the retries run out.
pub fn finish(conn: &mut DbConn, mail: &Mail, result: Result<(), String>) -> QueryResult<()> {
    let attempts = mail.attempts + 1;
    match result {
        Ok(()) => diesel::update(q::table.find(&mail.id))
            .set((
                q::status.eq("sent"),
                q::attempts.eq(attempts),
                q::last_error.eq(None::<String>),
            ))
            .execute(conn)?,
        Err(e) => {
            let next = RETRIES
                .get(mail.attempts as usize)
                .map(|s| now() + chrono::Duration::seconds(*s as i64));
            diesel::update(q::table.find(&mail.id))
                .set((
                    q::status.eq(if next.is_some() { "pending" } else { "failed" }),
                    q::attempts.eq(attempts),
                    q::last_error.eq(Some(e)),
                    q::next_attempt_at.eq(next.unwrap_or_else(now)),
                    q::locked_until.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?
        }
    };
    Ok(())
}
