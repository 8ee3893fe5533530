//! Email: SMTP settings (the password encrypted at rest), a queue with retries so a slow
//! mail server never blocks a page, delivery through `lettre`, and `/integrations/email`
//! with "send test email". Used for invitations, password resets and webhook alerts.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use serde::{Deserialize, Serialize};

use crate::audit::{self, Actor};
use crate::db::schema::{gh_mail_queue as q, gh_settings as s};
use crate::db::secrets::Sealer;
use crate::db::{self, DbConn, now};
use crate::error::AppError;
use crate::identity::permissions::Admin;
use crate::state::AppState;
use crate::web::flash;
use crate::web::page::{self, Layout, Page};

const SETTINGS_KEY: &str = "smtp";
const RETRIES: [u64; 5] = [30, 120, 600, 3600, 21_600];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    pub tls: String,
    pub username: String,
    /// Sealed (encrypted) password.
    pub password_sealed: String,
    pub sender: String,
}

pub fn settings(conn: &mut DbConn) -> QueryResult<Option<SmtpSettings>> {
    let raw: Option<String> = s::table
        .find(SETTINGS_KEY)
        .select(s::value)
        .first(conn)
        .optional()?;
    Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
}

fn save_settings(conn: &mut DbConn, settings: &SmtpSettings) -> QueryResult<()> {
    db::write_tx(conn, |conn| {
        diesel::delete(s::table.find(SETTINGS_KEY)).execute(conn)?;
        diesel::insert_into(s::table)
            .values((
                s::key.eq(SETTINGS_KEY),
                s::value.eq(serde_json::to_string(settings).unwrap_or_default()),
                s::updated_at.eq(now()),
            ))
            .execute(conn)?;
        Ok(())
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = q)]
pub struct Mail {
    pub id: String,
    pub to_addr: String,
    pub subject: String,
    pub body: String,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub attempts: i32,
    pub status: String,
    pub last_error: Option<String>,
    pub locked_until: Option<NaiveDateTime>,
}

/// Take the due messages for two minutes (one mail worker per instance).
fn claim(conn: &mut DbConn, at: NaiveDateTime) -> QueryResult<Vec<Mail>> {
    db::write_tx(conn, |conn| {
        let due: Vec<Mail> = q::table
            .filter(q::status.eq("pending"))
            .filter(q::next_attempt_at.le(at))
            .filter(q::locked_until.is_null().or(q::locked_until.lt(at)))
            .order(q::next_attempt_at)
            .limit(10)
            .select(Mail::as_select())
            .load(conn)?;
        for m in &due {
            diesel::update(q::table.find(&m.id))
                .set(q::locked_until.eq(Some(at + chrono::Duration::minutes(2))))
                .execute(conn)?;
        }
        Ok(due)
    })
}

fn finish(conn: &mut DbConn, mail: &Mail, result: Result<(), String>) -> QueryResult<()> {
    let attempts = mail.attempts + 1;
    match result {
        Ok(()) => diesel::update(q::table.find(&mail.id))
            .set((
                q::status.eq("sent"),
                q::attempts.eq(attempts),
                q::last_error.eq(None::<String>),
            ))
            .execute(conn)?,
        Err(e) => {
            let next = RETRIES
                .get(mail.attempts as usize)
                .map(|s| now() + chrono::Duration::seconds(*s as i64));
            diesel::update(q::table.find(&mail.id))
                .set((
                    q::status.eq(if next.is_some() { "pending" } else { "failed" }),
                    q::attempts.eq(attempts),
                    q::last_error.eq(Some(e)),
                    q::next_attempt_at.eq(next.unwrap_or_else(now)),
                    q::locked_until.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?
        }
    };
    Ok(())
}

/// Send one message with the stored settings (blocking; run on the blocking pool).
fn send(settings: &SmtpSettings, password: &str, mail: &Mail) -> Result<(), String> {
    let from: Mailbox = settings
        .sender
        .parse()
        .map_err(|e| format!("sender: {e}"))?;
    let to: Mailbox = mail
        .to_addr
        .parse()
        .map_err(|e| format!("recipient: {e}"))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(&mail.subject)
        .body(mail.body.clone())
        .map_err(|e| e.to_string())?;
    let mut builder = match settings.tls.as_str() {
        "tls" => SmtpTransport::relay(&settings.host).map_err(|e| e.to_string())?,
        "starttls" => SmtpTransport::starttls_relay(&settings.host).map_err(|e| e.to_string())?,
        _ => SmtpTransport::builder_dangerous(&settings.host).tls(Tls::None),
    };
    if settings.tls == "starttls" {
        let params = TlsParameters::new(settings.host.clone()).map_err(|e| e.to_string())?;
        builder = builder.tls(Tls::Required(params));
    }
    builder = builder
        .port(settings.port)
        .timeout(Some(Duration::from_secs(20)));
    if !settings.username.is_empty() {
        builder = builder.credentials(Credentials::new(
            settings.username.clone(),
            password.to_string(),
        ));
    }
    builder
        .build()
        .send(&message)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The mail worker: every second, send what is due.
pub fn spawn(state: AppState) {
    actix_web::rt::spawn(async move {
        loop {
            if let Err(e) = tick(&state).await {
                tracing::warn!(error = %e, "mail worker");
            }
            actix_web::rt::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn tick(state: &AppState) -> Result<(), AppError> {
    let sealer = Sealer::new(state.config.secret_key.bytes());
    let (settings, due) = state
        .db
        .run(|conn| {
            let Some(settings) = settings(conn)? else {
                return Ok((None, Vec::new()));
            };
            Ok((Some(settings), claim(conn, now())?))
        })
        .await?;
    let Some(settings) = settings else {
        return Ok(());
    };
    let password = if settings.password_sealed.is_empty() {
        String::new()
    } else {
        sealer
            .open(&settings.password_sealed)
            .map_err(AppError::internal)?
    };
    for mail in due {
        let (s, p, m) = (settings.clone(), password.clone(), mail.clone());
        let result = actix_web::web::block(move || send(&s, &p, &m))
            .await
            .map_err(AppError::caused_by)?;
        if let Err(e) = &result {
            tracing::warn!(to = %mail.to_addr, error = %e, "mail not sent");
        }
        state
            .db
            .run(move |conn| Ok(finish(conn, &mail, result)?))
            .await?;
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "integrations/email.html")]
struct EmailPage {
    layout: Layout,
    settings: SmtpSettings,
    has_password: bool,
    recent: Vec<Mail>,
    error: Option<String>,
}

async fn render(
    req: &HttpRequest,
    state: &AppState,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let (settings, recent) = state
        .db
        .run(|conn| {
            let recent = q::table
                .order(q::created_at.desc())
                .limit(20)
                .select(Mail::as_select())
                .load(conn)?;
            Ok((
                settings(conn)?.unwrap_or(SmtpSettings {
                    port: 587,
                    tls: "starttls".into(),
                    ..Default::default()
                }),
                recent,
            ))
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

pub async fn save(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
    form: web::Form<SmtpForm>,
) -> Result<HttpResponse, AppError> {
    let f = form.into_inner();
    let port = f.port.trim().parse::<u16>().ok().filter(|p| *p > 0);
    let problem = if f.host.trim().is_empty() {
        Some("Enter the SMTP host.")
    } else if port.is_none() {
        Some("Enter the port, e.g. 587 for STARTTLS or 465 for TLS.")
    } else if !matches!(f.tls.as_str(), "none" | "starttls" | "tls") {
        Some("Choose a TLS mode.")
    } else if f.sender.parse::<Mailbox>().is_err() {
        Some("Enter the sender as an address, e.g. Gatehouse <gatehouse@example.com>.")
    } else {
        None
    };
    if let Some(p) = problem {
        return render(&req, &state, Some(p.into())).await;
    }
    let sealer = Sealer::new(state.config.secret_key.bytes());
    let actor = Actor {
        user_id: Some(admin.0.user.id.clone()),
        email: admin.0.user.email.clone(),
    };
    state
        .db
        .run(move |conn| {
            // An empty password field keeps the stored one (it is never shown again).
            let old = settings(conn)?
                .map(|s| s.password_sealed)
                .unwrap_or_default();
            let password_sealed = if f.password.is_empty() {
                old
            } else {
                sealer.seal(&f.password).map_err(AppError::internal)?
            };
            let new = SmtpSettings {
                host: f.host.trim().to_string(),
                port: port.unwrap_or(587),
                tls: f.tls,
                username: f.username.trim().to_string(),
                password_sealed,
                sender: f.sender.trim().to_string(),
            };
            save_settings(conn, &new)?;
            audit::record(
                conn,
                &actor,
                "settings.smtp_changed",
                "gh_settings",
                SETTINGS_KEY,
                &serde_json::json!({ "host": new.host, "port": new.port }),
            )?;
            Ok(())
        })
        .await?;
    Ok(page::see_other(&req, "/integrations/email")
        .cookie(flash::cookie(
            "success",
            "Email settings saved.",
            state.config.secure_cookies(),
        ))
        .finish())
}

pub async fn test(
    req: HttpRequest,
    admin: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let to = admin.0.user.email.clone();
    let configured = state
        .db
        .run(move |conn| {
            if settings(conn)?.is_none() {
                return Ok(false);
            }
            crate::events::mail::enqueue(
                conn,
                &to,
                "Gatehouse test email",
                "This is a test email from Gatehouse. Email works.",
            )?;
            Ok(true)
        })
        .await?;
    if !configured {
        return render(&req, &state, Some("Save the SMTP settings first.".into())).await;
    }
    Ok(page::see_other(&req, "/integrations/email")
        .cookie(flash::cookie(
            "success",
            "Test email queued; its status shows below within seconds.",
            state.config.secure_cookies(),
        ))
        .finish())
}
