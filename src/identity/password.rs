//! Passwords: argon2id with one of OWASP's equal-strength parameter sets (7 MiB, 5 passes,
//! 1 lane: the set that needs least memory, so sign-ins do not grow the process), a policy check,
//! and verification against a dummy hash when the user does not exist, so the response
//! time does not tell which emails have accounts.

use std::sync::OnceLock;
use std::sync::mpsc;

use tokio::sync::oneshot;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 1024;

/// m = 7 MiB, t = 5, p = 1 (OWASP Password Storage Cheat Sheet). Stored hashes carry their
/// own parameters, so hashes made with other settings still verify.
fn hasher() -> Argon2<'static> {
    let params = Params::new(7 * 1024, 5, 1, None).unwrap_or(Params::DEFAULT);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash(password: &str) -> Result<String, String> {
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("password hashing failed: {e}"))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash("gatehouse dummy password for timing").unwrap_or_default())
}

enum Job {
    Hash(String, oneshot::Sender<Result<String, String>>),
    Verify(String, Option<String>, oneshot::Sender<bool>),
}

/// All hashing in the server happens on one thread. Each argon2 run allocates 19 MiB;
/// on many threads every one of them keeps such a block cached in the allocator and RSS
/// climbs with each sign-in, while one thread reuses one block. Sign-ins queue behind each
/// other (about 25 ms each), which the sign-in throttle keeps short.
fn hasher_thread() -> &'static mpsc::SyncSender<Job> {
    static HASHER: OnceLock<mpsc::SyncSender<Job>> = OnceLock::new();
    HASHER.get_or_init(|| {
        let (tx, rx) = mpsc::sync_channel::<Job>(64);
        let spawned = std::thread::Builder::new()
            .name("password-hasher".into())
            .spawn(move || {
                for job in rx {
                    match job {
                        Job::Hash(password, reply) => {
                            let _ = reply.send(hash(&password));
                        }
                        Job::Verify(password, stored, reply) => {
                            let _ = reply.send(verify(&password, stored.as_deref()));
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the password hasher thread");
        }
        tx
    })
}

/// Why a hashing request was not served.
#[derive(Debug)]
pub enum HasherError {
    /// More sign-ins are waiting than the queue holds: refuse rather than block a worker.
    Busy,
    Stopped,
}

fn submit(job: Job) -> Result<(), HasherError> {
    hasher_thread().try_send(job).map_err(|e| match e {
        mpsc::TrySendError::Full(_) => HasherError::Busy,
        mpsc::TrySendError::Disconnected(_) => HasherError::Stopped,
    })
}

/// Hash on the hasher thread.
pub async fn hash_async(password: String) -> Result<String, HasherError> {
    let (tx, rx) = oneshot::channel();
    submit(Job::Hash(password, tx))?;
    rx.await
        .map_err(|_| HasherError::Stopped)?
        .map_err(|_| HasherError::Stopped)
}

/// Verify on the hasher thread; never true unless the password matched.
pub async fn verify_async(password: String, stored: Option<String>) -> Result<bool, HasherError> {
    let (tx, rx) = oneshot::channel();
    submit(Job::Verify(password, stored, tx))?;
    rx.await.map_err(|_| HasherError::Stopped)
}

impl From<HasherError> for crate::error::AppError {
    fn from(e: HasherError) -> Self {
        match e {
            HasherError::Busy => crate::error::AppError::TooManyRequests(
                "Too many sign-ins are being checked right now. Try again in a few seconds.".into(),
            ),
            HasherError::Stopped => crate::error::AppError::internal("the password hasher stopped"),
        }
    }
}

/// Verify `password` against `stored`, or against the dummy hash when there is no user.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    let target = stored.unwrap_or_else(|| dummy_hash());
    let ok = hasher()
        .verify_password(password.as_bytes(), target)
        .is_ok();
    ok && stored.is_some()
}

/// The password policy, as a message for the form when it is not met.
pub fn check_policy(password: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(format!(
            "Use at least {MIN_LEN} characters (this one has {len})."
        ));
    }
    if len > MAX_LEN {
        return Err(format!("Use at most {MAX_LEN} characters."));
    }
    if password.trim().is_empty() {
        return Err("The password cannot be only spaces.".into());
    }
    Ok(())
}

/// The policy plus a strength estimate (zxcvbn): a password scored below 3 of 4 ("safely
/// unguessable") is refused with the estimator's reason. `context` holds the operator's
/// own details (email, name), which make a password weaker when it contains them.
pub fn check_strength(password: &str, context: &[&str]) -> Result<(), String> {
    check_policy(password)?;
    let estimate = zxcvbn::zxcvbn(password, context);
    if (estimate.score() as u8) < 3 {
        let reason = estimate
            .feedback()
            .and_then(|f| {
                f.warning()
                    .map(|w| w.to_string())
                    .or_else(|| f.suggestions().first().map(|s| s.to_string()))
            })
            .unwrap_or_else(|| "It would be easy to guess.".to_string());
        return Err(format!(
            "This password is too easy to guess: {reason} Try a longer phrase of unrelated words."
        ));
    }
    Ok(())
}
