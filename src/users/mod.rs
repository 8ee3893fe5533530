//! The users slice: administrators manage operators and custom roles (their storage and
//! the permission rules live in the identity core).

pub mod attributes;
mod form;
pub mod roles;
mod rule_form;
pub mod rules;
mod rules_store;
pub mod routes;
mod store;
mod views;
