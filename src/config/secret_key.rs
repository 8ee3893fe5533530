//! The secret key every MAC and sealed secret is derived from: given as a value, read from
//! a file, or generated on first start into the data directory (mode 0600).

use std::fmt;
use std::path::{Path, PathBuf};

use super::{KEY_FILE_NAME, MIN_SECRET_LEN, Settings};

/// A secret that never shows itself in `Debug` output or logs.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<{} bytes, redacted>)", self.0.len())
    }
}

/// Where the secret key comes from, so `check-config` can say so without showing it.
#[derive(Debug, Clone)]
pub enum KeySource {
    Value,
    File(PathBuf),
    Generated(PathBuf),
}

pub(super) fn load_secret_key(
    s: &Settings,
    create: bool,
) -> Result<(SecretKey, KeySource), String> {
    if let Some(value) = &s.secret_key {
        return check_key_len(
            value.as_bytes().to_vec(),
            "--secret-key / GATEHOUSE_SECRET_KEY",
        )
        .map(|k| (k, KeySource::Value));
    }
    if let Some(path) = &s.secret_key_file {
        let raw = std::fs::read(path).map_err(|e| {
            format!(
                "--secret-key-file / GATEHOUSE_SECRET_KEY_FILE: cannot read {}: {e}",
                path.display()
            )
        })?;
        return check_key_len(trim_newline(raw), "the secret key file")
            .map(|k| (k, KeySource::File(path.clone())));
    }
    let path = s.data_dir.join(KEY_FILE_NAME);
    match std::fs::read(&path) {
        Ok(raw) => check_key_len(trim_newline(raw), &format!("key file {}", path.display()))
            .map(|k| (k, KeySource::Generated(path))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if create {
                create_key_file(&path).map(|k| (k, KeySource::Generated(path)))
            } else {
                Ok((
                    SecretKey(vec![0; MIN_SECRET_LEN]),
                    KeySource::Generated(path),
                ))
            }
        }
        Err(e) => Err(format!("cannot read key file {}: {e}", path.display())),
    }
}

fn trim_newline(mut raw: Vec<u8>) -> Vec<u8> {
    while raw.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        raw.pop();
    }
    raw
}

fn check_key_len(raw: Vec<u8>, what: &str) -> Result<SecretKey, String> {
    if raw.len() < MIN_SECRET_LEN {
        return Err(format!(
            "{what}: the secret key must be at least {MIN_SECRET_LEN} bytes (got {}); \
             generate one with `openssl rand -base64 64`",
            raw.len()
        ));
    }
    Ok(SecretKey(raw))
}

fn create_key_file(path: &Path) -> Result<SecretKey, String> {
    use base64::Engine;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
    }
    let mut bytes = [0u8; 64];
    getrandom::fill(&mut bytes).map_err(|e| format!("no system randomness: {e}"))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create key file {}: {e}", path.display()))?;
    file.write_all(encoded.as_bytes())
        .map_err(|e| format!("cannot write key file {}: {e}", path.display()))?;
    Ok(SecretKey(encoded.into_bytes()))
}
