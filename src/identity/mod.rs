//! Who is asking and what they may do: server-side sessions (on actix-session), passwords, API-token lookup,
//! sign-in throttling, the `CurrentUser` / `Access` / `Admin` extractors with the role's
//! rights, and the storage of operators, roles, password resets and TOTP secrets. Every
//! slice stands on it; it names no slice.

pub mod api_tokens;
pub mod lockout;
pub mod memo;
pub mod passkeys;
pub mod password;
pub mod permissions;
pub mod roles;
pub mod row_rules;
pub mod session;
pub mod session_store;
pub mod sessions;
pub mod settings;
pub mod throttle;
pub mod token_me;
pub mod totp;
pub mod users;

pub use permissions::{Access, Action, Admin};
pub use session::{CurrentUser, MaybeUser};

use crate::audit::Actor;

/// An API caller is a `CurrentUser` whose id is `token:<id>` and whose name is the token's.
impl From<&CurrentUser> for Actor {
    fn from(user: &CurrentUser) -> Actor {
        let via = if user.id.starts_with("token:") {
            format!("api:{}", user.display_name)
        } else {
            "ui".to_string()
        };
        Actor {
            user_id: Some(user.id.clone()),
            email: user.email.clone(),
            via,
        }
    }
}

impl From<&users::User> for Actor {
    fn from(user: &users::User) -> Actor {
        Actor {
            user_id: Some(user.id.clone()),
            email: user.email.clone(),
            via: "ui".to_string(),
        }
    }
}
