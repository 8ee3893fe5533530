//! Integrations: API tokens (webhooks and email are still to come).

pub mod tokens;
