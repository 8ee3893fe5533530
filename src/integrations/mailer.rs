//! The mail worker: every second it sends the queued messages that are due through SMTP
//! (`lettre`, with the stored settings), so a slow mail server never blocks a page, and
//! files each outcome (retries back off; see `store::mail`).

use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
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
        .message_id(Some(message_id(from.email.domain())))
        .from(from)
        .to(to)
        .subject(&mail.subject)
        .multipart(
            MultiPart::alternative()
                .singlepart(part(ContentType::TEXT_PLAIN, mail.body.clone()))
                .singlepart(part(ContentType::TEXT_HTML, html_of(&mail.body))),
        )
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

/// A `Message-ID` in the sender's domain (lettre would use this machine's host name).
fn message_id(domain: &str) -> String {
    format!("<{}@{domain}>", uuid::Uuid::now_v7().simple())
}

/// A part whose lines reach the reader as written: 7bit when the text is ASCII with lines
/// within RFC 5322's 998 octets (links stay whole in the raw message; lettre would pick
/// quoted-printable past 76, whose soft line breaks inside a long link break it in strict
/// clients), base64 otherwise.
fn part(kind: ContentType, text: String) -> SinglePart {
    let unix = text.replace("\r\n", "\n");
    let seven_bit = unix.bytes().all(|b| b.is_ascii() && b != 0 && b != b'\r')
        && unix.lines().all(|l| l.len() <= 998);
    let body = if seven_bit {
        Body::dangerous_pre_encoded(
            unix.replace('\n', "\r\n").into_bytes(),
            ContentTransferEncoding::SevenBit,
        )
    } else {
        match Body::new_with_encoding(text, ContentTransferEncoding::Base64) {
            Ok(body) => body,
            Err(bytes) => Body::new(bytes),
        }
    };
    SinglePart::builder().header(kind).body(body)
}

/// The HTML alternative of a plain-text mail: escaped, a paragraph per block, links made
/// clickable.
fn html_of(text: &str) -> String {
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let lines: Vec<String> = p
                .lines()
                .map(|line| {
                    line.split(' ')
                        .map(|word| {
                            let escaped = html_escape(word);
                            if word.starts_with("https://") || word.starts_with("http://") {
                                format!("<a href=\"{escaped}\">{escaped}</a>")
                            } else {
                                escaped
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            format!("<p>{}</p>", lines.join("<br>\n"))
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n{}\n</body></html>\n",
        paragraphs.join("\n")
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Start the mail worker on the current actix runtime.
pub fn spawn(state: AppState) {
    let running = state.lifecycle.enter();
    actix_web::rt::spawn(async move {
        let _running = running;
        // Stopping: the mails claimed in the last tick were sent; claim no more.
        while !state.lifecycle.stopping() {
            match tick(&state).await {
                // A database refusing writes is logged once, by the database's health.
                Err(e) if state.db.degraded().is_some() => {
                    tracing::debug!(error = %e, "mail worker")
                }
                Err(e) => tracing::warn!(error = %e, "mail worker"),
                Ok(()) => {}
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
