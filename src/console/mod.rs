//! `/sql`, the SQL console: statements typed by operators holding the "run SQL" right, run
//! read-only by default on connections of their own, bounded in time and rows and
//! cancellable; a write mode for the "write SQL" right, audited; each operator's history and
//! saved queries. The right to run SQL is the right to read the whole database: hidden
//! columns and unreadable tables cannot be enforced inside arbitrary SQL.

pub mod export;
mod postgres;
pub mod routes;
pub mod runner;
mod sqlite;
pub mod store;
mod views;

pub use runner::Console;
