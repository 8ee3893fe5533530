//! Templates of the sign-in and setup pages.

use askama::Template;

use crate::web::page::Layout;

#[derive(Template)]
#[template(path = "auth/login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub email: String,
    pub next: String,
    pub error: Option<String>,
}

/// Per-field messages of the setup form.
#[derive(Default)]
pub struct SetupErrors {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub password: Option<String>,
    pub password_confirm: Option<String>,
    pub form: Option<String>,
}

impl SetupErrors {
    pub fn any(&self) -> bool {
        self.email.is_some()
            || self.display_name.is_some()
            || self.password.is_some()
            || self.password_confirm.is_some()
            || self.form.is_some()
    }
}

#[derive(Template)]
#[template(path = "auth/setup.html")]
pub struct SetupPage {
    pub layout: Layout,
    pub token: String,
    pub email: String,
    pub display_name: String,
    pub errors: SetupErrors,
}
