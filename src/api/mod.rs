//! The JSON REST API over the same tables and permissions as the UI, authenticated by
//! `Authorization: Bearer <token>`, with an OpenAPI 3.1 document generated from the catalog.

pub mod auth;
pub mod import;
pub mod json;
pub mod openapi;
pub mod params;
pub mod rate;
pub mod routes;
