//! The mail worker: every second it sends the queued messages that are due through SMTP
//! (`lettre`, with the stored settings), so a slow mail server never blocks a page, and
//! files each outcome (retries back off; see `store::mail`).

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use crate::db::now;
use crate::db::secrets::Sealer;
use crate::error::AppError;
use crate::integrations::store::mail::{self, Mail, SmtpSettings};
use crate::metrics;
use crate::state::AppState;

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

/// Start the mail worker on the current actix runtime.
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
            let Some(settings) = mail::settings(conn)? else {
                return Ok((None, Vec::new()));
            };
            Ok((Some(settings), mail::claim(conn, now())?))
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
    for message in due {
        let (s, p, m) = (settings.clone(), password.clone(), message.clone());
        let result = actix_web::web::block(move || send(&s, &p, &m))
            .await
            .map_err(AppError::caused_by)?;
        metrics::global().mail_attempt(result.is_ok());
        if let Err(e) = &result {
            tracing::warn!(to = %message.to_addr, error = %e, "mail not sent");
        }
        state
            .db
            .run(move |conn| Ok(mail::finish(conn, &message, result)?))
            .await?;
    }
    Ok(())
}
