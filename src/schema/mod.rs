//! The schema builder slice: `/data/new-table` and `/data/{table}/schema`, for
//! administrators and roles with the "change schema" right. Every change is previewed as
//! its exact SQL with what it affects, confirmed, run in one transaction with its audit
//! entry, and the catalog is read again at once. The DDL itself is `engine::ddl`.

pub mod form;
pub mod routes;
pub mod store;
pub mod views;
