//! The one route table: every URL of Gatehouse, in the order the router tries them, with
//! the handler that answers it. `ROUTES` lists the same entries for tests and tools (the
//! authorization matrix checks that it covers every one).

use actix_web::{Resource, Route as ActixRoute, web};

use crate::{api, auditlog, console, dashboard, data, integrations, ops, schema, signin, users};

/// One entry of the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
}

macro_rules! method_name {
    (get) => {
        "GET"
    };
    (post) => {
        "POST"
    };
    (patch) => {
        "PATCH"
    };
    (delete) => {
        "DELETE"
    };
}

macro_rules! route_table {
    ($($method:ident $path:literal => $handler:path;)*) => {
        /// Every route, in matching order.
        pub const ROUTES: &[Route] = &[$(Route { method: method_name!($method), path: $path }),*];

        /// Mount every route on the application.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            mount(cfg, vec![$(($path, web::$method().to($handler))),*]);
        }
    };
}

/// The routes of one table (`/data/{table}…`) are mounted as one scope, at the place of the
/// first of them: a request for a list or a record page is matched against that table's
/// routes only, not against every dynamic route before them (actix tries resources in
/// order, one regex per dynamic path). Paths the scope's prefix would also match
/// (`/data/new-table`) come before it in the table.
const TABLE_SCOPE: &str = "/data/{table}";

/// The path below the table scope, when `path` is under it.
fn in_table_scope(path: &str) -> Option<&str> {
    path.strip_prefix(TABLE_SCOPE)
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// One resource per path, in the order of first appearance, holding the routes of every
/// method on it: a known path asked with another method answers 405, not 404.
fn mount(cfg: &mut web::ServiceConfig, routes: Vec<(&'static str, ActixRoute)>) {
    let mut resources: Vec<(&'static str, Resource)> = Vec::new();
    for (path, route) in routes {
        match resources.iter().position(|(p, _)| *p == path) {
            Some(i) => {
                let (p, resource) = resources.remove(i);
                resources.insert(i, (p, resource.route(route)));
            }
            None => {
                let at = in_table_scope(path).unwrap_or(path);
                resources.push((path, web::resource(at).route(route)));
            }
        }
    }
    let mut scoped = Vec::new();
    let mut after = Vec::new();
    for (path, resource) in resources {
        if in_table_scope(path).is_some() {
            scoped.push(resource);
        } else if scoped.is_empty() {
            cfg.service(resource);
        } else {
            after.push(resource);
        }
    }
    let scope = scoped
        .into_iter()
        .fold(web::scope(TABLE_SCOPE), |scope, resource| {
            scope.service(resource)
        });
    cfg.service(scope);
    for resource in after {
        cfg.service(resource);
    }
}

/// The dedicated metrics listener (`--metrics-listen`) answers this one route of the table.
pub fn configure_metrics_listener(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(ops::metrics::show));
}

route_table! {
    get "/static/{path:.*}" => crate::web::assets::serve;
    get "/healthz" => ops::healthz;
    get "/readyz" => ops::readyz;
    get "/metrics" => ops::metrics::show;

    get "/login" => signin::routes::login_form;
    post "/login" => signin::routes::login;
    post "/logout" => signin::routes::logout;
    get "/setup" => signin::routes::setup_form;
    post "/setup" => signin::routes::setup;
    get "/login/code" => signin::two_factor::code_form;
    post "/login/code" => signin::two_factor::code;
    get "/login/enrol" => signin::two_factor::enrol_form;
    post "/login/enrol" => signin::two_factor::enrol;
    get "/login/sso/callback" => signin::sso::routes::callback;
    get "/login/sso/{id}" => signin::sso::routes::start;
    post "/account/identities/{id}/remove" => signin::sso::routes::unlink;
    get "/account" => signin::account::show;
    post "/account/password" => signin::account::change_password;
    post "/account/settings" => signin::display::save;
    post "/account/sessions/{id}/end" => signin::account::end_session;
    post "/account/sessions/end-others" => signin::account::end_others;
    get "/account/passkeys" => signin::passkeys::index;
    post "/account/passkeys" => signin::passkeys::create;
    post "/account/passkeys/options" => signin::passkeys::options;
    post "/account/passkeys/{id}/remove" => signin::passkeys::remove;
    get "/login/passkey" => signin::passkey_login::step_form;
    post "/login/passkey" => signin::passkey_login::step;
    post "/login/passkey/options" => signin::passkey_login::step_options;
    post "/login/passkey/code" => signin::passkey_login::use_code;
    get "/login/passkey/enrol" => signin::passkey_login::enrol_form;
    post "/login/passkey/enrol" => signin::passkey_login::enrol;
    post "/login/passkey/enrol/options" => signin::passkey_login::enrol_options;
    post "/login/passkey/direct" => signin::passkey_login::direct;
    post "/login/passkey/direct/options" => signin::passkey_login::direct_options;
    get "/account/2fa" => signin::two_factor::account_form;
    post "/account/2fa" => signin::two_factor::account_enable;
    post "/account/2fa/disable" => signin::two_factor::account_disable;
    get "/forgot" => signin::account::forgot_form;
    post "/forgot" => signin::account::forgot;
    get "/reset" => signin::account::reset_form;
    post "/reset" => signin::account::reset;

    get "/" => dashboard::index;
    post "/dashboard/pins/{id}/delete" => dashboard::pins::unpin;

    get "/data" => data::routes::index;
    post "/data/refresh" => data::routes::refresh;
    get "/data/new-table" => schema::routes::new_table_form;
    post "/data/new-table" => schema::routes::new_table;
    get "/data/{table}" => data::routes::list;
    post "/data/{table}" => data::routes::create;
    get "/data/{table}/new" => data::routes::new;
    get "/data/{table}/schema" => schema::routes::show;
    post "/data/{table}/schema" => schema::routes::change;
    get "/data/{table}/chart" => dashboard::chart::show;
    post "/data/{table}/chart/pins" => dashboard::pins::pin;
    get "/data/{table}/export.csv" => data::export::csv;
    get "/data/{table}/export.json" => data::export::json;
    get "/data/{table}/lookup" => data::routes::lookup;
    get "/data/{table}/import" => data::import::form;
    post "/data/{table}/import" => data::import::upload;
    get "/data/{table}/import/{id}" => data::import::mapping;
    post "/data/{table}/import/{id}" => data::import::run;
    get "/data/{table}/import/{id}/rejected.csv" => data::import::rejected;
    post "/data/{table}/bulk" => data::bulk::bulk;
    get "/data/{table}/deleted" => data::restore::deleted;
    post "/data/{table}/deleted/{entry}" => data::restore::deleted_restore;
    post "/data/{table}/views" => data::saved::create;
    post "/data/{table}/views/{id}" => data::saved::update;
    post "/data/{table}/views/{id}/delete" => data::saved::delete;
    get "/data/{table}/{key}" => data::routes::show;
    post "/data/{table}/{key}" => data::routes::update;
    get "/data/{table}/{key}/delete" => data::routes::delete_confirm;
    post "/data/{table}/{key}/delete" => data::routes::delete;
    get "/data/{table}/{key}/restore/{entry}" => data::restore::version_confirm;
    post "/data/{table}/{key}/restore/{entry}" => data::restore::version_restore;

    get "/sql" => console::routes::index;
    post "/sql" => console::routes::run;
    post "/sql/cancel" => console::routes::cancel;
    post "/sql/export.csv" => console::routes::export_csv;
    post "/sql/queries" => console::routes::save_query;
    post "/sql/queries/{id}/delete" => console::routes::delete_query;

    get "/events" => data::live::events;

    get "/audit" => auditlog::index;
    get "/audit/export.csv" => auditlog::export_csv;

    get "/users" => users::routes::index;
    post "/users" => users::routes::create;
    get "/users/new" => users::routes::new;
    get "/users/{id}" => users::routes::show;
    post "/users/{id}" => users::routes::update;
    post "/users/{id}/disable" => users::routes::disable;
    post "/users/{id}/enable" => users::routes::enable;
    post "/users/{id}/sign-out" => users::routes::sign_out;
    post "/users/{id}/reset-link" => users::routes::reset_link;
    post "/users/{id}/reset-2fa" => users::routes::reset_2fa;
    post "/users/{id}/sessions/{sid}/end" => users::routes::end_session;
    get "/users/{id}/delete" => users::routes::delete_confirm;
    post "/users/{id}/delete" => users::routes::delete;
    post "/users/{id}/attributes" => users::attributes::save;
    get "/roles" => users::roles::index;
    post "/roles" => users::roles::create;
    get "/roles/new" => users::roles::new;
    get "/roles/{name}" => users::roles::edit;
    post "/roles/{name}" => users::roles::update;
    post "/roles/{name}/delete" => users::roles::delete;
    get "/roles/{name}/rules/{table}" => users::rules::edit;
    post "/roles/{name}/rules/{table}" => users::rules::update;
    post "/roles/{name}/rules/{table}/preview" => users::rules::preview;

    get "/integrations" => integrations::index;
    get "/integrations/tokens" => integrations::tokens::index;
    post "/integrations/tokens" => integrations::tokens::create;
    post "/integrations/tokens/{id}/revoke" => integrations::tokens::revoke;
    get "/integrations/webhooks" => integrations::webhooks::index;
    post "/integrations/webhooks" => integrations::webhooks::create;
    get "/integrations/webhooks/{id}" => integrations::webhooks::show;
    post "/integrations/webhooks/{id}/test" => integrations::webhooks::test;
    post "/integrations/webhooks/{id}/redeliver/{msg}" => integrations::webhooks::redeliver;
    post "/integrations/webhooks/{id}/rotate" => integrations::webhooks::rotate;
    post "/integrations/webhooks/{id}/reveal" => integrations::webhooks::reveal;
    post "/integrations/webhooks/{id}/enable" => integrations::webhooks::enable;
    post "/integrations/webhooks/{id}/disable" => integrations::webhooks::disable;
    post "/integrations/webhooks/{id}/delete" => integrations::webhooks::delete;
    get "/integrations/sso" => signin::sso::admin::index;
    post "/integrations/sso" => signin::sso::admin::create;
    post "/integrations/sso/roles" => signin::sso::admin::save_roles;
    post "/integrations/sso/{id}/delete" => signin::sso::admin::delete;
    get "/integrations/sso/{id}" => signin::sso::admin::edit;
    post "/integrations/sso/{id}" => signin::sso::admin::update;
    post "/integrations/sso/{id}/status" => signin::sso::admin::status;
    get "/integrations/email" => integrations::email::show;
    post "/integrations/email" => integrations::email::save;
    post "/integrations/email/test" => integrations::email::test;

    get "/api/v1/tables" => api::routes::tables;
    get "/api/v1/tables/{table}/rows" => api::routes::list;
    post "/api/v1/tables/{table}/rows" => api::routes::create;
    post "/api/v1/tables/{table}/import" => api::import::import;
    get "/api/v1/tables/{table}/rows/{key}" => api::routes::show;
    patch "/api/v1/tables/{table}/rows/{key}" => api::routes::update;
    delete "/api/v1/tables/{table}/rows/{key}" => api::routes::delete;
    get "/api/openapi.json" => api::openapi::document;
}
