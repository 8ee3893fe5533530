//! The integrations slice: the webhook, API-token and email pages, and the workers that
//! deliver webhook events (signed per Standard Webhooks) and queued mail.

pub mod email;
pub mod mailer;
pub mod signing;
pub mod store;
pub mod tokens;
mod views;
pub mod webhooks;
pub mod worker;

use actix_web::HttpResponse;

use crate::identity::Admin;

/// `/integrations` has no page of its own: it opens the first one, webhooks.
pub async fn index(_admin: Admin) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", "/integrations/webhooks"))
        .finish()
}
