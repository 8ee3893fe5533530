//! Operators: the accounts that sign in to Gatehouse.

pub mod permissions;
pub mod roles;
pub mod routes;
pub mod store;
