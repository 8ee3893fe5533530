//! The process's Prometheus metrics: one registry, its series with stable names and units,
//! and the middleware that counts HTTP requests by route template. Slices and the core
//! increment through `metrics::global()`; the ops slice serves the registry at `/metrics`,
//! setting the gauges that are read at scrape time (queue depths, pool state, process) first.
//! Names follow Prometheus conventions: `_total` counters, `_seconds` and `_bytes` units.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// The route label of a request no route matched (raw paths would make unbounded series).
pub const UNMATCHED: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub pool: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FaultLabels {
    pub fault: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s, doubling.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every series Gatehouse exports.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: HistogramFamily<RouteLabels>,
    pub db_pool_connections: Family<PoolLabels, Gauge>,
    pub db_pool_in_use: Family<PoolLabels, Gauge>,
    pub db_pool_max: Family<PoolLabels, Gauge>,
    pub db_pool_wait: HistogramFamily<PoolLabels>,
    pub db_pool_timeouts: Family<PoolLabels, Counter>,
    pub db_errors: Family<FaultLabels, Counter>,
    pub db_replica_fallbacks: Counter,
    pub signins: Family<ResultLabels, Counter>,
    pub sessions_active: Gauge,
    pub webhook_outbox_depth: Gauge,
    pub webhook_deliveries: Family<ResultLabels, Counter>,
    pub webhook_delivery_duration: Histogram,
    pub webhook_endpoints_disabled: Gauge,
    pub mail_queue_depth: Gauge,
    pub mail_sends: Family<ResultLabels, Counter>,
    pub process_rss: Gauge,
    pub process_open_fds: Gauge,
    pub process_start_time: Gauge,
    pub sse_clients: Gauge,
    pub sse_dropped: Counter,
}

impl Metrics {
    fn new() -> Metrics {
        let mut r = Registry::with_prefix("gatehouse");
        let m = Metrics {
            registry: Registry::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            db_pool_connections: Family::default(),
            db_pool_in_use: Family::default(),
            db_pool_max: Family::default(),
            db_pool_wait: Family::new_with_constructor(latency_histogram),
            db_pool_timeouts: Family::default(),
            db_errors: Family::default(),
            db_replica_fallbacks: Counter::default(),
            signins: Family::default(),
            sessions_active: Gauge::default(),
            webhook_outbox_depth: Gauge::default(),
            webhook_deliveries: Family::default(),
            webhook_delivery_duration: latency_histogram(),
            webhook_endpoints_disabled: Gauge::default(),
            mail_queue_depth: Gauge::default(),
            mail_sends: Family::default(),
            process_rss: Gauge::default(),
            process_open_fds: Gauge::default(),
            process_start_time: Gauge::default(),
            sse_clients: Gauge::default(),
            sse_dropped: Counter::default(),
        };
        r.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status class",
            m.http_requests.clone(),
        );
        r.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request, by method and route template",
            Unit::Seconds,
            m.http_duration.clone(),
        );
        r.register(
            "db_pool_connections",
            "Database connections open in the pool",
            m.db_pool_connections.clone(),
        );
        r.register(
            "db_pool_connections_in_use",
            "Database connections checked out of the pool",
            m.db_pool_in_use.clone(),
        );
        r.register(
            "db_pool_max_connections",
            "Largest number of connections the pool may open",
            m.db_pool_max.clone(),
        );
        r.register_with_unit(
            "db_pool_wait",
            "Time spent waiting for a pooled database connection",
            Unit::Seconds,
            m.db_pool_wait.clone(),
        );
        r.register(
            "db_pool_timeouts",
            "Waits for a pooled connection that timed out",
            m.db_pool_timeouts.clone(),
        );
        r.register(
            "db_query_errors",
            "Database work that failed, by fault (disk_full, read_only, busy, connection_lost, unavailable, other)",
            m.db_errors.clone(),
        );
        r.register(
            "db_replica_fallbacks",
            "Reads meant for the read replica that the primary served because the replica was unavailable",
            m.db_replica_fallbacks.clone(),
        );
        r.register(
            "signins",
            "Password sign-in attempts, by result (succeeded, failed, throttled)",
            m.signins.clone(),
        );
        r.register(
            "sessions_active",
            "Signed-in sessions neither idle nor past their lifetime",
            m.sessions_active.clone(),
        );
        r.register(
            "webhook_outbox_depth",
            "Webhook events waiting for delivery",
            m.webhook_outbox_depth.clone(),
        );
        r.register(
            "webhook_deliveries",
            "Webhook delivery attempts, by result (success, http_error, transport_error)",
            m.webhook_deliveries.clone(),
        );
        r.register_with_unit(
            "webhook_delivery_duration",
            "Time a webhook delivery attempt took",
            Unit::Seconds,
            m.webhook_delivery_duration.clone(),
        );
        r.register(
            "webhook_endpoints_disabled",
            "Webhook endpoints currently disabled",
            m.webhook_endpoints_disabled.clone(),
        );
        r.register(
            "mail_queue_depth",
            "Emails waiting to be sent",
            m.mail_queue_depth.clone(),
        );
        r.register(
            "mail_sends",
            "Email send attempts, by result (sent, failed)",
            m.mail_sends.clone(),
        );
        r.register(
            "build",
            "Build information",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        r.register_with_unit(
            "process_resident_memory",
            "Resident memory of the process",
            Unit::Bytes,
            m.process_rss.clone(),
        );
        r.register(
            "process_open_fds",
            "Open file descriptors of the process",
            m.process_open_fds.clone(),
        );
        r.register_with_unit(
            "process_start_time",
            "Start time of the process since the Unix epoch",
            Unit::Seconds,
            m.process_start_time.clone(),
        );
        r.register(
            "sse_clients",
            "Open live-update streams (/events) on this instance",
            m.sse_clients.clone(),
        );
        r.register(
            "sse_dropped",
            "Live-update streams ended because the client fell behind its buffer",
            m.sse_dropped.clone(),
        );
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        m.process_start_time.set(started.as_secs() as i64);
        Metrics { registry: r, ..m }
    }

    /// The registry in the Prometheus text format (version 0.0.4), process gauges refreshed.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        self.read_process();
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Resident memory and open descriptors, read from `/proc/self` (Linux; left at zero
    /// where it does not exist).
    fn read_process(&self) {
        if let Ok(status) = std::fs::read_to_string("/proc/self/status")
            && let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        {
            self.process_rss.set(kb * 1024);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.process_open_fds.set(fds.count() as i64);
        }
    }

    /// A pool's state at scrape time.
    pub fn set_pool(&self, pool: &'static str, open: u32, idle: u32, max: u32) {
        let l = PoolLabels { pool };
        self.db_pool_connections.get_or_create(&l).set(open.into());
        self.db_pool_in_use
            .get_or_create(&l)
            .set(open.saturating_sub(idle).into());
        self.db_pool_max.get_or_create(&l).set(max.into());
    }

    pub fn pool_checkout(&self, pool: &'static str, waited: Duration) {
        self.db_pool_wait
            .get_or_create(&PoolLabels { pool })
            .observe(waited.as_secs_f64());
    }

    pub fn replica_fallback(&self) {
        self.db_replica_fallbacks.inc();
    }

    pub fn pool_timeout(&self, pool: &'static str) {
        self.db_pool_timeouts
            .get_or_create(&PoolLabels { pool })
            .inc();
    }

    pub fn db_error(&self, fault: &'static str) {
        self.db_errors.get_or_create(&FaultLabels { fault }).inc();
    }

    /// `result`: succeeded, failed or throttled.
    pub fn signin(&self, result: &'static str) {
        self.signins.get_or_create(&ResultLabels { result }).inc();
    }

    /// One webhook attempt: `status` the receiver's HTTP status, `None` when none came.
    pub fn webhook_attempt(&self, status: Option<i32>, took: Duration) {
        let result = match status {
            Some(s) if (200..300).contains(&s) => "success",
            Some(_) => "http_error",
            None => "transport_error",
        };
        self.webhook_deliveries
            .get_or_create(&ResultLabels { result })
            .inc();
        self.webhook_delivery_duration.observe(took.as_secs_f64());
    }

    pub fn mail_attempt(&self, sent: bool) {
        let result = if sent { "sent" } else { "failed" };
        self.mail_sends
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    fn observe_http(&self, method: &str, route: Option<String>, status: u16, took: Duration) {
        let route = route.unwrap_or_else(|| UNMATCHED.to_string());
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_string(),
                route: route.clone(),
                status,
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                method: method.to_string(),
                route,
            })
            .observe(took.as_secs_f64());
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics (one per process, as Prometheus scrapes a process).
pub fn global() -> &'static Metrics {
    &METRICS
}

/// Marks the application of the dedicated metrics listener (`--metrics-listen`): there,
/// and only there, `/metrics` is served when a dedicated listener is configured.
#[derive(Debug, Clone, Copy)]
pub struct DedicatedListener;

/// Count every request by the route template that matched it (actix's `match_pattern`,
/// never the raw path) and time it.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    // Only the standard methods name a series: an invented one must not add series.
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
        _ => "OTHER",
    }
    .to_string();
    let result = next.call(req).await;
    let took = started.elapsed();
    match &result {
        Ok(res) => global().observe_http(
            &method,
            res.request().match_pattern(),
            res.status().as_u16(),
            took,
        ),
        Err(e) => global().observe_http(
            &method,
            None,
            e.as_response_error().status_code().as_u16(),
            took,
        ),
    }
    result
}
