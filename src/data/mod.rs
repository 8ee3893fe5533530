//! The data slice: browse, search, filter and edit every table of the database, whose
//! shape Gatehouse learns at run time from the catalog.

pub mod bulk;
pub mod catalog;
mod checks;
pub mod demo;
pub mod errors;
pub mod export;
pub mod form;
mod introspect;
pub mod keys;
pub mod query;
pub mod routes;
pub mod sql;
pub mod store;
pub mod value;
pub mod views;

pub use routes::configure;
