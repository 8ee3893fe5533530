//! Queries for sessions (the rows behind `session_store`) and the first-run setup token.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::{gh_sessions, gh_settings, gh_users};
use crate::identity::session::{CurrentUser, SessionPolicy};

const SETUP_TOKEN_KEY: &str = "setup_token_sha256";

fn older_than(then: NaiveDateTime, now: NaiveDateTime, limit: std::time::Duration) -> bool {
    (now - then).to_std().is_ok_and(|age| age > limit)
}

/// A live session as stored: its operator (at whatever sign-in stage) and its `data` column
/// (no longer written: the flash message travels in the cookie, `session_store`).
#[derive(Debug, Clone)]
pub struct Stored {
    pub user: Option<CurrentUser>,
    pub data: String,
}

type Row = (
    NaiveDateTime,
    NaiveDateTime,
    String,
    String,
    Option<(String, String, String, String, bool)>,
);

/// A live session; an expired one, or one of a disabled user, is deleted. Last-seen is
/// written at most once per `touch_interval`.
pub fn load_stored(
    conn: &mut DbConn,
    id: &str,
    policy: SessionPolicy,
    now: NaiveDateTime,
) -> QueryResult<Option<Stored>> {
    let row = gh_sessions::table
        .left_join(gh_users::table)
        .filter(gh_sessions::id.eq(id))
        .select((
            gh_sessions::created_at,
            gh_sessions::last_seen_at,
            gh_sessions::stage,
            gh_sessions::data,
            (
                gh_users::id,
                gh_users::email,
                gh_users::display_name,
                gh_users::role,
                gh_users::disabled,
            )
                .nullable(),
        ))
        .first::<Row>(conn)
        .optional()?;
    let Some((created, last_seen, stage, data, user)) = row else {
        return Ok(None);
    };
    // A session waiting for its second factor lasts ten minutes at most.
    let short_expired =
        stage != STAGE_FULL && older_than(created, now, std::time::Duration::from_secs(600));
    let disabled = user.as_ref().is_some_and(|u| u.4);
    if disabled
        || short_expired
        || older_than(created, now, policy.lifetime)
        || older_than(last_seen, now, policy.idle)
    {
        // Bookkeeping on the read path: the session is over whether or not the row goes.
        if let Err(error) = delete_session(conn, id) {
            tracing::debug!(%error, "an expired session could not be deleted; ignored");
        }
        return Ok(None);
    }
    if older_than(last_seen, now, policy.touch_interval()) && crate::db::bookkeeping_allowed() {
        // Bookkeeping on the read path: a full, read-only or busy database must not fail
        // a read because the last-seen time could not be written.
        if let Err(error) = diesel::update(gh_sessions::table.find(id))
            .set(gh_sessions::last_seen_at.eq(now))
            .execute(conn)
        {
            tracing::debug!(%error, "the session's last-seen time was not written; ignored");
        }
    }
    let user = user.map(|(user_id, email, display_name, role, _)| CurrentUser {
        stage,
        id: user_id,
        email,
        display_name,
        role,
        session_id: id.to_string(),
    });
    Ok(Some(Stored { user, data }))
}

/// The user of a live session (at whatever stage), as `load_stored`.
pub fn load_session(
    conn: &mut DbConn,
    id: &str,
    policy: SessionPolicy,
    now: NaiveDateTime,
) -> QueryResult<Option<CurrentUser>> {
    Ok(load_stored(conn, id, policy, now)?.and_then(|s| s.user))
}

/// A session past every step of sign-in.
pub const STAGE_FULL: &str = "full";
/// Password accepted; the TOTP or recovery code is still due.
pub const STAGE_CODE: &str = "code";
/// Password accepted; the role requires two-factor and the operator must enrol first.
pub const STAGE_ENROL: &str = "enrol";
/// Password accepted; a passkey is still due.
pub const STAGE_PASSKEY: &str = "passkey";
/// Password accepted; the role requires a passkey and the operator must register one first.
pub const STAGE_PASSKEY_ENROL: &str = "passkey-enrol";

pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: Option<&'a str>,
    pub ip: &'a str,
    pub user_agent: &'a str,
    pub stage: &'a str,
    /// The session's other entries, a JSON object.
    pub data: &'a str,
}

pub fn create_session(conn: &mut DbConn, s: NewSession<'_>, now: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(gh_sessions::table)
        .values((
            gh_sessions::id.eq(s.id),
            gh_sessions::user_id.eq(s.user_id),
            gh_sessions::created_at.eq(now),
            gh_sessions::last_seen_at.eq(now),
            gh_sessions::ip.eq(s.ip),
            gh_sessions::user_agent.eq(s.user_agent),
            gh_sessions::stage.eq(s.stage),
            gh_sessions::data.eq(s.data),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replace a session's other entries (its operator and stage change only with a new id).
pub fn set_session_data(conn: &mut DbConn, id: &str, data: &str) -> QueryResult<usize> {
    diesel::update(gh_sessions::table.find(id))
        .set(gh_sessions::data.eq(data))
        .execute(conn)
}

pub fn delete_session(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(gh_sessions::table.find(id)).execute(conn)
}

pub fn delete_user_sessions(conn: &mut DbConn, user_id: &str) -> QueryResult<usize> {
    diesel::delete(gh_sessions::table.filter(gh_sessions::user_id.eq(user_id))).execute(conn)
}

/// Housekeeping: drop sessions that can no longer be used.
pub fn purge_expired(
    conn: &mut DbConn,
    policy: SessionPolicy,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let to_chrono =
        |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    let idle_cutoff = now - to_chrono(policy.idle);
    let life_cutoff = now - to_chrono(policy.lifetime);
    let short_cutoff = now - chrono::Duration::minutes(10);
    diesel::delete(
        gh_sessions::table.filter(
            gh_sessions::last_seen_at
                .lt(idle_cutoff)
                .or(gh_sessions::created_at.lt(life_cutoff))
                .or(gh_sessions::stage
                    .ne(STAGE_FULL)
                    .and(gh_sessions::created_at.lt(short_cutoff))),
        ),
    )
    .execute(conn)
}

/// Replace the one-time setup token (only its hash is stored).
pub fn replace_setup_token(
    conn: &mut DbConn,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    crate::db::write_tx(conn, |conn| {
        // Instances starting together on an empty Postgres database would each delete the
        // (absent) row and insert theirs: one would fail on the key and stop. Taking turns,
        // the last one's token is the one that works.
        if let DbConn::Postgres(c) = conn {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('gh_setup_token'))::text")
                .execute(c)?;
        }
        diesel::delete(gh_settings::table.find(SETUP_TOKEN_KEY)).execute(conn)?;
        diesel::insert_into(gh_settings::table)
            .values((
                gh_settings::key.eq(SETUP_TOKEN_KEY),
                gh_settings::value.eq(token_hash),
                gh_settings::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    })
}

pub fn setup_token_matches(conn: &mut DbConn, token_hash: &str) -> QueryResult<bool> {
    let stored = gh_settings::table
        .find(SETUP_TOKEN_KEY)
        .select(gh_settings::value)
        .first::<String>(conn)
        .optional()?;
    Ok(stored.is_some_and(|s| s == token_hash))
}

/// Use the setup token up: true when it was there to take (so exactly one caller wins).
pub fn consume_setup_token(conn: &mut DbConn, token_hash: &str) -> QueryResult<bool> {
    let n = diesel::delete(
        gh_settings::table
            .filter(gh_settings::key.eq(SETUP_TOKEN_KEY))
            .filter(gh_settings::value.eq(token_hash)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Remove the setup token if one is stored; writes nothing otherwise, so a server can
/// start on a read-only database.
pub fn clear_setup_token(conn: &mut DbConn) -> QueryResult<()> {
    let stored = diesel::select(diesel::dsl::exists(
        gh_settings::table.find(SETUP_TOKEN_KEY),
    ))
    .get_result::<bool>(conn)?;
    if stored {
        diesel::delete(gh_settings::table.find(SETUP_TOKEN_KEY)).execute(conn)?;
    }
    Ok(())
}

/// A session as the sessions pages show it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub ip: String,
    pub user_agent: String,
}

pub fn sessions_of(conn: &mut DbConn, user_id: &str) -> QueryResult<Vec<SessionInfo>> {
    let rows: Vec<(String, NaiveDateTime, NaiveDateTime, String, String)> = gh_sessions::table
        .filter(gh_sessions::user_id.eq(user_id))
        .order(gh_sessions::last_seen_at.desc())
        .select((
            gh_sessions::id,
            gh_sessions::created_at,
            gh_sessions::last_seen_at,
            gh_sessions::ip,
            gh_sessions::user_agent,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, created_at, last_seen_at, ip, user_agent)| SessionInfo {
                id,
                created_at,
                last_seen_at,
                ip,
                user_agent,
            },
        )
        .collect())
}

/// End one session of a user (only theirs: the id alone is not enough).
pub fn delete_session_of(conn: &mut DbConn, user_id: &str, id: &str) -> QueryResult<usize> {
    diesel::delete(
        gh_sessions::table
            .filter(gh_sessions::id.eq(id))
            .filter(gh_sessions::user_id.eq(user_id)),
    )
    .execute(conn)
}

/// End every session of a user but one.
pub fn delete_other_sessions(conn: &mut DbConn, user_id: &str, keep: &str) -> QueryResult<usize> {
    diesel::delete(
        gh_sessions::table
            .filter(gh_sessions::user_id.eq(user_id))
            .filter(gh_sessions::id.ne(keep)),
    )
    .execute(conn)
}
