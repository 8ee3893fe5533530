//! `AppState`: what every handler and worker reaches through `web::Data<AppState>` — the
//! database, the configuration and the keys derived from the secret. Caches are not here:
//! each belongs to the module that fills it and is registered as its own `web::Data`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, web};

use crate::config::Config;
use crate::db::Db;
use crate::db::secrets::Keys;
use crate::error::AppError;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub keys: Arc<Keys>,
    pub lifecycle: Arc<Lifecycle>,
}

/// A graceful stop: when the HTTP server has stopped (SIGTERM), background workers take no
/// new work, finish what they hold (a webhook delivery, a mail) and check out; the process
/// waits for them, bounded, before it exits.
#[derive(Debug, Default)]
pub struct Lifecycle {
    stopping: AtomicBool,
    running: AtomicUsize,
}

/// A worker that has not checked out yet; dropping it checks out (also on a panic).
#[derive(Debug)]
pub struct Running(Arc<Lifecycle>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Lifecycle {
    /// A worker starts: it keeps the process from exiting until it checks out.
    pub fn enter(self: &Arc<Self>) -> Running {
        self.running.fetch_add(1, Ordering::SeqCst);
        Running(self.clone())
    }

    /// Whether workers should stop taking new work.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Stop, and wait up to `within` for every worker to check out; false if some did not.
    pub async fn stop(&self, within: Duration) -> bool {
        self.stopping.store(true, Ordering::SeqCst);
        let started = Instant::now();
        while self.running.load(Ordering::SeqCst) > 0 {
            if started.elapsed() >= within {
                return false;
            }
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

/// Shared data registered on the application, for extractors and middleware that only hold
/// the request.
pub fn app_data<T: 'static>(req: &HttpRequest) -> Result<web::Data<T>, AppError> {
    req.app_data::<web::Data<T>>()
        .cloned()
        .ok_or_else(|| AppError::internal("application data missing"))
}
