//! Templates of the users slice: the operator list, form and delete confirmation, and the
//! role list and rights matrix.

use askama::Template;

use crate::identity::permissions::Actions;
use crate::identity::roles::RoleRecord;
use crate::identity::sessions::SessionInfo;
use crate::identity::users::User;
use crate::web::page::Layout;

#[derive(Template)]
#[template(path = "users/index.html")]
pub struct IndexPage {
    pub layout: Layout,
    pub users: Vec<User>,
    pub q: String,
    pub status: String,
}

/// Per-field messages of the operator form.
#[derive(Default)]
pub struct UserErrors {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub role: Option<String>,
    pub password: Option<String>,
    pub form: Option<String>,
}

impl UserErrors {
    pub fn any(&self) -> bool {
        self.email.is_some()
            || self.display_name.is_some()
            || self.role.is_some()
            || self.password.is_some()
            || self.form.is_some()
    }
}

#[derive(Template)]
#[template(path = "users/form.html")]
pub struct FormPage {
    pub layout: Layout,
    pub user: Option<User>,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub roles: Vec<String>,
    pub errors: UserErrors,
    pub sessions: Vec<SessionInfo>,
    pub reset_link: Option<String>,
    /// The operator's role signs in through single sign-on only: no password-reset link.
    pub sso_only: bool,
    pub is_self: bool,
    /// The operator's attributes (`$me.<key>` in row rules), with an empty row to add one.
    pub attributes: Vec<AttributeRow>,
    pub attributes_error: Option<String>,
}

impl FormPage {
    /// The empty form of a new operator.
    pub fn blank(layout: Layout, roles: Vec<String>) -> FormPage {
        FormPage {
            layout,
            user: None,
            email: String::new(),
            display_name: String::new(),
            role: "viewer".into(),
            roles,
            errors: UserErrors::default(),
            sessions: Vec::new(),
            reset_link: None,
            sso_only: false,
            is_self: false,
            attributes: Vec::new(),
            attributes_error: None,
        }
    }

    /// The form of an existing operator, filled from the record; `me` is the viewer's id.
    pub fn of(
        layout: Layout,
        user: User,
        sessions: Vec<SessionInfo>,
        roles: Vec<String>,
        me: &str,
    ) -> FormPage {
        FormPage {
            layout,
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            role: user.role.clone(),
            is_self: user.id == me,
            user: Some(user),
            roles,
            errors: UserErrors::default(),
            sessions,
            reset_link: None,
            sso_only: false,
            attributes: Vec::new(),
            attributes_error: None,
        }
    }

    /// The form again with what was typed, and why it was not saved.
    pub fn typed(
        self,
        email: String,
        display_name: String,
        role: String,
        errors: UserErrors,
    ) -> FormPage {
        FormPage {
            email,
            display_name,
            role,
            errors,
            ..self
        }
    }
}

#[derive(Template)]
#[template(path = "users/delete.html")]
pub struct DeletePage {
    pub layout: Layout,
    pub user: User,
}

pub struct RoleRow {
    pub role: RoleRecord,
    pub users: i64,
}

#[derive(Template)]
#[template(path = "users/roles.html")]
pub struct RolesPage {
    pub layout: Layout,
    pub roles: Vec<RoleRow>,
    /// Saved row rules that name a column (or table) that is gone: they let no row through.
    pub broken_rules: Vec<String>,
}

/// One line of the rights matrix: a table, what the role may do with it, and its columns
/// (name, hidden from the role).
pub struct TableRights {
    pub table: String,
    pub actions: Actions,
    pub columns: Vec<(String, bool)>,
    /// The actions with a row rule (read, update …), as the matrix lists them.
    pub rules: String,
}

#[derive(Template)]
#[template(path = "users/role_form.html")]
pub struct RoleFormPage {
    pub layout: Layout,
    pub creating: bool,
    pub builtin: bool,
    pub name: String,
    pub description: String,
    pub default: Actions,
    pub admin_areas: bool,
    pub require_2fa: bool,
    pub require_passkey: bool,
    pub change_schema: bool,
    pub run_sql: bool,
    pub write_sql: bool,
    pub tables: Vec<TableRights>,
    pub error: Option<String>,
    pub share_views: bool,
}

/// One action's draft row rule as the editor shows it: the text of its two groups, and
/// why it was not saved (tied to the field it concerns).
#[derive(Default, Clone)]
pub struct RuleDraft {
    /// `read`, `create`, `update` or `delete`.
    pub action: &'static str,
    pub all: String,
    pub any: String,
    pub allow_move_out: bool,
    pub all_error: Option<String>,
    pub any_error: Option<String>,
    /// The saved rule names a column the table no longer has (it then fails closed).
    pub broken: Option<String>,
}

impl RuleDraft {
    pub fn has_error(&self) -> bool {
        self.all_error.is_some() || self.any_error.is_some()
    }
}

/// How many rows one sample operator would see under the draft read rule.
pub struct PreviewRow {
    pub email: String,
    /// The count as shown, or why it could not be made (e.g. an attribute the operator lacks).
    pub rows: String,
}

/// The preview's result: the sample operators' counts, or why the draft cannot be counted.
#[derive(Default)]
pub struct Preview {
    pub rows: Vec<PreviewRow>,
    pub error: Option<String>,
    /// Whether a preview was asked for (the page shows an empty region until then).
    pub asked: bool,
}

impl Preview {
    pub fn failed(error: String) -> Preview {
        Preview {
            rows: Vec::new(),
            error: Some(error),
            asked: true,
        }
    }
}

#[derive(Template)]
#[template(path = "users/_rules_preview.html")]
pub struct PreviewPartial {
    pub preview: Preview,
}

#[derive(Template)]
#[template(path = "users/rules.html")]
pub struct RulesPage {
    pub layout: Layout,
    pub role: String,
    pub table: String,
    /// The table's columns (name, type) for the helper text.
    pub columns: Vec<(String, String)>,
    pub drafts: Vec<RuleDraft>,
    pub preview: Preview,
    pub error: Option<String>,
}

/// One operator attribute as the form shows it (with what was typed, and its error).
#[derive(Default, Clone)]
pub struct AttributeRow {
    pub key: String,
    pub value: String,
    pub error: Option<String>,
}
