//! TOTP as used here (RFC 6238, SHA-1, 6 digits, 30 s, via `totp-rs`): secrets, the time
//! step a typed code belongs to, the enrolment QR code as an SVG data URI, and the
//! single-use recovery codes (stored hashed).

use base64::Engine;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::db::secrets::{random_token, sha256_hex};
use crate::error::AppError;

const STEP: u64 = 30;

pub fn totp(secret_b32: &str, email: &str) -> Result<TOTP, AppError> {
    let bytes = Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|e| AppError::internal(format!("stored TOTP secret unreadable: {e:?}")))?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        bytes,
        Some("Gatehouse".into()),
        email.to_string(),
    )
    .map_err(|e| AppError::internal(format!("TOTP: {e}")))
}

pub fn new_secret() -> String {
    Secret::generate_secret().to_encoded().to_string()
}

/// The time step whose code `code` is (now, or one step either side for clock drift).
pub fn matching_step(t: &TOTP, code: &str) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let now = u64::try_from(chrono::Utc::now().timestamp()).ok()?;
    [now.saturating_sub(STEP), now, now + STEP]
        .into_iter()
        .find(|time| t.generate(*time) == code)
        .map(|time| (time / STEP) as i64)
}

/// An SVG QR code of the `otpauth://` URL, as a data URI for an `<img>` (no inline markup).
pub fn qr_data_uri(t: &TOTP) -> Result<String, AppError> {
    let code = qrcode::QrCode::new(t.get_url().as_bytes())
        .map_err(|e| AppError::internal(format!("QR: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

pub fn recovery_codes() -> Vec<String> {
    (0..10)
        .map(|_| {
            let raw: String = random_token()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(10)
                .collect::<String>()
                .to_lowercase();
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect()
}

pub fn code_hash(code: &str) -> String {
    sha256_hex(&code.trim().to_lowercase())
}
