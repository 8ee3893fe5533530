//! Standard Webhooks signing: `webhook-id`, `webhook-timestamp` and `webhook-signature`
//! (`v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`, keyed by the base64-decoded
//! part of a `whsec_` secret). During a rotation both signatures are sent, space-separated.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";

pub fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    // A failing system RNG would give a guessable secret: refuse to go on.
    if let Err(e) = getrandom::fill(&mut bytes) {
        panic!("the operating system's random number generator failed: {e}");
    }
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .map_err(|_| "malformed webhook secret".to_string())?;
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key).map_err(|_| "bad key".to_string())?;
    m.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", STANDARD.encode(m.finalize().into_bytes())))
}
