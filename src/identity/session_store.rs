//! actix-session's `SessionStore` over the `gh_sessions` table, and the `SessionMiddleware`
//! built on it. The cookie holds a random key, signed; the table holds the key's MAC
//! (`Keys::session_id`), so a copy of the table cannot be replayed as cookies.
//!
//! A session's state is actix-session's map of JSON values. The store writes `user_id`,
//! `stage`, `ip` and `user_agent` (set at sign-in) into their columns; loading adds the
//! derived, read-only entries `_user` (the operator, `CurrentUser`) and `_id` (the row's id).
//! The operator and stage change only with a new key (`Session::renew` at sign-in), never in
//! place.
//!
//! Every other entry (the flash message) travels in the cookie itself, after the key:
//! `KEY.DATA`, DATA the entries as base64url JSON, covered by the cookie's signature. So a
//! message costs no database write, a visitor who is not signed in has no row at all (their
//! cookie is `.DATA`, no key), and a message set on one instance is read by whichever
//! instance serves the next request (no cache to be stale). Messages never carry secrets:
//! the browser can read them (it shows them anyway).
//!
//! Loading goes through the two-second `SessionCache`, so a burst of requests costs one
//! query; last-seen is written at most once per `touch_interval`, by the load, and the
//! middleware never writes for an unchanged session (`TtlExtensionPolicy::OnStateChanges`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use actix_session::SessionMiddleware;
use actix_session::config::{CookieContentSecurity, PersistentSession, TtlExtensionPolicy};
use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::body::MessageBody;
use actix_web::cookie::{Key, SameSite, time};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::db::now;
use crate::db::secrets::random_token;
use crate::error::AppError;
use crate::identity::session::{CurrentUser, SESSION_COOKIE, SessionCache};
use crate::identity::sessions::{self, NewSession, Stored};
use crate::state::AppState;

/// actix-session's state: entry name → JSON value.
pub type State = HashMap<String, String>;

/// Derived: the session's operator (`CurrentUser`), at whatever sign-in stage.
pub const USER: &str = "_user";
/// Derived: the session's row id (the MAC of its key).
pub const ID: &str = "_id";
/// Derived: the database could not be read when the session was loaded.
pub const UNAVAILABLE: &str = "_unavailable";
/// Stored in columns, set at sign-in.
pub const USER_ID: &str = "user_id";
pub const STAGE: &str = "stage";
pub const IP: &str = "ip";
pub const USER_AGENT: &str = "user_agent";

const COLUMNS: &[&str] = &[USER_ID, STAGE, IP, USER_AGENT];

pub struct DbSessionStore {
    state: AppState,
    cache: web::Data<SessionCache>,
    failure: Failure,
}

/// The error of the store's last failed write, for `surface_failures`. One per worker (a
/// worker runs one request at a time between awaits, and the middleware returns at once
/// after a failed write), given to the app as `app_data`.
#[derive(Clone, Default)]
pub struct Failure(Rc<RefCell<Option<AppError>>>);

impl Failure {
    fn keep(&self, error: AppError) -> anyhow::Error {
        let message = anyhow::anyhow!("{error}");
        *self.0.borrow_mut() = Some(error);
        message
    }
}

/// Wraps the session middleware: when storing the session fails (the database is full,
/// read-only, busy, unreachable…), the caller gets the error's status and reason (503 and
/// what the database said, as plain text: the request is gone by then, so no page can be
/// rendered) rather than actix-session's empty 500.
pub async fn surface_failures(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let failure = req.app_data::<Failure>().cloned();
    next.call(req).await.map_err(|error| {
        failure
            .and_then(|f| f.0.borrow_mut().take())
            .unwrap_or_else(|| AppError::internal(format!("the session: {error}")))
            .into()
    })
}

/// The session middleware of one worker: a signed cookie named `gh_session`, HttpOnly,
/// SameSite=Lax, Secure when the public URL is https, lasting the session lifetime.
pub fn middleware(
    state: &AppState,
    cache: web::Data<SessionCache>,
    failure: Failure,
) -> SessionMiddleware<DbSessionStore> {
    let lifetime = time::Duration::seconds(
        i64::try_from(state.config.session_lifetime.as_secs()).unwrap_or(i64::MAX),
    );
    let store = DbSessionStore {
        state: state.clone(),
        cache,
        failure,
    };
    SessionMiddleware::builder(store, Key::from(&state.keys.cookie_key()[..]))
        .cookie_name(SESSION_COOKIE.to_string())
        .cookie_secure(state.config.secure_cookies())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_path("/".to_string())
        .cookie_content_security(CookieContentSecurity::Signed)
        .session_lifecycle(
            PersistentSession::default()
                .session_ttl(lifetime)
                .session_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
        )
        .build()
}

fn text(state: &State, key: &str) -> Option<String> {
    state
        .get(key)
        .and_then(|v| serde_json::from_str::<String>(v).ok())
}

/// The entries carried in the cookie: neither derived nor stored in a column.
fn data_of(state: &State) -> serde_json::Map<String, serde_json::Value> {
    state
        .iter()
        .filter(|(k, _)| carried(k))
        .filter_map(|(k, v)| Some((k.clone(), serde_json::from_str(v).ok()?)))
        .collect()
}

fn carried(key: &str) -> bool {
    !key.starts_with('_') && !COLUMNS.contains(&key)
}

/// The cookie's key: the session's random token (empty for a visitor not signed in) and,
/// when there are any, the carried entries after a dot.
fn compose(token: &str, data: &serde_json::Map<String, serde_json::Value>) -> String {
    if data.is_empty() {
        return if token.is_empty() {
            ".".into()
        } else {
            token.into()
        };
    }
    let json = serde_json::Value::Object(data.clone()).to_string();
    format!("{token}.{}", URL_SAFE_NO_PAD.encode(json))
}

/// The token and the carried entries of a cookie's key (a key from before the entries
/// moved into the cookie has no dot: all token).
fn split(key: &str) -> (&str, State) {
    let (token, data) = key.split_once('.').unwrap_or((key, ""));
    let mut state = State::new();
    if data.is_empty() {
        return (token, state);
    }
    let decoded = URL_SAFE_NO_PAD
        .decode(data)
        .ok()
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok());
    if let Some(serde_json::Value::Object(map)) = decoded {
        for (k, v) in map {
            if carried(&k) {
                state.insert(k, v.to_string());
            }
        }
    }
    (token, state)
}

fn key_of(composed: String) -> Result<SessionKey, anyhow::Error> {
    SessionKey::try_from(composed).map_err(|e| anyhow::anyhow!("the session cookie: {e}"))
}

fn to_state(id: &str, stored: &Stored) -> State {
    let mut state = State::new();
    state.insert(ID.into(), serde_json::Value::from(id).to_string());
    if let Some(user) = &stored.user
        && let Ok(user) = serde_json::to_string::<CurrentUser>(user)
    {
        state.insert(USER.into(), user);
    }
    state
}

impl DbSessionStore {
    /// The row state of the session with `token`: cached, or read (`None`: no such session).
    async fn row_state(&self, token: &str) -> Option<State> {
        let id = self.state.keys.session_id(token);
        let policy = self.state.policy();
        if let Some(hit) = self.cache.get(&id, policy.cache_ttl()) {
            return hit;
        }
        let i = id.clone();
        let loaded = self
            .state
            .db
            .run(move |conn| Ok(sessions::load_stored(conn, &i, policy, now())?))
            .await;
        match loaded {
            Ok(stored) => {
                let user_id = stored
                    .as_ref()
                    .and_then(|s| s.user.as_ref().map(|u| u.id.clone()));
                let state = stored.map(|s| to_state(&id, &s));
                self.cache.put(id, user_id, state.clone());
                state
            }
            Err(error) => {
                // Not an error here: the request goes on, and whatever needs the operator
                // reads again and answers with the database's fault (`session::load`).
                tracing::debug!(%error, "the session could not be loaded");
                let mut state = State::new();
                state.insert(ID.into(), serde_json::Value::from(id).to_string());
                state.insert(UNAVAILABLE.into(), "true".into());
                Some(state)
            }
        }
    }
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let (token, carried) = split(key.as_ref());
        if token.is_empty() {
            // A visitor not signed in: everything is in the cookie.
            return Ok((!carried.is_empty()).then_some(carried));
        }
        let Some(mut state) = self.row_state(token).await else {
            // The session ended: what its cookie carried goes with it.
            return Ok(None);
        };
        state.extend(carried);
        Ok(Some(state))
    }

    async fn save(&self, state: State, _ttl: &time::Duration) -> Result<SessionKey, SaveError> {
        let data = data_of(&state);
        let Some(user_id) = text(&state, USER_ID) else {
            // Nobody signed in: no row, the cookie carries it all.
            return key_of(compose("", &data)).map_err(SaveError::Other);
        };
        let Some(stage) = text(&state, STAGE) else {
            return Err(SaveError::Other(anyhow::anyhow!(
                "a signed-in session needs its sign-in stage"
            )));
        };
        let token = random_token();
        let key = key_of(compose(&token, &data)).map_err(SaveError::Other)?;
        let id = self.state.keys.session_id(&token);
        let (ip, user_agent) = (
            text(&state, IP).unwrap_or_default(),
            text(&state, USER_AGENT).unwrap_or_default(),
        );
        let policy = self.state.policy();
        self.state
            .db
            .run(move |conn| {
                crate::db::write_tx(conn, |conn| {
                    let now = now();
                    let session = NewSession {
                        id: &id,
                        user_id: Some(&user_id),
                        ip: &ip,
                        user_agent: &user_agent,
                        stage: &stage,
                        data: "{}",
                    };
                    sessions::create_session(conn, session, now)?;
                    sessions::purge_expired(conn, policy, now)?;
                    Ok(())
                })
            })
            .await
            .map_err(|e| SaveError::Other(self.failure.keep(e)))?;
        Ok(key)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: State,
        _ttl: &time::Duration,
    ) -> Result<SessionKey, UpdateError> {
        // Only the carried entries change in place (the operator and stage change with a
        // new key): a new cookie, nothing written.
        let (token, _) = split(key.as_ref());
        key_of(compose(token, &data_of(&state))).map_err(UpdateError::Other)
    }

    async fn update_ttl(&self, _key: &SessionKey, _ttl: &time::Duration) -> anyhow::Result<()> {
        // Never called (`TtlExtensionPolicy::OnStateChanges`); last-seen is written, at most
        // once per `touch_interval`, when the session is loaded.
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        let (token, _) = split(key.as_ref());
        if token.is_empty() {
            return Ok(());
        }
        let id = self.state.keys.session_id(token);
        let i = id.clone();
        let deleted = self
            .state
            .db
            .run(move |conn| Ok(sessions::delete_session(conn, &i)?))
            .await;
        self.cache.forget(&id);
        deleted.map_err(|e| self.failure.keep(e))?;
        Ok(())
    }
}

/// What binds a browser's CSRF tokens and pre-sign-in ceremonies: the session's token (not
/// the whole cookie, which changes with each message it carries), else the anonymous cookie.
pub fn browser_binding(session: Option<&str>, anon: Option<&str>) -> Option<String> {
    session
        .and_then(|value| value.get(SIGNATURE_LEN..))
        .map(|key| key.split('.').next().unwrap_or(key))
        .filter(|token| !token.is_empty())
        .or(anon)
        .map(str::to_string)
}

/// A signed cookie's value starts with its signature: base64 of an HMAC-SHA256.
const SIGNATURE_LEN: usize = 44;
