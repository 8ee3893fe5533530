//! Secrets at rest (webhook secrets, later SMTP passwords): encrypted with
//! ChaCha20-Poly1305 (RustCrypto AEAD), keyed from the configured
//! secret key; stored as base64 of nonce ‖ ciphertext.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

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
