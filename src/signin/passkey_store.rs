//! The passkey ceremonies' database work: begin (options for the browser, the state kept
//! server side) and finish (the state taken once, the browser's answer verified by
//! webauthn-rs, the credential stored or its counter and backup state rewritten).
//! Registration and removal are audited and end the operator's other sessions.

use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Uuid, Webauthn,
};

use crate::audit::{self, Actor};
use crate::db::{self, DbConn, now};
use crate::error::AppError;
use crate::identity::passkeys::{
    self, NewChallenge, NewPasskey, PURPOSE_PASSWORDLESS, PURPOSE_REGISTER, PURPOSE_SECOND,
    credential_key,
};
use crate::identity::users::{self, User};
use crate::identity::{CurrentUser, roles, sessions};

/// A refusal the operator is told about.
pub type Refusal = String;

/// Where a ceremony is bound: the operator (none before a passwordless sign-in) and the
/// session or anonymous cookie (hashed) that began it.
#[derive(Clone)]
pub struct Binding {
    pub user_id: Option<String>,
    pub key: String,
}

impl Binding {
    fn challenge<'a>(&'a self, purpose: &'static str, state: &'a str) -> NewChallenge<'a> {
        NewChallenge {
            purpose,
            user_id: self.user_id.as_deref(),
            binding: &self.key,
            state,
        }
    }
}

/// The options for the browser and the id of the stored challenge it answers.
#[derive(serde::Serialize)]
pub struct Options {
    pub challenge: String,
    pub options: serde_json::Value,
}

fn save<S: serde::Serialize, O: serde::Serialize>(
    conn: &mut DbConn,
    binding: &Binding,
    purpose: &'static str,
    state: &S,
    options: &O,
) -> Result<Options, AppError> {
    let state = serde_json::to_string(state).map_err(AppError::caused_by)?;
    let options = serde_json::to_value(options).map_err(AppError::caused_by)?;
    let challenge = passkeys::save_challenge(conn, binding.challenge(purpose, &state), now())?;
    Ok(Options { challenge, options })
}

/// Take the state of challenge `id`, once; the refusal when it is used, foreign or expired.
fn take<S: serde::de::DeserializeOwned>(
    conn: &mut DbConn,
    binding: &Binding,
    purpose: &'static str,
    id: &str,
) -> Result<Result<S, Refusal>, AppError> {
    let taken = db::write_tx(conn, |conn| {
        passkeys::take_challenge(conn, id, binding.challenge(purpose, ""), now())
    })?;
    Ok(match taken {
        Ok(state) => Ok(serde_json::from_str(&state).map_err(AppError::caused_by)?),
        Err(refusal) => Err(refusal.to_string()),
    })
}

fn answer<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, Refusal> {
    if json.trim().is_empty() {
        return Err(
            "Your browser did not send a passkey (passkeys need JavaScript and a browser that supports them)."
                .into(),
        );
    }
    serde_json::from_str(json).map_err(|_| "The browser's passkey answer could not be read.".into())
}

fn user_handle(user_id: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(user_id).map_err(AppError::caused_by)
}

/// Options to register a new passkey for `user`, excluding the ones they have. The
/// credential is asked to be discoverable (resident) so it can sign in without a password.
pub fn begin_registration(
    conn: &mut DbConn,
    rp: &Webauthn,
    user: &CurrentUser,
    binding: &Binding,
) -> Result<Options, AppError> {
    let mut exclude = Vec::new();
    for record in passkeys::passkeys_of(conn, &user.id)? {
        exclude.push(record.passkey()?.cred_id().clone());
    }
    let (ccr, state) = rp
        .start_passkey_registration(
            user_handle(&user.id)?,
            &user.email,
            &user.display_name,
            Some(exclude),
        )
        .map_err(AppError::caused_by)?;
    let mut options = save(conn, binding, PURPOSE_REGISTER, &state, &ccr)?;
    if let Some(selection) = options.options["publicKey"]["authenticatorSelection"].as_object_mut()
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
    Ok(options)
}

/// The browser's answer to a registration, with the name the operator chose.
pub struct Registration {
    pub challenge: String,
    pub credential: String,
    pub name: String,
    pub passwordless: bool,
}

/// Verify and store a new passkey; audited, and every other session of the operator ends
/// (all of them when `keep` is `None`). Returns how many sessions ended.
pub fn finish_registration(
    conn: &mut DbConn,
    rp: &Webauthn,
    binding: &Binding,
    keep: Option<&str>,
    actor: &Actor,
    form: Registration,
) -> Result<Result<usize, Refusal>, AppError> {
    let user = binding.user_id.clone().ok_or(AppError::Unauthorized)?;
    let state: PasskeyRegistration = match take(conn, binding, PURPOSE_REGISTER, &form.challenge)? {
        Ok(state) => state,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let reg: RegisterPublicKeyCredential = match answer(&form.credential) {
        Ok(reg) => reg,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let passkey = match rp.finish_passkey_registration(&reg, &state) {
        Ok(passkey) => passkey,
        Err(e) => return Ok(Err(format!("The passkey was not accepted ({e})."))),
    };
    let key = credential_key(passkey.cred_id().as_ref());
    let json = serde_json::to_string(&passkey).map_err(AppError::caused_by)?;
    db::write_tx(conn, |conn| {
        if passkeys::find_by_credential(conn, &key)?.is_some() {
            return Ok(Err("This passkey is registered already.".into()));
        }
        let new = NewPasskey {
            user_id: &user,
            credential_id: &key,
            name: &form.name,
            credential: &json,
            passwordless: form.passwordless,
        };
        let id = passkeys::insert(conn, new, now())?;
        let ended = end_sessions(conn, &user, keep)?;
        let changes = serde_json::json!({
            "passkey": id, "name": form.name, "passwordless": form.passwordless,
            "sessions_ended": ended,
        });
        audit::record(
            conn,
            actor,
            "user.passkey_added",
            "gh_users",
            &user,
            &changes,
        )?;
        Ok(Ok(ended))
    })
}

fn end_sessions(conn: &mut DbConn, user: &str, keep: Option<&str>) -> Result<usize, AppError> {
    Ok(match keep {
        Some(keep) => sessions::delete_other_sessions(conn, user, keep)?,
        None => sessions::delete_user_sessions(conn, user)?,
    })
}

/// Remove one of the operator's passkeys, audited, ending their other sessions; the
/// refusal when a role that requires a passkey would be left without one.
pub fn remove(
    conn: &mut DbConn,
    user: &CurrentUser,
    id: &str,
) -> Result<Result<(String, usize), Refusal>, AppError> {
    let actor = Actor::from(user);
    db::write_tx(conn, |conn| {
        let mine = passkeys::passkeys_of(conn, &user.id)?;
        if !mine.iter().any(|r| r.id == id) {
            return Err(AppError::NotFound);
        }
        if mine.len() == 1 && roles::requires_passkey(conn, &user.role)? {
            return Ok(Err(
                "Your role requires a passkey: add another one before removing your last.".into(),
            ));
        }
        let name = passkeys::delete(conn, &user.id, id)?.ok_or(AppError::NotFound)?;
        let ended = sessions::delete_other_sessions(conn, &user.id, &user.session_id)?;
        let changes = serde_json::json!({ "passkey": id, "name": name, "sessions_ended": ended });
        audit::record(
            conn,
            &actor,
            "user.passkey_removed",
            "gh_users",
            &user.id,
            &changes,
        )?;
        Ok(Ok((name, ended)))
    })
}

/// Whether the operator holds a passkey, and whether their role requires one.
pub struct PasskeyRule {
    pub has: bool,
    pub required: bool,
}

/// Whether the role requires two-factor sign-in, and the operator's passkey rule.
pub fn second_factor_rules(
    conn: &mut DbConn,
    user: &str,
    role: &str,
) -> diesel::QueryResult<(bool, PasskeyRule)> {
    let rule = PasskeyRule {
        has: passkeys::count_of(conn, user)? > 0,
        required: roles::requires_passkey(conn, role)?,
    };
    Ok((roles::requires_2fa(conn, role)?, rule))
}

/// Whether an operator at the passkey step may use a TOTP code instead: they have TOTP
/// and their role does not require a passkey.
pub fn code_allowed(conn: &mut DbConn, user: &str, role: &str) -> Result<bool, AppError> {
    let totp = users::find(conn, user)?.is_some_and(|u| u.totp_secret.is_some());
    Ok(totp && !roles::requires_passkey(conn, role)?)
}

/// Options for the second step of sign-in: the operator's own passkeys.
pub fn begin_second_step(
    conn: &mut DbConn,
    rp: &Webauthn,
    binding: &Binding,
) -> Result<Options, AppError> {
    let user = binding.user_id.as_deref().ok_or(AppError::Unauthorized)?;
    let mut keys = Vec::new();
    for record in passkeys::passkeys_of(conn, user)? {
        keys.push(record.passkey()?);
    }
    if keys.is_empty() {
        return Err(AppError::Unauthorized);
    }
    let (rcr, state) = rp
        .start_passkey_authentication(&keys)
        .map_err(AppError::caused_by)?;
    save(conn, binding, PURPOSE_SECOND, &state, &rcr)
}

/// Verify the second step of sign-in.
pub fn finish_second_step(
    conn: &mut DbConn,
    rp: &Webauthn,
    binding: &Binding,
    challenge: &str,
    credential: &str,
) -> Result<Result<(), Refusal>, AppError> {
    let user = binding.user_id.clone().ok_or(AppError::Unauthorized)?;
    let state: PasskeyAuthentication = match take(conn, binding, PURPOSE_SECOND, challenge)? {
        Ok(state) => state,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let cred: PublicKeyCredential = match answer(credential) {
        Ok(cred) => cred,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let result = match rp.finish_passkey_authentication(&cred, &state) {
        Ok(result) => result,
        Err(e) => return Ok(Err(format!("The passkey was not accepted ({e})."))),
    };
    let key = credential_key(result.cred_id().as_ref());
    match passkeys::find_by_credential(conn, &key)?.filter(|r| r.user_id == user) {
        Some(record) => note_use(conn, record, &result).map(Ok),
        None => Ok(Err("This passkey is not registered to your account.".into())),
    }
}

/// Store the counter and backup state the authenticator reported (webauthn-rs refused a
/// counter that went backwards) and the time of use.
fn note_use(
    conn: &mut DbConn,
    record: passkeys::PasskeyRecord,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> Result<(), AppError> {
    let mut passkey: Passkey = record.passkey()?;
    let changed = passkey.update_credential(result).unwrap_or(false);
    let json = if changed {
        Some(serde_json::to_string(&passkey).map_err(AppError::caused_by)?)
    } else {
        None
    };
    passkeys::record_use(conn, &record.id, json.as_deref(), now())?;
    Ok(())
}

/// Options for a passwordless sign-in: no user yet, the authenticator offers its
/// discoverable credentials.
pub fn begin_passwordless(
    conn: &mut DbConn,
    rp: &Webauthn,
    binding: &Binding,
) -> Result<Options, AppError> {
    let (rcr, state) = rp
        .start_discoverable_authentication()
        .map_err(AppError::caused_by)?;
    save(conn, binding, PURPOSE_PASSWORDLESS, &state, &rcr)
}

/// Verify a passwordless sign-in; the operator it signs in.
pub fn finish_passwordless(
    conn: &mut DbConn,
    rp: &Webauthn,
    binding: &Binding,
    challenge: &str,
    credential: &str,
) -> Result<Result<User, Refusal>, AppError> {
    let state: DiscoverableAuthentication =
        match take(conn, binding, PURPOSE_PASSWORDLESS, challenge)? {
            Ok(state) => state,
            Err(refusal) => return Ok(Err(refusal)),
        };
    let cred: PublicKeyCredential = match answer(credential) {
        Ok(cred) => cred,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let refused = || Ok(Err("This passkey cannot sign in without a password.".into()));
    let Ok((handle, raw_id)) = rp.identify_discoverable_authentication(&cred) else {
        return refused();
    };
    let Some(record) = passkeys::find_by_credential(conn, &credential_key(raw_id))? else {
        return refused();
    };
    let Some(user) = users::find(conn, &record.user_id)? else {
        return refused();
    };
    if !record.passwordless || user_handle(&user.id).ok() != Some(handle) || user.disabled {
        return refused();
    }
    let key = DiscoverableKey::from(record.passkey()?);
    let result = match rp.finish_discoverable_authentication(&cred, state, &[key]) {
        Ok(result) => result,
        Err(e) => return Ok(Err(format!("The passkey was not accepted ({e})."))),
    };
    note_use(conn, record, &result)?;
    Ok(Ok(user))
}
