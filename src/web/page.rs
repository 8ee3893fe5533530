//! The page layout every full page renders into (header, navigation, flash messages,
//! footer), the `Page` extractor that gathers it, and response helpers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use askama::Template;

use crate::error::AppError;
use crate::identity::session::{self, CurrentUser};
use crate::identity::settings::{self, Settings};
use crate::web::assets::{self, AssetUrls};
use crate::web::flash::{self, Flash};
use crate::web::when::{Presenter, Utc, When};
use crate::web::{csrf, is_htmx};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One entry of the main navigation.
pub struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    /// Sections that are not built yet say so here, and only here.
    pub ready: bool,
    /// Shown only to operators allowed into the administration areas.
    pub admin_only: bool,
    /// The symbol in the icon sprite (static/vendor/lucide-*-sprite.svg).
    pub icon: &'static str,
}

pub const NAV: &[NavItem] = &[
    NavItem {
        label: "Home",
        href: "/",
        ready: true,
        admin_only: false,
        icon: "house",
    },
    NavItem {
        label: "Data",
        href: "/data",
        ready: true,
        admin_only: false,
        icon: "database",
    },
    NavItem {
        label: "Users",
        href: "/users",
        ready: true,
        admin_only: true,
        icon: "users",
    },
    NavItem {
        label: "Roles",
        href: "/roles",
        ready: true,
        admin_only: true,
        icon: "shield-check",
    },
    NavItem {
        label: "Integrations",
        href: "/integrations/webhooks",
        ready: true,
        admin_only: true,
        icon: "plug",
    },
    NavItem {
        label: "SQL",
        href: "/sql",
        ready: true,
        // Shown to every role with the "run SQL" right (`Layout::run_sql`), not by this.
        admin_only: false,
        icon: "terminal",
    },
    NavItem {
        label: "Audit",
        href: "/audit",
        ready: true,
        admin_only: false,
        icon: "history",
    },
];

pub struct Layout {
    pub user: Option<CurrentUser>,
    pub csrf: String,
    pub flashes: Vec<Flash>,
    pub version: &'static str,
    pub assets: &'static AssetUrls,
    pub nav: &'static [NavItem],
    pub path: String,
    /// May enter the administration areas (from the role's rights, when loaded).
    pub admin: bool,
    /// May use the schema builder (from the role's rights, when loaded).
    pub change_schema: bool,
    /// May open the SQL console (from the role's rights, when loaded).
    pub run_sql: bool,
    /// Under "Data": the tables the operator may read, with their saved views.
    pub data_nav: Vec<crate::web::nav::NavTable>,
    /// The operator's time zone and theme (defaults before sign-in).
    pub settings: Arc<Settings>,
}

impl Layout {
    /// One of Gatehouse's own times (UTC) as this operator sees it: relative, with the
    /// exact time in their zone (`web::when`; templates write it with `|safe`).
    pub fn when(&self, at: impl Utc) -> When {
        Presenter::new(self.settings.zone()).at(at)
    }

    /// Built from what the request already knows (no database access).
    pub fn build(req: &HttpRequest) -> Layout {
        let user = session::cached(req);
        // Read before the fields below borrow the extensions mutably (flash messages).
        let (settings, rights) = {
            let ext = req.extensions();
            (
                ext.get::<Arc<Settings>>().cloned(),
                ext.get::<Arc<crate::identity::permissions::Rights>>()
                    .cloned(),
            )
        };
        let flashes = flash::take(req);
        Layout {
            data_nav: crate::web::nav::data_nav(req, user.as_ref()),
            settings: settings.unwrap_or_default(),
            admin: rights.as_ref().map_or_else(
                || user.as_ref().is_some_and(|u| u.is_admin()),
                |r| r.admin_areas,
            ),
            change_schema: rights.as_ref().is_some_and(|r| r.change_schema),
            run_sql: rights.as_ref().is_some_and(|r| r.run_sql),
            user,
            csrf: csrf::token(req),
            flashes,
            version: VERSION,
            assets: assets::urls(),
            nav: NAV,
            path: req.path().to_string(),
        }
    }

    /// Whether the main navigation shows `item` to this operator.
    pub fn shows(&self, item: &NavItem) -> bool {
        match item.href {
            "/sql" => self.run_sql,
            _ => !item.admin_only || self.admin,
        }
    }

    pub fn is_current(&self, href: &str) -> bool {
        self.path == href
            || (href != "/"
                && self
                    .path
                    .strip_prefix(href)
                    .is_some_and(|rest| rest.starts_with('/')))
    }

    /// Whether the navigation's table list gets a filter box.
    pub fn nav_filter(&self) -> bool {
        self.data_nav.len() > crate::web::nav::FILTER_ABOVE
    }
}

/// Extracts the layout for a full page, loading the session first.
pub struct Page(pub Layout);

impl FromRequest for Page {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Page, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if let Some(user) = session::load(&req).await? {
                crate::identity::permissions::load_rights(&req, &user.role).await?;
                crate::web::nav::refresh_views(&req).await?;
                load_settings(&req, &user.id).await?;
            }
            Ok(Page(Layout::build(&req)))
        })
    }
}

/// The operator's time zone, their settings put on the request (for pages that answer a
/// form without the `Page` extractor, and read what was typed in that zone).
pub async fn zone(req: &HttpRequest, user_id: &str) -> Result<jiff::tz::TimeZone, AppError> {
    load_settings(req, user_id).await?;
    Ok(Presenter::of(req).zone)
}

/// Put the operator's settings on the request: from the cache, or read once.
async fn load_settings(req: &HttpRequest, user_id: &str) -> Result<(), AppError> {
    let found = match settings::cached(user_id) {
        Some(found) => found,
        None => {
            let state = crate::state::app_data::<crate::state::AppState>(req)?;
            let id = user_id.to_string();
            let loaded = state.db.run(move |conn| settings::load(conn, &id)).await?;
            settings::remember(user_id, loaded)
        }
    };
    req.extensions_mut().insert(found);
    Ok(())
}

/// Render a template with a status (422 for a form with errors, 429 when throttled …).
pub fn render(status: StatusCode, template: &impl Template) -> Result<HttpResponse, AppError> {
    let body = template.render().map_err(AppError::caused_by)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

pub fn ok(template: &impl Template) -> Result<HttpResponse, AppError> {
    render(StatusCode::OK, template)
}

/// Redirect after a successful form: 303 for plain forms, `HX-Redirect` for htmx.
pub fn see_other(req: &HttpRequest, location: &str) -> actix_web::HttpResponseBuilder {
    if is_htmx(req) {
        let mut b = HttpResponse::Ok();
        b.insert_header(("HX-Redirect", location.to_string()));
        b
    } else {
        let mut b = HttpResponse::SeeOther();
        b.insert_header(("Location", location.to_string()));
        b
    }
}

/// The end of a successful (or refused) form: redirect to `location` with a flash message
/// of `kind` (`success` or `error`) shown on the next page.
pub fn done(req: &HttpRequest, location: &str, kind: &'static str, message: &str) -> HttpResponse {
    flash::set(req, kind, message);
    see_other(req, location).finish()
}
