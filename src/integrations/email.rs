//! `/integrations/email`, for administrators: the SMTP settings (the password encrypted at
//! rest and never shown again), the latest queued messages, and "send test email". Mail is
//! used for invitations, password resets and webhook alerts; `mailer` sends it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use lettre::message::Mailbox;
use serde::Deserialize;

use crate::audit::{self, Actor};
use crate::db::DbConn;
use crate::db::secrets::Sealer;
use crate::error::AppError;
use crate::identity::permissions::Admin;
use crate::integrations::store::mail::{self, SETTINGS_KEY, SmtpSettings};
use crate::integrations::views::EmailPage;
use crate::state::AppState;
use crate::web::page::{self, Layout, Page};

/// The mail worker lives in `mailer`; started under this name by the application.
pub use crate::integrations::mailer::spawn;

async fn render(
    req: &HttpRequest,
    state: &AppState,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let (settings, recent) = state
        .db
        .run(|conn| {
            let recent = mail::recent(conn, 20)?;
            let settings = mail::settings(conn)?.unwrap_or(SmtpSettings {
                port: 587,
                tls: "starttls".into(),
                ..Default::default()
            });
            Ok((settings, recent))
        })
        .await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let has_password = !settings.password_sealed.is_empty();
    page::render(
        status,
        &EmailPage {
            layout: Layout::build(req),
            settings,
            has_password,
            recent,
            error,
        },
    )
}

pub async fn show(
    req: HttpRequest,
    _admin: Admin,
    _page: Page,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    render(&req, &state, None).await
}

#[derive(Deserialize)]
pub struct SmtpForm {
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    tls: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    sender: String,
}

/// The port of a complete form, or what is missing.
fn check(f: &SmtpForm) -> Result<u16, &'static str> {
    let port = f.port.trim().parse::<u16>().ok().filter(|p| *p > 0);
    if f.host.trim().is_empty() {
        Err("Enter the SMTP host.")
    } else if port.is_none() {
        Err("Enter the port, e.g. 587 for STARTTLS or 465 for TLS.")
    } else if !matches!(f.tls.as_str(), "none" | "starttls" | "tls") {
        Err("Choose a TLS mode.")
    } else if f.sender.parse::<Mailbox>().is_err() {
        Err("Enter the sender as an address, e.g. Gatehouse <gatehouse@example.com>.")
    } else {
        Ok(port.unwrap_or(587))
    }
}

/// Save the settings of a checked form, with its audit entry. An empty password field
/// keeps the stored one (it is never shown again).
fn store_settings(
    conn: &mut DbConn,
    sealer: &Sealer,
    f: SmtpForm,
    port: u16,
    actor: &Actor,
) -> Result<(), AppError> {
    let old = mail::settings(conn)?
        .map(|s| s.password_sealed)
        .unwrap_or_default();
    let password_sealed = if f.password.is_empty() {
        old
    } else {
        sealer.seal(&f.password).map_err(AppError::internal)?
    };
    let new = SmtpSettings {
        host: f.host.trim().to_string(),
        port,
        tls: f.tls,
        username: f.username.trim().to_string(),
        password_sealed,
        sender: f.sender.trim().to_string(),
    };
    mail::save_settings(conn, &new)?;
    let changes = serde_json::json!({ "host": new.host, "port": new.port });
    audit::record(
        conn,
        actor,
        "settings.smtp_changed",
        "gh_settings",
        SETTINGS_KEY,
        &changes,
    )?;
    Ok(())
}

pub async fn save(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    form: web::Form<SmtpForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let port = match check(&form) {
        Ok(port) => port,
        Err(problem) => return render(&req, &state, Some(problem.into())).await,
    };
    let sealer = Sealer::new(state.config.secret_key.bytes());
    let actor = Actor::from(&admin.0.user);
    state
        .db
        .run(move |conn| store_settings(conn, &sealer, form, port, &actor))
        .await?;
    Ok(page::done(
        &req,
        "/integrations/email",
        "success",
        "Email settings saved.",
    ))
}

/// Queue a test message to `to`; false when email is not set up.
fn queue_test(conn: &mut DbConn, to: &str) -> Result<bool, AppError> {
    if mail::settings(conn)?.is_none() {
        return Ok(false);
    }
    crate::events::mail::enqueue(
        conn,
        to,
        "Gatehouse test email",
        "This is a test email from Gatehouse. Email works.",
    )?;
    Ok(true)
}

pub async fn test(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let to = admin.0.user.email.clone();
    let configured = state.db.run(move |conn| queue_test(conn, &to)).await?;
    if !configured {
        return render(&req, &state, Some("Save the SMTP settings first.".into())).await;
    }
    let message = "Test email queued; its status shows below within seconds.";
    Ok(page::done(&req, "/integrations/email", "success", message))
}
