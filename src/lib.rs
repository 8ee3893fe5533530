//! Gatehouse: an admin dashboard over an SQLite or Postgres database, in one binary.
//! This crate builds the application; `main.rs` only parses the command line, and the
//! tests start exactly what production starts through `start`.

// Entry points: the route table and the command line.
pub mod cli;
pub mod routes;

// The core: names no slice.
pub mod audit;
pub mod catalog;
pub mod config;
pub mod db;
pub mod engine;
pub mod error;
pub mod events;
pub mod identity;
pub mod metrics;
pub mod state;
pub mod web;

// The slices: each imports the core, never another slice.
pub mod api;
pub mod auditlog;
pub mod console;
pub mod dashboard;
pub mod data;
pub mod integrations;
pub mod ops;
pub mod schema;
pub mod signin;
pub mod users;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::middleware::{Compress, Condition, from_fn};
use actix_web::{App, HttpServer, web as aw};

use crate::catalog::CatalogCache;
use crate::config::Config;
use crate::db::Db;
use crate::db::secrets::Keys;
use crate::error::AppError;
use crate::state::AppState;

/// Migrate, open the pool and derive the keys: everything the server needs before it listens.
pub fn prepare(config: Config) -> Result<AppState, String> {
    let applied = db::migrate::run(&config.database)?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    let mut db = Db::open(&config.database, config.pool_size, config.sqlite_max_pages)?;
    if let Some(replica) = &config.read_database {
        db = db.with_replica(replica, config.pool_size)?;
        tracing::info!(replica = %replica.masked(), "lists, counts and exports read the replica");
    }
    let keys = Keys::derive(config.secret_key.bytes());
    Ok(AppState {
        db,
        config: Arc::new(config),
        keys: Arc::new(keys),
        lifecycle: Arc::default(),
    })
}

/// The caches, one per module that fills it, each shared by every worker as `web::Data`.
#[derive(Clone)]
pub struct Caches {
    pub catalog: aw::Data<CatalogCache>,
    pub sessions: aw::Data<identity::session::SessionCache>,
    pub rights: aw::Data<identity::permissions::RightsCache>,
    pub tokens: aw::Data<identity::api_tokens::TokenCache>,
    pub counts: aw::Data<engine::store::CountCache>,
    pub aggregates: aw::Data<engine::aggregate::AggregateCache>,
    pub api_limits: aw::Data<api::auth::RateLimiter>,
    pub views: aw::Data<engine::saved::ViewDirectory>,
    /// Tells the other instances on the same database what to forget (`db::notify`).
    pub notifier: Arc<db::notify::Notifier>,
    /// The open live-update streams (`/events`) and the recent change notices.
    pub live: aw::Data<events::live::Hub>,
}

impl Caches {
    fn load(state: &AppState) -> Result<Caches, String> {
        let mut conn = state.db.conn().map_err(|e| e.to_string())?;
        let catalog = CatalogCache::load(&mut conn)
            .map_err(|e| format!("cannot read the database schema: {e}"))?;
        let caches = Caches {
            catalog: aw::Data::new(catalog),
            sessions: aw::Data::default(),
            rights: aw::Data::default(),
            tokens: aw::Data::default(),
            counts: aw::Data::default(),
            aggregates: aw::Data::default(),
            api_limits: aw::Data::default(),
            views: aw::Data::default(),
            notifier: db::notify::Notifier::new(),
            live: aw::Data::new(events::live::Hub::new(
                state.config.sse_max_clients,
                state.config.sse_client_buffer,
            )),
        };
        caches.connect_peers();
        caches.live.clone().into_inner().listen(&caches.notifier);
        db::changes::attach(&state.config.database, &caches.notifier);
        caches.notifier.listen(&state.config.database);
        Ok(caches)
    }

    /// Subscribe each cache to its channel (holding it weakly: the notifier outlives no
    /// cache) and let it tell the other instances what it forgets.
    fn connect_peers(&self) {
        use identity::{api_tokens, permissions, session};
        let n = &self.notifier;
        let sessions = Arc::downgrade(&*self.sessions);
        n.subscribe(session::SESSIONS_CHANNEL, move |p| {
            sessions.upgrade().inspect(|c| c.receive(p));
        });
        self.sessions.peers.join(n, session::SESSIONS_CHANNEL);
        let rights = Arc::downgrade(&*self.rights);
        n.subscribe(permissions::RIGHTS_CHANNEL, move |_| {
            rights.upgrade().inspect(|c| c.forget_here());
        });
        self.rights.peers.join(n, permissions::RIGHTS_CHANNEL);
        let tokens = Arc::downgrade(&*self.tokens);
        n.subscribe(api_tokens::TOKENS_CHANNEL, move |_| {
            tokens.upgrade().inspect(|c| c.forget_here());
        });
        self.tokens.peers.join(n, api_tokens::TOKENS_CHANNEL);
        let catalog = Arc::downgrade(&*self.catalog);
        n.subscribe(catalog::CATALOG_CHANNEL, move |_| {
            catalog.upgrade().inspect(|c| c.expire_here());
        });
        self.catalog.peers.join(n, catalog::CATALOG_CHANNEL);
        let views = Arc::downgrade(&*self.views);
        n.subscribe(engine::saved::VIEWS_CHANNEL, move |_| {
            views.upgrade().inspect(|d| d.forget_here());
        });
        self.views.peers.join(n, engine::saved::VIEWS_CHANNEL);
    }
}

/// A started server: await `server` to run it until shutdown.
pub struct Running {
    pub server: actix_web::dev::Server,
    pub addr: SocketAddr,
    /// The one-time setup token, when no operator exists yet.
    pub setup_token: Option<String>,
    pub state: AppState,
    pub caches: Caches,
    /// The dedicated metrics listener's address, when `--metrics-listen` is set (its
    /// server runs on the same runtime and stops with the process's signals).
    pub metrics_addr: Option<SocketAddr>,
}

fn form_error(err: actix_web::error::UrlencodedError) -> actix_web::Error {
    match err {
        actix_web::error::UrlencodedError::Overflow { .. } => AppError::PayloadTooLarge.into(),
        other => AppError::Invalid(format!("The form could not be read: {other}.")).into(),
    }
}

/// Bind and start the HTTP server (on `listener` if given, else on the configured address).
pub fn start(state: AppState, listener: Option<TcpListener>) -> Result<Running, String> {
    let caches = Caches::load(&state)?;
    let setup_token = signin::routes::announce_setup(&state).map_err(|e| e.to_string())?;
    let listener = match listener {
        Some(l) => l,
        None => TcpListener::bind(state.config.listen)
            .map_err(|e| format!("cannot listen on {}: {e}", state.config.listen))?,
    };
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app_state = state.clone();
    let app_caches = caches.clone();
    let limit = state.config.max_body_bytes;
    let count_requests = state.config.metrics.is_some();
    let replica = state.db.has_replica();
    let sql_console = aw::Data::new(console::Console::new(
        state.config.database.clone(),
        state.config.read_database.clone(),
        state.config.sql_timeout,
    ));
    let sso_discovery = aw::Data::new(signin::sso::discovery::Discovery::new(
        state.config.sso_metadata_max_age,
    ));
    let server = HttpServer::new(move || {
        let session_failure = identity::session_store::Failure::default();
        App::new()
            .app_data(aw::Data::new(app_state.clone()))
            .app_data(session_failure.clone())
            .app_data(app_caches.catalog.clone())
            .app_data(app_caches.sessions.clone())
            .app_data(app_caches.rights.clone())
            .app_data(app_caches.tokens.clone())
            .app_data(app_caches.counts.clone())
            .app_data(app_caches.aggregates.clone())
            .app_data(app_caches.api_limits.clone())
            .app_data(app_caches.views.clone())
            .app_data(app_caches.live.clone())
            .app_data(sql_console.clone())
            .app_data(sso_discovery.clone())
            .app_data(
                aw::FormConfig::default()
                    .limit(limit)
                    .error_handler(|e, _| form_error(e)),
            )
            .app_data(aw::PayloadConfig::new(limit))
            .app_data(
                aw::JsonConfig::default()
                    .limit(limit)
                    .error_handler(|e, _| match e {
                        actix_web::error::JsonPayloadError::Overflow { .. }
                        | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
                            AppError::PayloadTooLarge.into()
                        }
                        other => AppError::Invalid(format!(
                            "The body is not the JSON expected: {other}."
                        ))
                        .into(),
                    }),
            )
            .app_data(aw::QueryConfig::default().error_handler(|e, _| {
                AppError::Invalid(format!("The address has a malformed query: {e}.")).into()
            }))
            .configure(routes::configure)
            .default_service(aw::to(web::errors::not_found))
            .wrap(from_fn(web::csrf::middleware))
            .wrap(from_fn(web::nul::middleware))
            .wrap(identity::session_store::middleware(
                &app_state,
                app_caches.sessions.clone(),
                session_failure.clone(),
            ))
            .wrap(from_fn(identity::session_store::surface_failures))
            .wrap(Condition::new(replica, from_fn(web::recent::middleware)))
            .wrap(from_fn(web::errors::middleware))
            .wrap(Compress::default())
            .wrap(web::headers::security_headers())
            .wrap(Condition::new(count_requests, from_fn(metrics::middleware)))
            .wrap(from_fn(web::request_id::middleware))
    })
    .workers(state.config.workers)
    // Each worker has its own blocking pool; together they hold about as many threads as
    // the database pool has connections. A request waiting for a connection then waits in
    // the blocking pool's first-come queue (fair) rather than on a parked thread in r2d2's
    // (which wakes any waiter), and idle threads don't each keep a stack and a C heap.
    .worker_max_blocking_threads(
        (state.config.pool_size as usize)
            .div_ceil(state.config.workers)
            .max(1),
    )
    .shutdown_timeout(10)
    // Slow and idle clients (README, "When things go wrong"): the whole request head within
    // this long of connecting, else 408 and close; an idle keep-alive connection closed
    // after its timeout (zero: keep-alive off); a closing connection dropped after the
    // disconnect timeout. Bodies are bounded in size (max_body_bytes), not in time: actix
    // has no body read timeout.
    .client_request_timeout(state.config.request_header_timeout)
    .keep_alive(state.config.keep_alive_timeout)
    .client_disconnect_timeout(state.config.disconnect_timeout)
    .listen(listener)
    .map_err(|e| format!("cannot listen on {addr}: {e}"))?
    .run();
    let metrics_addr = start_metrics_listener(&state)?;
    let (check_state, catalogs) = (state.clone(), caches.catalog.clone());
    caches
        .live
        .clone()
        .into_inner()
        .spawn(Arc::new(move |plan| {
            let (state, catalogs) = (check_state.clone(), catalogs.clone());
            Box::pin(engine::notices::check(state, catalogs, plan))
        }));
    integrations::worker::spawn(state.clone());
    integrations::email::spawn(state.clone());
    ops::backup::spawn_schedule(state.clone());
    spawn_audit_pruning(state.clone());
    Ok(Running {
        server,
        addr,
        setup_token,
        state,
        caches,
        metrics_addr,
    })
}

/// With `--metrics-listen`, a second small server that answers `/metrics` only.
fn start_metrics_listener(state: &AppState) -> Result<Option<SocketAddr>, String> {
    let Some(addr) = state.config.metrics.as_ref().and_then(|m| m.listen) else {
        return Ok(None);
    };
    let listener =
        TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr} for metrics: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(aw::Data::new(app_state.clone()))
            .app_data(aw::Data::new(metrics::DedicatedListener))
            .configure(routes::configure_metrics_listener)
            .default_service(aw::to(|| async {
                actix_web::HttpResponse::NotFound().finish()
            }))
            .wrap(from_fn(web::request_id::middleware))
    })
    .workers(1)
    .shutdown_timeout(2)
    .listen(listener)
    .map_err(|e| format!("cannot listen on {bound} for metrics: {e}"))?
    .run();
    actix_web::rt::spawn(server);
    tracing::info!(addr = %bound, "metrics are served on their own listener");
    Ok(Some(bound))
}

/// With `--audit-retention`, delete older audit entries now and every hour after, 1,000
/// rows per statement.
fn spawn_audit_pruning(state: AppState) {
    let Some(keep) = state.config.audit_retention else {
        return;
    };
    actix_web::rt::spawn(async move {
        loop {
            let cutoff = chrono::Duration::from_std(keep)
                .ok()
                .and_then(|k| db::now().checked_sub_signed(k));
            if let Some(before) = cutoff {
                let pruned = state
                    .db
                    .run(move |conn| Ok(audit::prune(conn, before, 1_000)?))
                    .await;
                match pruned {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(entries = n, "audit entries past retention deleted"),
                    Err(e) => tracing::warn!(error = %e, "audit pruning"),
                }
            }
            actix_web::rt::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
    });
}
