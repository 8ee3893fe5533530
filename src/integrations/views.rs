//! Templates of the integrations pages: webhooks and one endpoint, API tokens, email.

use askama::Template;
use chrono::NaiveDateTime;

use crate::events::outbox::Endpoint;
use crate::identity::api_tokens::ApiToken;
use crate::integrations::store::mail::{Mail, SmtpSettings};
use crate::integrations::store::{Delivery, OutboxRow};
use crate::web::page::Layout;

#[derive(Template)]
#[template(path = "integrations/webhooks.html")]
pub struct WebhooksPage {
    pub layout: Layout,
    pub endpoints: Vec<Endpoint>,
    pub tables: Vec<String>,
    pub roles: Vec<String>,
    pub error: Option<String>,
    pub url: String,
    pub description: String,
}

#[derive(Template)]
#[template(path = "integrations/webhook.html")]
pub struct EndpointPage {
    pub layout: Layout,
    pub endpoint: Endpoint,
    pub events: Vec<(OutboxRow, Vec<Delivery>)>,
    /// The secret, when just made, rotated or revealed.
    pub secret: Option<String>,
}

#[derive(Template)]
#[template(path = "integrations/tokens.html")]
pub struct TokensPage {
    pub layout: Layout,
    pub tokens: Vec<ApiToken>,
    pub roles: Vec<String>,
    /// The value of the token just created, shown once.
    pub created: Option<String>,
    pub error: Option<String>,
    pub now: NaiveDateTime,
}

#[derive(Template)]
#[template(path = "integrations/email.html")]
pub struct EmailPage {
    pub layout: Layout,
    pub settings: SmtpSettings,
    pub has_password: bool,
    pub recent: Vec<Mail>,
    pub error: Option<String>,
}
