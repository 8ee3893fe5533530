//! Integrations: outbound webhooks (outbox, worker, signing), API tokens, secrets at rest.

pub mod email;
pub mod outbox;
pub mod secrets;
pub mod signing;
pub mod tokens;
pub mod webhooks;
pub mod worker;
