//! Templates of the sign-in slice: sign-in, setup, the two-factor steps, the account page,
//! and the forgotten-password and reset pages.

use actix_web::HttpRequest;
use askama::Template;

use crate::identity::CurrentUser;
use crate::identity::sessions::SessionInfo;
use crate::web::page::Layout;

#[derive(Template)]
#[template(path = "auth/login.html")]
pub struct LoginPage {
    pub layout: Layout,
    /// (id, label) of the enabled SSO providers: one button each.
    pub providers: crate::signin::sso::discovery::Buttons,
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

/// A setup link once an administrator exists.
#[derive(Template)]
#[template(path = "auth/setup_done.html")]
pub struct SetupDonePage {
    pub layout: Layout,
}

#[derive(Template)]
#[template(path = "auth/two_factor.html")]
pub struct TwoFactorPage {
    pub layout: Layout,
    /// `code`, `enrol`, `account`, `codes`
    pub mode: &'static str,
    pub action: &'static str,
    pub next: String,
    pub qr: String,
    pub secret: String,
    pub enabled: bool,
    pub codes_left: i64,
    pub codes: Vec<String>,
    pub continue_to: String,
    pub error: Option<String>,
}

impl TwoFactorPage {
    pub fn new(req: &HttpRequest, mode: &'static str, action: &'static str) -> TwoFactorPage {
        TwoFactorPage {
            layout: Layout::build(req),
            mode,
            action,
            next: "/".into(),
            qr: String::new(),
            secret: String::new(),
            enabled: false,
            codes_left: 0,
            codes: Vec::new(),
            continue_to: "/".into(),
            error: None,
        }
    }
}

#[derive(Template)]
#[template(path = "auth/account.html")]
pub struct AccountPage {
    pub layout: Layout,
    pub user: CurrentUser,
    pub sessions: Vec<SessionInfo>,
    pub identities: Vec<super::sso::store::Identity>,
    pub error: Option<String>,
    /// The role signs in through single sign-on only: no password form, a pointer instead.
    pub sso_only: bool,
}

impl AccountPage {
    /// The display settings form's choices.
    pub fn time_zones(&self) -> Vec<String> {
        crate::identity::settings::time_zones()
    }

    pub fn themes(&self) -> &'static [(&'static str, &'static str)] {
        crate::identity::settings::THEMES
    }
}

#[derive(Template)]
#[template(path = "auth/reset.html")]
pub struct ResetPage {
    pub layout: Layout,
    pub token: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "auth/forgot.html")]
pub struct ForgotPage {
    pub layout: Layout,
    pub sent: bool,
}

/// `/account/passkeys`: the operator's passkeys and the form to add one.
#[derive(Template)]
#[template(path = "auth/passkeys.html")]
pub struct PasskeysPage {
    pub layout: Layout,
    pub passkeys: Vec<crate::identity::passkeys::PasskeyRecord>,
    /// The operator's role requires a passkey as the second factor.
    pub role_requires: bool,
    /// Why passkeys cannot be used with this configuration (no host name in the public URL).
    pub unavailable: Option<String>,
    pub error: Option<String>,
}

/// The passkey step of sign-in (`step`) or the forced registration of a first one (`enrol`).
#[derive(Template)]
#[template(path = "auth/passkey_step.html")]
pub struct PasskeyStepPage {
    pub layout: Layout,
    pub mode: &'static str,
    pub next: String,
    pub error: Option<String>,
    /// Offer the TOTP code instead (the operator has one; the role allows it).
    pub use_code: bool,
}

impl PasskeyStepPage {
    pub fn new(
        req: &HttpRequest,
        mode: &'static str,
        next: String,
        error: Option<String>,
    ) -> PasskeyStepPage {
        PasskeyStepPage {
            layout: Layout::build(req),
            mode,
            next,
            error,
            use_code: false,
        }
    }
}
