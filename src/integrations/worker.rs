//! The webhook worker: it claims due events, delivers each signed (HTTP POST, 10 s timeout,
//! any 2xx is success) in a task of its own, and records each attempt the moment it
//! completes. At most `PER_ENDPOINT` deliveries are in flight to one endpoint and
//! `IN_FLIGHT` in all, so a slow or hanging receiver holds only its own slots: the claim
//! skips endpoints at their limit, gives back at once what it took beyond an endpoint's free
//! slots, and claims again as soon as a slot frees. Destinations that resolve to loopback,
//! private, link-local or metadata addresses are refused unless the configuration allows
//! them.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::db::now;
use crate::db::secrets::Sealer;
use crate::events::outbox::Endpoint;
use crate::integrations::signing;
use crate::integrations::store::{self as outbox, Attempt, OutboxRow};
use crate::metrics;
use crate::state::AppState;

const POLL: Duration = Duration::from_millis(250);
const BATCH: usize = 32;
/// Deliveries in flight to one endpoint at most.
pub const PER_ENDPOINT: usize = 4;
/// Deliveries in flight from this worker at most.
pub const IN_FLIGHT: usize = 64;

/// What this worker has in flight: per endpoint, by event, in all.
#[derive(Default)]
struct Flight {
    counts: RefCell<Counts>,
    /// Woken when a delivery finishes and frees its slot.
    freed: tokio::sync::Notify,
}

#[derive(Default)]
struct Counts {
    per_endpoint: HashMap<String, usize>,
    events: HashSet<String>,
    total: usize,
}

enum Take {
    Slot(Slot),
    /// This worker is delivering that event already (its lease ran out meanwhile).
    Busy,
    /// The endpoint has no free slot.
    Full,
}

/// One delivery's place in the counts, given back when dropped (even by a panic).
struct Slot {
    flight: Rc<Flight>,
    endpoint: String,
    event: String,
}

impl Flight {
    /// How many more deliveries may start, and the endpoints already at their limit.
    fn room(&self) -> (usize, Vec<String>) {
        let c = self.counts.borrow();
        let full = c
            .per_endpoint
            .iter()
            .filter(|(_, n)| **n >= PER_ENDPOINT)
            .map(|(id, _)| id.clone())
            .collect();
        (IN_FLIGHT.saturating_sub(c.total), full)
    }

    fn take(self: &Rc<Self>, endpoint: &str, event: &str) -> Take {
        let mut c = self.counts.borrow_mut();
        if c.events.contains(event) {
            return Take::Busy;
        }
        if c.total >= IN_FLIGHT
            || c.per_endpoint.get(endpoint).copied().unwrap_or(0) >= PER_ENDPOINT
        {
            return Take::Full;
        }
        *c.per_endpoint.entry(endpoint.to_string()).or_default() += 1;
        c.events.insert(event.to_string());
        c.total += 1;
        Take::Slot(Slot {
            flight: self.clone(),
            endpoint: endpoint.to_string(),
            event: event.to_string(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.flight.counts.borrow_mut();
        if let Some(n) = c.per_endpoint.get_mut(&self.endpoint) {
            *n -= 1;
            if *n == 0 {
                c.per_endpoint.remove(&self.endpoint);
            }
        }
        c.events.remove(&self.event);
        c.total -= 1;
        drop(c);
        self.flight.freed.notify_one();
    }
}

/// Start the worker on the current actix runtime.
pub fn spawn(state: AppState) {
    let running = state.lifecycle.enter();
    actix_web::rt::spawn(async move {
        let _running = running;
        let flight = Rc::new(Flight::default());
        let sealer = Rc::new(Sealer::new(state.config.secret_key.bytes()));
        // Made at the first delivery: its TLS context costs memory an idle server need not hold.
        let mut client: Option<awc::Client> = None;
        loop {
            // Stopping: claim nothing more, finish and record the deliveries in hand, so a
            // restart never sends one of them again.
            if state.lifecycle.stopping() {
                while flight.counts.borrow().total > 0 {
                    let _ = actix_web::rt::time::timeout(POLL, flight.freed.notified()).await;
                }
                return;
            }
            match tick(&state, &flight, &sealer, &mut client).await {
                // Nothing started: wait for a slot to free or for the next poll.
                Ok(0) => {
                    let _ = actix_web::rt::time::timeout(POLL, flight.freed.notified()).await;
                }
                Ok(_) => {}
                // A database refusing writes is logged once, by the database's health.
                Err(e) if state.db.degraded().is_some() => {
                    tracing::debug!(error = %e, "webhook worker");
                    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhook worker");
                    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
}

/// Claim due events for the free slots and start their deliveries; returns how many started.
async fn tick(
    state: &AppState,
    flight: &Rc<Flight>,
    sealer: &Rc<Sealer>,
    client: &mut Option<awc::Client>,
) -> Result<usize, String> {
    let (room, full) = flight.room();
    if room == 0 {
        return Ok(0);
    }
    let lease = chrono::Duration::from_std(state.config.webhook_lease).unwrap_or_default();
    let limit = room.min(BATCH) as i64;
    let due = state
        .db
        .run(move |conn| {
            let now = now();
            Ok(outbox::claim_except(conn, now, now + lease, limit, &full)?)
        })
        .await
        .map_err(|e| e.to_string())?;
    if due.is_empty() {
        return Ok(0);
    }
    let client = client.get_or_insert_with(|| {
        awc::Client::builder()
            .timeout(Duration::from_secs(10))
            .disable_redirects()
            .finish()
    });
    let (mut started, mut surplus) = (0, Vec::new());
    for (row, ep) in due {
        match flight.take(&ep.id, &row.id) {
            Take::Slot(slot) => {
                started += 1;
                let (state, sealer, client) = (state.clone(), sealer.clone(), client.clone());
                actix_web::rt::spawn(async move {
                    let attempt = deliver(&state, &client, &sealer, &row, &ep).await;
                    metrics::global().webhook_attempt(
                        attempt.status_code,
                        Duration::from_millis(attempt.latency_ms.max(0) as u64),
                    );
                    if let Err(e) = record(&state, row, ep, attempt).await {
                        // Unrecorded, the event is delivered again once its lease runs out.
                        tracing::warn!(error = %e, "webhook worker: recording an attempt");
                    }
                    drop(slot);
                });
            }
            // Our lease on it was just renewed; the delivery under way records it.
            Take::Busy => {}
            Take::Full => surplus.push(row.id),
        }
    }
    if !surplus.is_empty() {
        state
            .db
            .run(move |conn| Ok(outbox::release(conn, &surplus)?))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(started)
}

/// File one attempt at once: a crash after this never sends that attempt again.
async fn record(
    state: &AppState,
    row: OutboxRow,
    ep: Endpoint,
    attempt: Attempt,
) -> Result<(), String> {
    let (schedule, disable_after) = (
        state.config.webhook_retry_schedule.clone(),
        state.config.webhook_disable_after,
    );
    state
        .db
        .run(move |conn| {
            Ok(outbox::record_attempt(
                conn,
                &row,
                &ep,
                &attempt,
                &schedule,
                disable_after,
                now(),
            )?)
        })
        .await
        .map_err(|e| e.to_string())
}

/// Addresses a webhook may not reach unless allowed: loopback, private, link-local,
/// unspecified, carrier-grade NAT, unique-local, and cloud metadata.
pub fn forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]))
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| forbidden_ip(IpAddr::V4(v4)))
        }
    }
}

/// Check where a URL leads; an error says why it is refused.
pub async fn check_destination(url: &str, allow_private: bool) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|_| "not a URL".to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("only http and https URLs".into());
    }
    let host = parsed.host_str().ok_or("the URL has no host")?.to_string();
    let port = parsed.port_or_known_default().unwrap_or(443);
    if allow_private {
        return Ok(());
    }
    let addrs: Vec<IpAddr> = actix_web::web::block(move || {
        (host.trim_start_matches('[').trim_end_matches(']'), port)
            .to_socket_addrs()
            .map(|a| a.map(|s| s.ip()).collect::<Vec<_>>())
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("cannot resolve the host: {e}"))?;
    if let Some(ip) = addrs.iter().find(|ip| forbidden_ip(**ip)) {
        return Err(format!(
            "refused: the destination resolves to {ip}, a private or local address (allow with --webhook-allow-private)"
        ));
    }
    Ok(())
}

async fn deliver(
    state: &AppState,
    client: &awc::Client,
    sealer: &Sealer,
    row: &OutboxRow,
    ep: &Endpoint,
) -> Attempt {
    let started = Instant::now();
    let fail = |error: String, started: Instant| Attempt {
        status_code: None,
        latency_ms: started.elapsed().as_millis() as i64,
        excerpt: String::new(),
        error: Some(error),
    };
    if let Err(reason) = check_destination(&ep.url, state.config.webhook_allow_private).await {
        return fail(reason, started);
    }
    let timestamp = chrono::Utc::now().timestamp();
    let mut signatures = Vec::new();
    let mut secrets = vec![sealer.open(&ep.secret_enc)];
    if let (Some(old), Some(until)) = (&ep.old_secret_enc, ep.old_secret_until)
        && until > now()
    {
        secrets.push(sealer.open(old));
    }
    for secret in secrets {
        match secret.and_then(|s| signing::sign(&s, &row.id, timestamp, &row.payload)) {
            Ok(sig) => signatures.push(sig),
            Err(e) => return fail(format!("cannot sign: {e}"), started),
        }
    }
    let request = client
        .post(&ep.url)
        .insert_header(("content-type", "application/json"))
        .insert_header((
            "user-agent",
            concat!("Gatehouse-Webhooks/", env!("CARGO_PKG_VERSION")),
        ))
        .insert_header(("webhook-id", row.id.as_str()))
        .insert_header(("webhook-timestamp", timestamp.to_string()))
        .insert_header(("webhook-signature", signatures.join(" ")));
    match request.send_body(row.payload.clone()).await {
        Ok(mut res) => {
            let status = res.status().as_u16() as i32;
            let body = res.body().limit(64 * 1024).await.unwrap_or_default();
            let excerpt: String =
                String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned();
            Attempt {
                status_code: Some(status),
                latency_ms: started.elapsed().as_millis() as i64,
                excerpt,
                error: None,
            }
        }
        Err(e) => fail(format!("{e}"), started),
    }
}
