//! The home page every operator lands on after signing in.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::error::AppError;
use crate::identity::CurrentUser;
use crate::state::AppState;
use crate::web::page::{self, Layout, Page};

#[derive(Template)]
#[template(path = "dashboard/index.html")]
struct HomePage {
    layout: Layout,
    user: CurrentUser,
    backend: &'static str,
}

pub async fn index(
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
