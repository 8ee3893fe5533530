//! The sign-in slice: sign-in and sign-out, first-run setup, the second-factor steps and the
//! operator's own account page (password, sessions, two-factor, forgotten passwords).

pub mod account;
pub mod display;
pub mod passkey_login;
mod passkey_store;
pub mod passkeys;
pub mod routes;
pub mod sso;
pub mod step;
mod store;
mod totp;
pub mod two_factor;
mod views;
