//! Server-side sessions through actix-session: `session_store` keeps them in `gh_sessions`
//! (the cookie holds a random key, the database its MAC) and loads each request's session
//! into actix-session's `Session`; here the signed-in operator is read from it, once per
//! request (cached in the request's extensions, so the layout, the extractor and the error
//! page share it), and the two-second cache of live sessions lives.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_session::SessionExt;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use serde::{Deserialize, Serialize};

use crate::db::notify::Peers;
use crate::error::AppError;
use crate::identity::session_store::{self, State};
use crate::identity::sessions;
use crate::state::{AppState, app_data};

pub const SESSION_COOKIE: &str = "gh_session";

/// The signed-in operator of this request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    /// The database id of the session this request belongs to.
    pub session_id: String,
    /// How far sign-in has come (`full`, or a second-factor step still due).
    pub stage: String,
}

impl CurrentUser {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub lifetime: Duration,
}

impl SessionPolicy {
    /// Last-seen is written at most this often, so a busy session does not write on
    /// every request, yet an idle timeout is still honoured to within a quarter.
    pub fn touch_interval(&self) -> Duration {
        (self.idle / 4).min(Duration::from_secs(60))
    }

    /// How long a live session is trusted from the cache without asking the database.
    pub fn cache_ttl(&self) -> Duration {
        (self.idle / 4).min(Duration::from_secs(2))
    }
}

/// Live sessions seen in the last moment (their state as the store loaded it, or that
/// there is none), so a burst of requests costs one lookup. Entries live at most two
/// seconds (a quarter of the idle timeout when that is shorter). A session ended or changed
/// here is forgotten at once here, and on the other instances as soon as the notification
/// arrives (`peers`); the expiry is the fallback when one is lost.
#[derive(Default)]
pub struct SessionCache {
    entries: Mutex<HashMap<String, Cached>>,
    pub peers: Peers,
}

struct Cached {
    at: Instant,
    user_id: Option<String>,
    state: Option<State>,
}

/// The channel on which instances tell each other which sessions to forget.
pub const SESSIONS_CHANNEL: &str = "gh_sessions";

const CACHE_MAX_ENTRIES: usize = 10_000;

impl SessionCache {
    /// The cached state of session `id`: `Some(None)` when it is known not to exist.
    pub(crate) fn get(&self, id: &str, ttl: Duration) -> Option<Option<State>> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(id)
            .filter(|c| c.at.elapsed() < ttl)
            .map(|c| c.state.clone())
    }

    pub(crate) fn put(&self, id: String, user_id: Option<String>, state: Option<State>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_MAX_ENTRIES {
                entries.clear();
            }
            let at = Instant::now();
            entries.insert(id, Cached { at, user_id, state });
        }
    }

    /// Forget one session, here and on the other instances.
    pub fn forget(&self, id: &str) {
        self.forget_session_here(id);
        self.peers.tell(&format!("session:{id}"));
    }

    /// Forget a user's sessions (signed out, disabled, role changed…), here and elsewhere.
    pub fn forget_user(&self, user_id: &str) {
        self.forget_user_here(user_id);
        self.peers.tell(&format!("user:{user_id}"));
    }

    fn forget_session_here(&self, id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(id);
        }
    }

    fn forget_user_here(&self, user_id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, c| c.user_id.as_deref() != Some(user_id));
        }
    }

    /// A notification from another instance (or `EVERYTHING` after a reconnection).
    pub fn receive(&self, payload: &str) {
        if let Some(id) = payload.strip_prefix("session:") {
            self.forget_session_here(id);
        } else if let Some(id) = payload.strip_prefix("user:") {
            self.forget_user_here(id);
        } else if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

#[derive(Clone)]
struct Loaded(Option<CurrentUser>);

/// The signed-in operator, if any.
pub struct MaybeUser(pub Option<CurrentUser>);

type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T, AppError>>>>;

impl FromRequest for MaybeUser {
    type Error = AppError;
    type Future = LocalFuture<MaybeUser>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { load(&req).await.map(MaybeUser) })
    }
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = LocalFuture<CurrentUser>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { load(&req).await?.ok_or(AppError::Unauthorized) })
    }
}

/// The signed-in operator (past every sign-in step), read from the session once per request.
pub async fn load(req: &HttpRequest) -> Result<Option<CurrentUser>, AppError> {
    if let Some(Loaded(user)) = req.extensions().get::<Loaded>() {
        return Ok(user.clone());
    }
    // Only a session past every sign-in step counts as signed in.
    let user = load_pending(req)
        .await?
        .filter(|u| u.stage == sessions::STAGE_FULL);
    req.extensions_mut().insert(Loaded(user.clone()));
    Ok(user)
}

/// The session's user at whatever sign-in stage (for the second-factor pages).
pub async fn load_pending(req: &HttpRequest) -> Result<Option<CurrentUser>, AppError> {
    let session = req.get_session();
    if !session.contains_key(session_store::UNAVAILABLE) {
        return session
            .get::<CurrentUser>(session_store::USER)
            .map_err(|e| AppError::internal(format!("the session's operator is unreadable: {e}")));
    }
    // The store could not read the database; reading again here lets the error (503 with
    // its reason) reach the caller, or finds the database back.
    let id = session
        .get::<String>(session_store::ID)
        .map_err(|e| AppError::internal(format!("the session's id is unreadable: {e}")))?;
    let Some(id) = id else {
        return Ok(None);
    };
    let state = app_data::<AppState>(req)?;
    let policy = state.policy();
    state
        .db
        .run(move |conn| Ok(sessions::load_session(conn, &id, policy, crate::db::now())?))
        .await
}

/// The user cached by `load`, without touching the database (for error pages).
pub fn cached(req: &HttpRequest) -> Option<CurrentUser> {
    req.extensions().get::<Loaded>().and_then(|l| l.0.clone())
}

pub fn removal_cookie(name: &'static str, state: &AppState) -> Cookie<'static> {
    let mut c = Cookie::build(name, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.secure_cookies())
        .finish();
    c.make_removal();
    c
}

impl AppState {
    pub fn policy(&self) -> SessionPolicy {
        SessionPolicy {
            idle: self.config.session_idle_timeout,
            lifetime: self.config.session_lifetime,
        }
    }
}
