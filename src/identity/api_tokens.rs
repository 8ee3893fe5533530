//! API tokens as stored: only the SHA-256 of the value is kept (a token is 256 random bits,
//! so a fast hash is enough), recognisable by its `ghp_` prefix; looked up for every API
//! request through a short-lived cache that revocation clears.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::notify::Peers;
use crate::db::schema::gh_api_tokens as t;

pub const TOKEN_PREFIX: &str = "ghp_";

/// Why an API request is refused, as its problem+json `detail` says. Only someone who
/// holds a token's whole value learns it was revoked or expired; nothing else is told.
pub const MISSING: &str = "This request needs an API token: send it as 'Authorization: Bearer ghp_…'. An administrator makes tokens under Integrations → API tokens.";
pub const UNKNOWN: &str = "This API token is not known. Check that it was copied whole; an administrator can make a new one under Integrations → API tokens.";
pub const REVOKED: &str = "This API token has been revoked. Ask an administrator for a new one.";
pub const EXPIRED: &str = "This API token has expired. Ask an administrator for a new one.";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub token_hash: String,
    pub role: String,
    pub created_by: Option<String>,
    pub created_by_email: String,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

impl ApiToken {
    pub fn usable(&self, now: NaiveDateTime) -> bool {
        self.refusal(now).is_none()
    }

    /// Why this token may not be used now, in words its holder may read.
    pub fn refusal(&self, now: NaiveDateTime) -> Option<&'static str> {
        if self.revoked_at.is_some() {
            Some(REVOKED)
        } else if self.expires_at.is_some_and(|e| e <= now) {
            Some(EXPIRED)
        } else {
            None
        }
    }
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<ApiToken>> {
    t::table
        .select(ApiToken::as_select())
        .order(t::created_at.desc())
        .load(conn)
}

/// A token to store: the value itself is never stored, only its hash and a prefix to
/// recognise it by.
pub struct NewToken<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub token_hash: &'a str,
    pub role: &'a str,
    pub created_by: &'a str,
    pub created_by_email: &'a str,
    pub expires_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, new: &NewToken<'_>, now: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(t::table)
        .values((
            t::id.eq(new.id),
            t::name.eq(new.name),
            t::prefix.eq(new.prefix),
            t::token_hash.eq(new.token_hash),
            t::role.eq(new.role),
            t::created_by.eq(Some(new.created_by)),
            t::created_by_email.eq(new.created_by_email),
            t::created_at.eq(now),
            t::expires_at.eq(new.expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Revoke a live token; returns how many were revoked (0 when unknown or revoked already).
pub fn revoke(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(t::table.find(id).filter(t::revoked_at.is_null()))
        .set(t::revoked_at.eq(Some(now)))
        .execute(conn)
}

/// The token whose value hashes to `hash`, live or not (the caller says why one is refused).
pub fn find_by_hash(conn: &mut DbConn, hash: &str) -> QueryResult<Option<ApiToken>> {
    t::table
        .filter(t::token_hash.eq(hash))
        .select(ApiToken::as_select())
        .first(conn)
        .optional()
}

/// The live token whose value hashes to `hash`.
pub fn find_usable(
    conn: &mut DbConn,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<ApiToken>> {
    Ok(find_by_hash(conn, hash)?.filter(|tok| tok.usable(now)))
}

/// `touch` as bookkeeping on the read path: a failure (full, read-only or busy database)
/// is logged at debug and ignored, so it never fails the request the token is used for.
pub fn touch_or_ignore(conn: &mut DbConn, id: &str, now: NaiveDateTime) {
    if !crate::db::bookkeeping_allowed() {
        return;
    }
    if let Err(error) = touch(conn, id, now) {
        tracing::debug!(%error, "the API token's last use was not written; ignored");
    }
}

/// Last use, written at most once a minute per token.
pub fn touch(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    let minute_ago = now - chrono::Duration::minutes(1);
    diesel::update(
        t::table
            .find(id)
            .filter(t::last_used_at.is_null().or(t::last_used_at.lt(minute_ago))),
    )
    .set(t::last_used_at.eq(Some(now)))
    .execute(conn)
}

/// Tokens seen in the last two seconds, so a busy client costs one lookup per window.
/// Revoking forgets them at once on this instance, and on the others when the notification
/// arrives (`peers`; the two seconds are the fallback).
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (Instant, ApiToken)>>,
    pub peers: Peers,
}

/// The channel on which instances tell each other to forget the tokens they hold.
pub const TOKENS_CHANNEL: &str = "gh_tokens";

impl TokenCache {
    pub fn get(&self, hash: &str) -> Option<ApiToken> {
        let e = self.entries.lock().ok()?;
        e.get(hash)
            .filter(|(at, _)| at.elapsed() < Duration::from_secs(2))
            .map(|(_, t)| t.clone())
    }

    pub fn put(&self, hash: String, token: ApiToken) {
        if let Ok(mut e) = self.entries.lock() {
            if e.len() > 10_000 {
                e.clear();
            }
            e.insert(hash, (Instant::now(), token));
        }
    }

    /// Forget every token, here and on the other instances.
    pub fn forget_all(&self) {
        self.forget_here();
        self.peers.tell(crate::db::notify::EVERYTHING);
    }

    /// Forget every token here (a notification from another instance).
    pub fn forget_here(&self) {
        if let Ok(mut e) = self.entries.lock() {
            e.clear();
        }
    }
}
