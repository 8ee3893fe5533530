//! Server-side sessions: the cookie holds a random token, the database holds its MAC with
//! the user, creation and last-seen times. Looked up once per request and cached in the
//! request's extensions, so the layout, the extractor and the error page share one query.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::db::notify::Peers;
use crate::error::AppError;
use crate::identity::sessions;
use crate::state::{AppState, app_data};

pub const SESSION_COOKIE: &str = "gh_session";

/// The signed-in operator of this request.
#[derive(Debug, Clone)]
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
}

/// Live sessions seen in the last moment, so a burst of requests costs one lookup. Entries
/// live at most two seconds (a quarter of the idle timeout when that is shorter). A session
/// ended here is forgotten at once here, and on the other instances as soon as the
/// notification arrives (`peers`); the expiry is the fallback when one is lost.
#[derive(Default)]
pub struct SessionCache {
    entries: Mutex<HashMap<String, (Instant, CurrentUser)>>,
    pub peers: Peers,
}

/// The channel on which instances tell each other which sessions to forget.
pub const SESSIONS_CHANNEL: &str = "gh_sessions";

const CACHE_MAX_ENTRIES: usize = 10_000;

impl SessionCache {
    fn get(&self, id: &str, ttl: Duration) -> Option<CurrentUser> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(id)
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, u)| u.clone())
    }

    fn put(&self, id: String, user: CurrentUser) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(id, (Instant::now(), user));
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
            entries.retain(|_, (_, u)| u.id != user_id);
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

/// Look the session up (once per request).
pub async fn load(req: &HttpRequest) -> Result<Option<CurrentUser>, AppError> {
    if let Some(Loaded(user)) = req.extensions().get::<Loaded>() {
        return Ok(user.clone());
    }
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        req.extensions_mut().insert(Loaded(None));
        return Ok(None);
    };
    let state = app_data::<AppState>(req)?;
    let id = state.keys.session_id(cookie.value());
    let policy = state.policy();
    let ttl = (policy.idle / 4).min(Duration::from_secs(2));
    let cache = app_data::<SessionCache>(req)?;
    if let Some(user) = cache.get(&id, ttl) {
        req.extensions_mut().insert(Loaded(Some(user.clone())));
        return Ok(Some(user));
    }
    let user = state
        .db
        .run(move |conn| Ok(sessions::load_session(conn, &id, policy, crate::db::now())?))
        .await?;
    // Only a session past every sign-in step counts as signed in.
    let user = user.filter(|u| u.stage == sessions::STAGE_FULL);
    if let Some(u) = &user {
        cache.put(u.session_id.clone(), u.clone());
    }
    req.extensions_mut().insert(Loaded(user.clone()));
    Ok(user)
}

/// The session's user at whatever sign-in stage (for the second-factor pages).
pub async fn load_pending(req: &HttpRequest) -> Result<Option<CurrentUser>, AppError> {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let state = app_data::<AppState>(req)?;
    let id = state.keys.session_id(cookie.value());
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

pub fn session_cookie(token: String, state: &AppState) -> Cookie<'static> {
    let max_age = time::Duration::seconds(
        i64::try_from(state.config.session_lifetime.as_secs()).unwrap_or(i64::MAX),
    );
    Cookie::build(SESSION_COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.secure_cookies())
        .max_age(max_age)
        .finish()
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
