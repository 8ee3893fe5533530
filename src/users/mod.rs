//! Operators: the accounts that sign in to Gatehouse.

pub mod permissions;
pub mod store;
