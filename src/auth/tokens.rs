//! Random tokens and the keyed MACs derived from the secret key: session ids are stored as
//! MACs of the cookie value (a copy of the table cannot be replayed as cookies), CSRF tokens
//! are MACs of the cookie they belong to (nothing extra to store).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// A fresh random token: 32 bytes from the OS, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut bytes) {
        // Without system randomness no token is safe; stopping beats issuing guessable ones.
        panic!("the operating system's random number generator failed: {e}");
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Plain SHA-256 in hex, for one-time tokens stored at rest (setup links).
pub fn sha256_hex(value: &str) -> String {
    hex(&Sha256::digest(value.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Keys {
    session: Vec<u8>,
    csrf: Vec<u8>,
}

impl Keys {
    pub fn derive(secret: &[u8]) -> Keys {
        Keys {
            session: mac(secret, b"gatehouse/session-id/v1").to_vec(),
            csrf: mac(secret, b"gatehouse/csrf/v1").to_vec(),
        }
    }

    /// The database id of the session whose cookie holds `token`.
    pub fn session_id(&self, token: &str) -> String {
        hex(&mac(&self.session, token.as_bytes()))
    }

    /// The CSRF token bound to a cookie value.
    pub fn csrf_token(&self, binding: &str) -> String {
        URL_SAFE_NO_PAD.encode(mac(&self.csrf, binding.as_bytes()))
    }

    /// Constant-time check of a submitted CSRF token.
    pub fn csrf_valid(&self, binding: &str, submitted: &str) -> bool {
        let Ok(submitted) = URL_SAFE_NO_PAD.decode(submitted.trim()) else {
            return false;
        };
        let Ok(mut m) = HmacSha256::new_from_slice(&self.csrf) else {
            return false;
        };
        m.update(binding.as_bytes());
        m.verify_slice(&submitted).is_ok()
    }
}

fn mac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(data);
    m.finalize().into_bytes().into()
}
