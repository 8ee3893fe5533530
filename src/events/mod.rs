//! What a change leaves behind for others, written in the change's own transaction: webhook
//! events in the outbox and mails in the queue. It takes only core types (a table name, a
//! key, before/after JSON, an actor); the delivery workers live in the integrations slice.
//! And the live-update hub that fans change notices out to the open `/events` streams.

pub mod live;
pub mod mail;
pub mod outbox;
pub mod sight;
