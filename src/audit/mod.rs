//! The audit log: who changed what, when, with the values before and after.

pub mod routes;
pub mod store;

pub use routes::configure;
