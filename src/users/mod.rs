//! Operators: the accounts that sign in to Gatehouse.

pub mod store;
