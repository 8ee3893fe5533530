//! The webhook worker: every quarter second it claims due events, delivers them signed
//! (HTTP POST, 10 s timeout, any 2xx is success), and records each attempt. Destinations
//! that resolve to loopback, private, link-local or metadata addresses are refused unless
//! the configuration allows them.

use std::net::{IpAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::db::now;
use crate::db::secrets::Sealer;
use crate::events::outbox::Endpoint;
use crate::integrations::signing;
use crate::integrations::store::{self as outbox, Attempt, OutboxRow};
use crate::state::AppState;

const POLL: Duration = Duration::from_millis(250);
const BATCH: i64 = 32;

/// Start the worker on the current actix runtime.
pub fn spawn(state: AppState) {
    actix_web::rt::spawn(async move {
        // Made at the first delivery: its TLS context costs memory an idle server need not hold.
        let mut client: Option<awc::Client> = None;
        loop {
            match tick(&state, &mut client).await {
                Ok(0) => actix_web::rt::time::sleep(POLL).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "webhook worker");
                    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
}

/// Claim and deliver one batch; returns how many were attempted.
pub async fn tick(state: &AppState, client: &mut Option<awc::Client>) -> Result<usize, String> {
    let lease = chrono::Duration::from_std(state.config.webhook_lease).unwrap_or_default();
    let due = state
        .db
        .run(move |conn| {
            let now = now();
            Ok(outbox::claim(conn, now, now + lease, BATCH)?)
        })
        .await
        .map_err(|e| e.to_string())?;
    let n = due.len();
    if n == 0 {
        return Ok(0);
    }
    let client: &awc::Client = client.get_or_insert_with(|| {
        awc::Client::builder()
            .timeout(Duration::from_secs(10))
            .disable_redirects()
            .finish()
    });
    let sealer = Sealer::new(state.config.secret_key.bytes());
    let attempts = due.into_iter().map(|(row, ep)| {
        let sealer = &sealer;
        async move {
            let attempt = deliver(state, client, sealer, &row, &ep).await;
            (row, ep, attempt)
        }
    });
    for (row, ep, attempt) in futures_util::future::join_all(attempts).await {
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
            .map_err(|e| e.to_string())?;
    }
    Ok(n)
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
