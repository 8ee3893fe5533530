//! actix-session's `SessionStore` over the `gh_sessions` table, and the `SessionMiddleware`
//! built on it. The cookie holds only a random key, signed; the table holds the key's MAC
//! (`Keys::session_id`), so a copy of the table cannot be replayed as cookies.
//!
//! A session's state is actix-session's map of JSON values. The store writes `user_id`,
//! `stage`, `ip` and `user_agent` (set at sign-in) into their columns and every other entry
//! (the flash message) into `data`; loading adds the derived, read-only entries `_user`
//! (the operator, `CurrentUser`) and `_id` (the row's id). The operator and stage change
//! only with a new key (`Session::renew` at sign-in), never in place.
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

use crate::db::now;
use crate::db::secrets::random_token;
use crate::error::AppError;
use crate::identity::session::{CurrentUser, SESSION_COOKIE, SessionCache};
use crate::identity::sessions::{self, NewSession, STAGE_ANON, Stored};
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

/// The entries kept in `data`: neither derived nor stored in a column.
fn data_of(state: &State) -> String {
    let map: serde_json::Map<String, serde_json::Value> = state
        .iter()
        .filter(|(k, _)| !k.starts_with('_') && !COLUMNS.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.clone(), serde_json::from_str(v).ok()?)))
        .collect();
    serde_json::Value::Object(map).to_string()
}

fn to_state(id: &str, stored: &Stored) -> State {
    let mut state = State::new();
    let json = |v: &str| serde_json::Value::from(v).to_string();
    state.insert(ID.into(), json(id));
    if let Some(user) = &stored.user
        && let Ok(user) = serde_json::to_string::<CurrentUser>(user)
    {
        state.insert(USER.into(), user);
    }
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&stored.data) {
        for (k, v) in map {
            if !k.starts_with('_') && !COLUMNS.contains(&k.as_str()) {
                state.insert(k, v.to_string());
            }
        }
    }
    state
}

impl DbSessionStore {
    fn id(&self, key: &SessionKey) -> String {
        self.state.keys.session_id(key.as_ref())
    }
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let id = self.id(key);
        let policy = self.state.policy();
        if let Some(hit) = self.cache.get(&id, policy.cache_ttl()) {
            return Ok(hit);
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
                Ok(state)
            }
            Err(error) => {
                // Not an error here: the request goes on, and whatever needs the operator
                // reads again and answers with the database's fault (`session::load`).
                tracing::debug!(%error, "the session could not be loaded");
                let mut state = State::new();
                state.insert(ID.into(), serde_json::Value::from(id).to_string());
                state.insert(UNAVAILABLE.into(), "true".into());
                Ok(Some(state))
            }
        }
    }

    async fn save(&self, state: State, _ttl: &time::Duration) -> Result<SessionKey, SaveError> {
        let token = random_token();
        let user_id = text(&state, USER_ID);
        let data = data_of(&state);
        let key = SessionKey::try_from(token.clone()).map_err(|e| SaveError::Other(e.into()))?;
        if user_id.is_none() && data == "{}" {
            // Nothing worth a row: the cookie names a session that does not exist.
            return Ok(key);
        }
        let stage = match (&user_id, text(&state, STAGE)) {
            (None, _) => STAGE_ANON.to_string(),
            (Some(_), Some(stage)) => stage,
            (Some(_), None) => {
                return Err(SaveError::Other(anyhow::anyhow!(
                    "a signed-in session needs its sign-in stage"
                )));
            }
        };
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
                        user_id: user_id.as_deref(),
                        ip: &ip,
                        user_agent: &user_agent,
                        stage: &stage,
                        data: &data,
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
        let id = self.id(&key);
        let data = data_of(&state);
        let signed_in = state.contains_key(USER) || state.contains_key(UNAVAILABLE);
        let i = id.clone();
        let written = self
            .state
            .db
            .run(move |conn| {
                // A visitor's session whose message was shown has nothing left to keep. A
                // session ended meanwhile stays ended: an update never creates a row.
                if !signed_in && data == "{}" {
                    sessions::delete_session(conn, &i)?;
                } else {
                    sessions::set_session_data(conn, &i, &data)?;
                }
                Ok(())
            })
            .await;
        // Here and on the other instances, the next request reads the new state.
        self.cache.forget(&id);
        written.map_err(|e| UpdateError::Other(self.failure.keep(e)))?;
        Ok(key)
    }

    async fn update_ttl(&self, _key: &SessionKey, _ttl: &time::Duration) -> anyhow::Result<()> {
        // Never called (`TtlExtensionPolicy::OnStateChanges`); last-seen is written, at most
        // once per `touch_interval`, when the session is loaded.
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        let id = self.id(key);
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
