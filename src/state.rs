//! `AppState`: what every handler and worker reaches through `web::Data<AppState>` — the
//! database, the configuration and the keys derived from the secret. Caches are not here:
//! each belongs to the module that fills it and is registered as its own `web::Data`.

use std::sync::Arc;

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
}

/// Shared data registered on the application, for extractors and middleware that only hold
/// the request.
pub fn app_data<T: 'static>(req: &HttpRequest) -> Result<web::Data<T>, AppError> {
    req.app_data::<web::Data<T>>()
        .cloned()
        .ok_or_else(|| AppError::internal("application data missing"))
}
