//! The home page every operator lands on after signing in.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::web::AppState;
use crate::web::page::{self, Layout, Page};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index));
}

#[derive(Template)]
#[template(path = "dashboard/index.html")]
struct HomePage {
    layout: Layout,
    user: CurrentUser,
    backend: &'static str,
}

async fn index(
    user: CurrentUser,
    Page(layout): Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    page::ok(&HomePage {
        layout,
        user,
        backend: state.db.backend().name(),
    })
}
