//! The data engine every data-facing slice stands on (the data pages, the API, and later
//! import, the schema builder and the SQL console): values read from rows of unknown shape,
//! row keys in URLs, the list query language, the SQL builder, the row store and the
//! translation of database refusals into messages.

pub mod aggregate;
pub mod csvio;
pub mod ddl;
pub mod errors;
pub mod keys;
pub mod notices;
pub mod prepared;
pub mod query;
pub mod rule_preview;
pub mod rules;
pub mod saved;
pub mod sql;
pub mod store;
pub mod timestamp;
pub mod value;
pub mod zoned;
