//! What Gatehouse knows of each provider between sign-ins: its discovery document and its
//! signing keys (JWKS), cached per provider for an hour (`--sso-metadata-max-age`) so a
//! sign-in costs no extra round trips, with the keys fetched again at once when an ID token
//! names a key (`kid`) the cache does not hold (the provider rotated its keys); and the
//! sign-in page's provider buttons, forgotten at once when a provider changes here and
//! read again after a few seconds otherwise (a change made on another instance). Also the
//! HTTP client `openidconnect` calls. In memory only: another instance keeps its own copy,
//! and a stale one heals itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::{HttpRequest, HttpResponse, IssuerUrl};

use super::flow::Failure;
use super::providers::Provider;

/// How long the sign-in page's buttons are used before the providers are read again (a
/// change on this instance forgets them at once).
const BUTTONS_MAX_AGE: Duration = Duration::from_secs(5);
/// At most one key refresh per provider in this interval, however many unknown `kid`s arrive.
const MIN_REFRESH: Duration = Duration::from_secs(10);
const TIMEOUT: Duration = Duration::from_secs(10);

struct Entry {
    issuer: String,
    meta: CoreProviderMetadata,
    fetched: Instant,
    /// When the keys were last fetched again for an unknown `kid`.
    refreshed: Option<Instant>,
}

/// The enabled providers' (id, button label).
pub type Buttons = Arc<Vec<(String, String)>>;

/// The per-provider cache (application data, shared by the workers of one instance).
pub struct Discovery {
    entries: Mutex<HashMap<String, Entry>>,
    /// How long a discovery document and its keys are used before they are fetched again.
    max_age: Duration,
    buttons: Mutex<Option<(Instant, Buttons)>>,
}

impl Discovery {
    pub fn new(max_age: Duration) -> Discovery {
        Discovery {
            entries: Mutex::default(),
            max_age,
            buttons: Mutex::default(),
        }
    }

    fn cached(&self, p: &Provider) -> Option<CoreProviderMetadata> {
        let entries = self.entries.lock().ok()?;
        let e = entries.get(&p.id)?;
        (e.issuer == p.issuer && e.fetched.elapsed() < self.max_age).then(|| e.meta.clone())
    }

    /// The sign-in page's buttons, when read a moment ago.
    pub fn cached_buttons(&self) -> Option<Buttons> {
        let buttons = self.buttons.lock().ok()?;
        let (at, b) = buttons.as_ref()?;
        (at.elapsed() < BUTTONS_MAX_AGE).then(|| b.clone())
    }

    pub fn keep_buttons(&self, buttons: Vec<(String, String)>) -> Buttons {
        let buttons = Arc::new(buttons);
        if let Ok(mut kept) = self.buttons.lock() {
            *kept = Some((Instant::now(), buttons.clone()));
        }
        buttons
    }

    /// A provider was added, changed, enabled, disabled or deleted here.
    pub fn forget_buttons(&self) {
        if let Ok(mut kept) = self.buttons.lock() {
            *kept = None;
        }
    }

    fn store(&self, p: &Provider, meta: &CoreProviderMetadata, whole: bool) {
        if let Ok(mut entries) = self.entries.lock() {
            let now = Instant::now();
            let fetched = entries
                .get(&p.id)
                .filter(|e| !whole && e.issuer == p.issuer)
                .map_or(now, |e| e.fetched);
            let refreshed = (!whole).then_some(now);
            entries.insert(
                p.id.clone(),
                Entry {
                    issuer: p.issuer.clone(),
                    meta: meta.clone(),
                    fetched,
                    refreshed,
                },
            );
        }
    }

    /// The provider's discovery document with its keys: cached, or fetched (both) when
    /// missing, older than the maximum age, or for another issuer.
    pub async fn metadata(&self, p: &Provider) -> Result<CoreProviderMetadata, Failure> {
        if let Some(meta) = self.cached(p) {
            return Ok(meta);
        }
        let issuer = IssuerUrl::new(p.issuer.clone())
            .map_err(|_| "The provider's issuer URL is not valid.".to_string())?;
        let meta = CoreProviderMetadata::discover_async(issuer, &send)
            .await
            .map_err(|e| {
                tracing::warn!(provider = %p.name, error = %e, "SSO discovery failed");
                unreachable_reason(p)
            })?;
        self.store(p, &meta, true);
        Ok(meta)
    }

    /// The keys fetched again (an ID token named a key the cache does not hold). When they
    /// were fetched again moments ago (another sign-in met the new key first), the keys of
    /// that fetch instead, so tokens with made-up `kid`s cannot make Gatehouse hammer the
    /// provider.
    pub async fn refresh_keys(
        &self,
        p: &Provider,
        meta: CoreProviderMetadata,
    ) -> Result<CoreProviderMetadata, Failure> {
        let recent = self.entries.lock().ok().and_then(|entries| {
            let e = entries.get(&p.id)?;
            let fresh = e.refreshed.is_some_and(|at| at.elapsed() < MIN_REFRESH);
            fresh.then(|| e.meta.clone())
        });
        if let Some(recent) = recent {
            return Ok(recent);
        }
        let jwks = CoreJsonWebKeySet::fetch_async(meta.jwks_uri(), &send)
            .await
            .map_err(|e| {
                tracing::warn!(provider = %p.name, error = %e, "SSO key refresh failed");
                unreachable_reason(p)
            })?;
        tracing::info!(provider = %p.name, "SSO signing keys fetched again (unknown key id)");
        let meta = meta.set_jwks(jwks);
        self.store(p, &meta, false);
        Ok(meta)
    }
}

fn unreachable_reason(p: &Provider) -> Failure {
    format!(
        "{} could not be reached. Try again, or sign in with your password.",
        p.name
    )
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// The HTTP client `openidconnect` calls: awc, no redirects, a timeout.
pub async fn send(request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let client = awc::Client::builder()
        .timeout(TIMEOUT)
        .disable_redirects()
        .finish();
    let method = awc::http::Method::from_bytes(request.method().as_str().as_bytes())
        .map_err(|e| HttpError(e.to_string()))?;
    let mut req = client.request(method, request.uri().to_string());
    for (name, value) in request.headers() {
        req = req.insert_header((name.as_str(), value.as_bytes()));
    }
    let mut res = req
        .send_body(request.body().clone())
        .await
        .map_err(|e| HttpError(e.to_string()))?;
    let body = res
        .body()
        .limit(1024 * 1024)
        .await
        .map_err(|e| HttpError(e.to_string()))?;
    let mut out = openidconnect::http::Response::builder().status(res.status().as_u16());
    for (name, value) in res.headers() {
        out = out.header(name.as_str(), value.as_bytes());
    }
    out.body(body.to_vec())
        .map_err(|e| HttpError(e.to_string()))
}
