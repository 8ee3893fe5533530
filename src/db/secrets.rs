//! Everything derived from the secret key: random tokens, the keyed MACs (session ids are
//! stored as MACs of the cookie value, so a copy of the table cannot be replayed as cookies;
//! CSRF tokens are MACs of the cookie they belong to), and the sealing of secrets at rest
//! (webhook secrets, SMTP passwords, TOTP secrets) with ChaCha20-Poly1305, stored as base64
//! of nonce ‖ ciphertext.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
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
    hex::encode(bytes)
}

/// The derived keys, each MAC keyed once: a request's session id and CSRF token then cost
/// only the MAC of their data (the key's padding blocks are not hashed again every time).
pub struct Keys {
    session: HmacSha256,
    csrf: HmacSha256,
    cookie: [u8; 64],
}

/// HMAC-SHA256 keyed with `key` (any length is accepted, so this cannot fail).
fn keyed(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

impl Keys {
    pub fn derive(secret: &[u8]) -> Keys {
        Keys {
            session: keyed(&mac(secret, b"gatehouse/session-id/v1")),
            csrf: keyed(&mac(secret, b"gatehouse/csrf/v1")),
            cookie: {
                let mut key = [0u8; 64];
                key[..32].copy_from_slice(&mac(secret, b"gatehouse/session-cookie/v1/a"));
                key[32..].copy_from_slice(&mac(secret, b"gatehouse/session-cookie/v1/b"));
                key
            },
        }
    }

    /// The key that signs the session cookie (actix-session wants 64 bytes). Derived from
    /// the secret key, so sessions survive restarts and every instance accepts them.
    pub fn cookie_key(&self) -> [u8; 64] {
        self.cookie
    }

    /// The database id of the session whose cookie holds `token`.
    pub fn session_id(&self, token: &str) -> String {
        hex(&finish(&self.session, token.as_bytes()))
    }

    /// The CSRF token bound to a cookie value.
    pub fn csrf_token(&self, binding: &str) -> String {
        URL_SAFE_NO_PAD.encode(finish(&self.csrf, binding.as_bytes()))
    }

    /// Constant-time check of a submitted CSRF token.
    pub fn csrf_valid(&self, binding: &str, submitted: &str) -> bool {
        let Ok(submitted) = URL_SAFE_NO_PAD.decode(submitted.trim()) else {
            return false;
        };
        let mut m = self.csrf.clone();
        m.update(binding.as_bytes());
        m.verify_slice(&submitted).is_ok()
    }
}

fn mac(key: &[u8], data: &[u8]) -> [u8; 32] {
    finish(&keyed(key), data)
}

/// The MAC of `data` under an already keyed HMAC.
fn finish(keyed: &HmacSha256, data: &[u8]) -> [u8; 32] {
    let mut m = keyed.clone();
    m.update(data);
    m.finalize().into_bytes().into()
}

/// Seals and opens secrets at rest.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl Sealer {
    pub fn new(secret_key: &[u8]) -> Sealer {
        let mut m =
            <Hmac<Sha256> as Mac>::new_from_slice(secret_key).unwrap_or_else(|_| unreachable!());
        m.update(b"gatehouse/secrets-at-rest/v1");
        let key: [u8; 32] = m.finalize().into_bytes().into();
        Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    pub fn seal(&self, plain: &str) -> Result<String, String> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = self
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .map_err(|_| "encryption failed".to_string())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<String, String> {
        let raw = STANDARD
            .decode(sealed)
            .map_err(|_| "not a sealed secret".to_string())?;
        if raw.len() < 12 {
            return Err("not a sealed secret".into());
        }
        let (nonce, ct) = raw.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| "cannot decrypt: was the secret key changed?".to_string())?;
        String::from_utf8(plain).map_err(|_| "not text".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_the_same_key_only() {
        let a = Sealer::new(&[7u8; 64]);
        let sealed = a.seal("whsec_abc").unwrap();
        assert!(!sealed.contains("whsec"));
        assert_eq!(a.open(&sealed).unwrap(), "whsec_abc");
        assert!(Sealer::new(&[8u8; 64]).open(&sealed).is_err());
    }
}
