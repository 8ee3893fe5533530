//! Passkeys (WebAuthn): the relying party made from `--public-url`, the stored credentials
//! (`gh_passkeys`) and the ceremonies in progress (`gh_webauthn_challenges`): each is single
//! use, lives five minutes and is bound to the session (or anonymous cookie) that began it.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use url::Url;
use webauthn_rs::prelude::{Passkey, Webauthn, WebauthnBuilder};

use crate::db::schema::{gh_passkeys as pk, gh_webauthn_challenges as ch};
use crate::db::{DbConn, new_id};
use crate::error::AppError;

/// How long a ceremony may take, from its options to the browser's answer.
pub const CHALLENGE_LIFETIME: Duration = Duration::from_secs(300);
/// Adding a passkey to the signed-in operator's account (or during a forced enrolment).
pub const PURPOSE_REGISTER: &str = "register";
/// The second step of sign-in, after the password.
pub const PURPOSE_SECOND: &str = "second";
/// Signing in with a passkey alone (a discoverable credential).
pub const PURPOSE_PASSWORDLESS: &str = "passwordless";

/// The relying party: its ID is the host of `--public-url` and the origin that URL's.
/// On `localhost` any port is accepted (a developer's machine); elsewhere the port must match.
pub fn relying_party(public_url: &Url) -> Result<Webauthn, AppError> {
    let refusal = || {
        AppError::Unprocessable(format!(
            "Passkeys need --public-url with a host name (such as https://admin.example.com, or http://localhost:8080 to try them); {public_url} has none."
        ))
    };
    let host = public_url.domain().ok_or_else(refusal)?;
    WebauthnBuilder::new(host, public_url)
        .map_err(|_| refusal())?
        .rp_name("Gatehouse")
        .allow_any_port(host == "localhost")
        .build()
        .map_err(|_| refusal())
}

/// The text form of a credential id, as stored and as the browser reports it.
pub fn credential_key(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

/// A stored passkey: `credential` is webauthn-rs's `Passkey` as JSON.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pk)]
pub struct PasskeyRecord {
    pub id: String,
    pub user_id: String,
    pub credential_id: String,
    pub name: String,
    pub credential: String,
    pub passwordless: bool,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

impl PasskeyRecord {
    /// The credential itself; a row that no longer parses is a server fault.
    pub fn passkey(&self) -> Result<Passkey, AppError> {
        serde_json::from_str(&self.credential).map_err(AppError::caused_by)
    }
}

pub fn passkeys_of(conn: &mut DbConn, user: &str) -> QueryResult<Vec<PasskeyRecord>> {
    pk::table
        .filter(pk::user_id.eq(user))
        .order((pk::created_at, pk::id))
        .select(PasskeyRecord::as_select())
        .load(conn)
}

pub fn count_of(conn: &mut DbConn, user: &str) -> QueryResult<i64> {
    pk::table
        .filter(pk::user_id.eq(user))
        .count()
        .get_result(conn)
}

pub fn find_by_credential(conn: &mut DbConn, key: &str) -> QueryResult<Option<PasskeyRecord>> {
    pk::table
        .filter(pk::credential_id.eq(key))
        .select(PasskeyRecord::as_select())
        .first(conn)
        .optional()
}

pub struct NewPasskey<'a> {
    pub user_id: &'a str,
    pub credential_id: &'a str,
    pub name: &'a str,
    pub credential: &'a str,
    pub passwordless: bool,
}

pub fn insert(conn: &mut DbConn, new: NewPasskey<'_>, now: NaiveDateTime) -> QueryResult<String> {
    let id = new_id();
    diesel::insert_into(pk::table)
        .values((
            pk::id.eq(&id),
            pk::user_id.eq(new.user_id),
            pk::credential_id.eq(new.credential_id),
            pk::name.eq(new.name),
            pk::credential.eq(new.credential),
            pk::passwordless.eq(new.passwordless),
            pk::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Remove one of the operator's passkeys; its name, or `None` when it is not theirs.
pub fn delete(conn: &mut DbConn, user: &str, id: &str) -> QueryResult<Option<String>> {
    let name = pk::table
        .filter(pk::id.eq(id).and(pk::user_id.eq(user)))
        .select(pk::name)
        .first::<String>(conn)
        .optional()?;
    if name.is_some() {
        diesel::delete(pk::table.filter(pk::id.eq(id).and(pk::user_id.eq(user)))).execute(conn)?;
    }
    Ok(name)
}

/// Remove every passkey of an operator (an administrator's two-factor reset).
pub fn delete_all(conn: &mut DbConn, user: &str) -> QueryResult<usize> {
    diesel::delete(pk::table.filter(pk::user_id.eq(user))).execute(conn)
}

/// Note a use; `credential` is the rewritten credential when its counter or backup state
/// moved.
pub fn record_use(
    conn: &mut DbConn,
    id: &str,
    credential: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let row = pk::table.find(id);
    match credential {
        Some(c) => diesel::update(row)
            .set((pk::last_used_at.eq(now), pk::credential.eq(c)))
            .execute(conn)?,
        None => diesel::update(row)
            .set(pk::last_used_at.eq(now))
            .execute(conn)?,
    };
    Ok(())
}

/// A ceremony to store: its purpose, for whom, bound to what, and its state as JSON.
pub struct NewChallenge<'a> {
    pub purpose: &'static str,
    pub user_id: Option<&'a str>,
    pub binding: &'a str,
    pub state: &'a str,
}

/// Store a ceremony's state (and drop the expired ones); returns its id.
pub fn save_challenge(
    conn: &mut DbConn,
    new: NewChallenge<'_>,
    now: NaiveDateTime,
) -> QueryResult<String> {
    let limit = chrono::Duration::from_std(CHALLENGE_LIFETIME).unwrap_or_default();
    diesel::delete(ch::table.filter(ch::created_at.lt(now - limit))).execute(conn)?;
    // One ceremony in flight per session (or cookie) and purpose: asking again replaces it.
    diesel::delete(ch::table.filter(ch::binding.eq(new.binding).and(ch::purpose.eq(new.purpose))))
        .execute(conn)?;
    let id = new_id();
    diesel::insert_into(ch::table)
        .values((
            ch::id.eq(&id),
            ch::purpose.eq(new.purpose),
            ch::user_id.eq(new.user_id),
            ch::binding.eq(new.binding),
            ch::state.eq(new.state),
            ch::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Take a ceremony's state, once: the row is deleted here. A challenge of another session,
/// operator or purpose is refused and left alone (it is not this caller's to spend).
/// Run it inside a write transaction so two answers cannot both take it.
pub fn take_challenge(
    conn: &mut DbConn,
    id: &str,
    expected: NewChallenge<'_>,
    now: NaiveDateTime,
) -> QueryResult<Result<String, &'static str>> {
    let row = ch::table
        .find(id)
        .select((
            ch::purpose,
            ch::user_id,
            ch::binding,
            ch::state,
            ch::created_at,
        ))
        .first::<(String, Option<String>, String, String, NaiveDateTime)>(conn)
        .optional()?;
    let Some((purpose, user_id, binding, state, created)) = row else {
        return Ok(Err(
            "This passkey request was already used or is unknown. Start again.",
        ));
    };
    if purpose != expected.purpose
        || user_id.as_deref() != expected.user_id
        || binding != expected.binding
    {
        return Ok(Err(
            "This passkey request belongs to another sign-in. Start again.",
        ));
    }
    diesel::delete(ch::table.find(id)).execute(conn)?;
    let expired = (now - created)
        .to_std()
        .is_ok_and(|age| age > CHALLENGE_LIFETIME);
    Ok(if expired {
        Err("This passkey request expired (after five minutes). Start again.")
    } else {
        Ok(state)
    })
}
