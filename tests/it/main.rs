//! The integration tests, as one binary: each area is a module, so the crate is linked once
//! rather than once per area. `common` is the harness (the real application on a random
//! port over a fresh database, and a client that posts forms as a browser does); the
//! `both_backends!` macro it exports runs a test body on SQLite and on Postgres.

#[macro_use]
mod common;

mod api;
mod architecture;
mod backup;
mod browser;
mod cli;
mod console;
mod console_more;
mod dashboard;
mod data;
mod deep_pages;
mod deploy;
mod email;
mod faults;
mod fleet;
mod foundation;
mod history;
mod history_via;
mod import;
mod import_browser;
mod import_more;
mod live;
mod looks;
mod messages;
mod metrics;
mod outage;
mod passkeys;
mod prepared_reads;
mod proxies;
mod replica;
mod row_rules;
mod row_rules_live;
mod row_rules_ui;
mod schema;
mod schema_fleet;
mod schema_rebuild;
mod schemathesis;
mod session_store;
mod shutdown;
mod slow_clients;
mod sso;
mod sso_admin;
mod sso_gaps;
mod transfer;
mod two_factor;
mod units;
mod users;
mod values;
mod views;
mod views_nav;
mod webhooks;
mod writers;
mod zones;
mod zones_days;
