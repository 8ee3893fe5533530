//! The users slice: administrators manage operators and custom roles (their storage and
//! the permission rules live in the identity core).

mod form;
pub mod roles;
pub mod routes;
mod store;
mod views;
