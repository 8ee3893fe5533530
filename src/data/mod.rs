//! The data slice: the pages that browse, search, filter and edit every table of the
//! database (lists, record forms, bulk actions, exports, CSV import) over the data engine, and the
//! sample shop the `demo` command loads.

pub mod bulk;
pub mod demo;
pub mod export;
pub mod form;
pub mod import;
pub mod import_files;
pub mod import_views;
pub mod live;
pub mod restore;
pub mod routes;
pub mod saved;
pub mod target;
pub mod views;
