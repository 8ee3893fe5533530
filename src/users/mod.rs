//! The users slice: administrators manage operators and custom roles (their storage and
//! the permission rules live in the identity core).

pub mod attributes;
mod form;
pub mod roles;
pub mod routes;
mod rule_form;
pub mod rules;
mod rules_store;
mod store;
mod views;
