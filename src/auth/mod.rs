//! Sign-in, sign-out and first-run setup; server-side sessions; passwords; throttling;
//! the `CurrentUser` extractor every protected handler takes.

pub mod account;
pub mod password;
pub mod routes;
pub mod session;
pub mod store;
pub mod throttle;
pub mod tokens;
pub mod two_factor;
mod views;

pub use routes::configure;
pub use session::{CurrentUser, MaybeUser};
