//! A software authenticator for the server-side passkey tests: a P-256 key made with
//! openssl, answers encoded as a browser would send them (CBOR attestation with the "none"
//! format, ES256 assertions over authenticator data and the client data hash).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::Private;
use openssl::sha::sha256;
use serde_json::{Value, json};

/// The origin the tests' browser answers from: the app runs with
/// `--public-url http://localhost` (any port is accepted on localhost).
pub const ORIGIN: &str = "http://localhost";
pub const PUBLIC_URL: &[&str] = &["--public-url", "http://localhost"];

pub struct SoftKey {
    key: EcKey<Private>,
    pub cred_id: Vec<u8>,
    pub counter: u32,
    user_handle: Vec<u8>,
}

fn head(major: u8, len: usize, out: &mut Vec<u8>) {
    let m = major << 5;
    match len {
        0..=23 => out.push(m | len as u8),
        24..=255 => out.extend([m | 24, len as u8]),
        _ => {
            out.push(m | 25);
            out.extend((len as u16).to_be_bytes());
        }
    }
}

fn int(v: i64, out: &mut Vec<u8>) {
    if v >= 0 {
        head(0, v as usize, out)
    } else {
        head(1, (-1 - v) as usize, out)
    }
}

fn bytes(b: &[u8], out: &mut Vec<u8>) {
    head(2, b.len(), out);
    out.extend_from_slice(b);
}

fn text(t: &str, out: &mut Vec<u8>) {
    head(3, t.len(), out);
    out.extend_from_slice(t.as_bytes());
}

fn client_data(kind: &str, challenge: &str) -> Vec<u8> {
    json!({"type": kind, "challenge": challenge, "origin": ORIGIN, "crossOrigin": false})
        .to_string()
        .into_bytes()
}

impl SoftKey {
    pub fn new() -> SoftKey {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let mut cred_id = vec![0u8; 32];
        openssl::rand::rand_bytes(&mut cred_id).unwrap();
        SoftKey {
            key: EcKey::generate(&group).unwrap(),
            cred_id,
            counter: 0,
            user_handle: Vec::new(),
        }
    }

    fn cose_key(&self) -> Vec<u8> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
        let mut ctx = BigNumContext::new().unwrap();
        self.key
            .public_key()
            .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
            .unwrap();
        let mut out = Vec::new();
        head(5, 5, &mut out);
        int(1, &mut out);
        int(2, &mut out);
        int(3, &mut out);
        int(-7, &mut out);
        int(-1, &mut out);
        int(1, &mut out);
        int(-2, &mut out);
        bytes(&x.to_vec_padded(32).unwrap(), &mut out);
        int(-3, &mut out);
        bytes(&y.to_vec_padded(32).unwrap(), &mut out);
        out
    }

    fn auth_data(&self, rp_id: &str, flags: u8, attested: bool) -> Vec<u8> {
        let mut data = sha256(rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend(self.counter.to_be_bytes());
        if attested {
            data.extend([0u8; 16]);
            data.extend((self.cred_id.len() as u16).to_be_bytes());
            data.extend(&self.cred_id);
            data.extend(self.cose_key());
        }
        data
    }

    /// The answer to registration options (`options` is the server's JSON, `publicKey`
    /// inside), as `static/passkeys.js` posts it.
    pub fn register(&mut self, options: &Value) -> String {
        let pk = &options["publicKey"];
        let rp_id = pk["rp"]["id"].as_str().unwrap();
        let user_id = pk["user"]["id"].as_str().unwrap();
        self.user_handle = B64.decode(user_id.trim_end_matches('=')).unwrap();
        // User present, user verified, attested credential data.
        let auth = self.auth_data(rp_id, 0x01 | 0x04 | 0x40, true);
        let mut att = Vec::new();
        head(5, 3, &mut att);
        text("fmt", &mut att);
        text("none", &mut att);
        text("attStmt", &mut att);
        head(5, 0, &mut att);
        text("authData", &mut att);
        bytes(&auth, &mut att);
        let cd = client_data("webauthn.create", pk["challenge"].as_str().unwrap());
        json!({
            "id": B64.encode(&self.cred_id),
            "rawId": B64.encode(&self.cred_id),
            "type": "public-key",
            "response": {"attestationObject": B64.encode(&att), "clientDataJSON": B64.encode(&cd)},
            "extensions": {},
        })
        .to_string()
    }

    /// The answer to authentication options; the counter goes up first.
    pub fn assert(&mut self, options: &Value) -> String {
        self.counter += 1;
        self.assert_with_counter(options, self.counter)
    }

    /// An answer with a chosen counter (a cloned authenticator's would go backwards).
    pub fn assert_with_counter(&mut self, options: &Value, counter: u32) -> String {
        let pk = &options["publicKey"];
        let rp_id = pk["rpId"].as_str().unwrap();
        let saved = self.counter;
        self.counter = counter;
        let auth = self.auth_data(rp_id, 0x01 | 0x04, false);
        self.counter = saved.max(counter);
        let cd = client_data("webauthn.get", pk["challenge"].as_str().unwrap());
        let mut signed = auth.clone();
        signed.extend(sha256(&cd));
        let sig = EcdsaSig::sign(&sha256(&signed), &self.key)
            .unwrap()
            .to_der()
            .unwrap();
        json!({
            "id": B64.encode(&self.cred_id),
            "rawId": B64.encode(&self.cred_id),
            "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(&auth),
                "clientDataJSON": B64.encode(&cd),
                "signature": B64.encode(&sig),
                "userHandle": B64.encode(&self.user_handle),
            },
            "extensions": {},
        })
        .to_string()
    }
}
