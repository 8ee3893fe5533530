//! Templates of the SSO administration page.

use askama::Template;

use super::store::{Provider, RoleOptions};
use crate::web::page::Layout;

#[derive(Template)]
#[template(path = "integrations/sso.html")]
pub struct SsoPage {
    pub layout: Layout,
    pub providers: Vec<Provider>,
    pub roles: Vec<RoleOptions>,
    pub callback: String,
    pub error: Option<String>,
}
