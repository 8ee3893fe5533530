//! The operator form as submitted, and its checks.

use serde::Deserialize;

use crate::identity::{password, users};
use crate::users::store::Profile;
use crate::users::views::{FormPage, UserErrors};

#[derive(Deserialize, Default)]
pub struct UserForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub password: String,
    /// Send an invitation by email instead of setting a temporary password.
    pub invite: Option<String>,
}

impl UserForm {
    /// The form page again with what was typed, and why it was not saved.
    pub fn again(self, page: FormPage, errors: UserErrors) -> FormPage {
        page.typed(self.email, self.display_name, self.role, errors)
    }

    pub fn profile(&self) -> Profile {
        Profile {
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            role: self.role.clone(),
        }
    }

    /// What is wrong with the form; the password only counts when `creating` without an
    /// invitation.
    pub fn errors(&self, roles: &[String], creating: bool) -> UserErrors {
        let name = self.display_name.trim();
        UserErrors {
            email: users::check_email(self.email.trim()).err(),
            display_name: users::check_display_name(name).err(),
            role: (!roles.contains(&self.role)).then(|| "Choose one of the roles.".to_string()),
            password: if creating && self.invite.is_none() {
                password::check_strength(&self.password, &[&self.email, name]).err()
            } else {
                None
            },
            form: None,
        }
    }
}
