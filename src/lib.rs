//! Gatehouse: an admin dashboard over an SQLite or Postgres database, in one binary.
//! This crate builds the application; `main.rs` only parses the command line, and the
//! tests start exactly what production starts through `start`.

pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod data;
pub mod db;
pub mod error;
pub mod integrations;
pub mod ops;
pub mod users;
pub mod web;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web as aw};

use crate::auth::tokens::Keys;
use crate::config::Config;
use crate::db::Db;
use crate::error::AppError;
use crate::web::AppState;

/// Every URL of the application, slice by slice.
pub fn routes(cfg: &mut aw::ServiceConfig) {
    cfg.route("/static/{path:.*}", aw::get().to(web::assets::serve));
    ops::configure(cfg);
    auth::configure(cfg);
    auth::account::configure(cfg);
    auth::two_factor::configure(cfg);
    dashboard::configure(cfg);
    data::configure(cfg);
    audit::configure(cfg);
    users::routes::configure(cfg);
    users::roles::configure(cfg);
    integrations::tokens::configure(cfg);
    integrations::webhooks::configure(cfg);
    integrations::email::configure(cfg);
    api::configure(cfg);
}

/// Migrate, open the pool and derive the keys: everything the server needs before it listens.
pub fn prepare(config: Config) -> Result<AppState, String> {
    let applied = db::migrate::run(&config.database)?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    let db = Db::open(&config.database, config.pool_size)?;
    let keys = Keys::derive(config.secret_key.bytes());
    let catalog = {
        let mut conn = db.conn().map_err(|e| e.to_string())?;
        data::catalog::CatalogCache::load(&mut conn)
            .map_err(|e| format!("cannot read the database schema: {e}"))?
    };
    Ok(AppState {
        db,
        config: Arc::new(config),
        keys: Arc::new(keys),
        catalog: Arc::new(catalog),
        sessions: Arc::default(),
        counts: Arc::default(),
        rights: Arc::default(),
        api_limits: Arc::default(),
        api_tokens: Arc::default(),
    })
}

/// A started server: await `server` to run it until shutdown.
pub struct Running {
    pub server: actix_web::dev::Server,
    pub addr: SocketAddr,
    /// The one-time setup token, when no operator exists yet.
    pub setup_token: Option<String>,
    pub state: AppState,
}

fn form_error(err: actix_web::error::UrlencodedError) -> actix_web::Error {
    match err {
        actix_web::error::UrlencodedError::Overflow { .. } => AppError::PayloadTooLarge.into(),
        other => AppError::Invalid(format!("The form could not be read: {other}.")).into(),
    }
}

/// Bind and start the HTTP server (on `listener` if given, else on the configured address).
pub fn start(state: AppState, listener: Option<TcpListener>) -> Result<Running, String> {
    let setup_token = auth::routes::announce_setup(&state).map_err(|e| e.to_string())?;
    let listener = match listener {
        Some(l) => l,
        None => TcpListener::bind(state.config.listen)
            .map_err(|e| format!("cannot listen on {}: {e}", state.config.listen))?,
    };
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app_state = state.clone();
    let limit = state.config.max_body_bytes;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(aw::Data::new(app_state.clone()))
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
            .configure(routes)
            .default_service(aw::to(web::errors::not_found))
            .wrap(from_fn(web::csrf::middleware))
            .wrap(from_fn(web::flash::middleware))
            .wrap(from_fn(web::errors::middleware))
            .wrap(Compress::default())
            .wrap(web::headers::security_headers())
            .wrap(from_fn(web::request_id::middleware))
    })
    .workers(state.config.workers)
    .worker_max_blocking_threads(state.config.pool_size as usize + 8)
    .shutdown_timeout(10)
    .client_request_timeout(Duration::from_secs(10))
    .listen(listener)
    .map_err(|e| format!("cannot listen on {addr}: {e}"))?
    .run();
    integrations::worker::spawn(state.clone());
    integrations::email::spawn(state.clone());
    Ok(Running {
        server,
        addr,
        setup_token,
        state,
    })
}
