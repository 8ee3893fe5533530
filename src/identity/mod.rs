//! Who is asking and what they may do: server-side sessions, passwords, API-token lookup,
//! sign-in throttling, the `CurrentUser` / `Access` / `Admin` extractors with the role's
//! rights, and the storage of operators, roles, password resets and TOTP secrets. Every
//! slice stands on it; it names no slice.

pub mod api_tokens;
pub mod password;
pub mod permissions;
pub mod roles;
pub mod session;
pub mod sessions;
pub mod throttle;
pub mod totp;
pub mod users;

pub use permissions::{Access, Action, Admin};
pub use session::{CurrentUser, MaybeUser};

use crate::audit::Actor;

impl From<&CurrentUser> for Actor {
    fn from(user: &CurrentUser) -> Actor {
        Actor {
            user_id: Some(user.id.clone()),
            email: user.email.clone(),
        }
    }
}

impl From<&users::User> for Actor {
    fn from(user: &users::User) -> Actor {
        Actor {
            user_id: Some(user.id.clone()),
            email: user.email.clone(),
        }
    }
}
