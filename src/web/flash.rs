//! One-shot messages shown on the next page ("You have been signed out"), carried across
//! the redirect in the session (actix-session, `identity::session_store`: a visitor who is
//! not signed in gets a session for it) and removed once shown.

use actix_session::SessionExt;
use actix_web::{HttpMessage, HttpRequest};
use serde::{Deserialize, Serialize};

/// The session entry holding the pending message.
pub const KEY: &str = "flash";

#[derive(Debug, Clone)]
pub struct Flash {
    /// `success`, `info` or `error` (a CSS class and an icon).
    pub kind: &'static str,
    pub message: String,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    kind: String,
    message: String,
}

/// Show `message` on the next page this browser renders.
pub fn set(req: &HttpRequest, kind: &'static str, message: &str) {
    let stored = Stored {
        kind: kind.to_string(),
        message: message.chars().take(300).collect(),
    };
    if let Err(error) = req.get_session().insert(KEY, stored) {
        tracing::warn!(%error, "a flash message could not be kept");
    }
}

/// The messages taken from the session by this request, kept for a second layout built by
/// the same request (an extractor's and the handler's own).
#[derive(Clone)]
struct Taken(Vec<Flash>);

/// The pending messages, removed from the session (the same ones for every call within
/// one request).
pub fn take(req: &HttpRequest) -> Vec<Flash> {
    if let Some(Taken(taken)) = req.extensions().get::<Taken>().cloned() {
        return taken;
    }
    let taken = take_stored(req);
    req.extensions_mut().insert(Taken(taken.clone()));
    taken
}

fn take_stored(req: &HttpRequest) -> Vec<Flash> {
    let session = req.get_session();
    // Only a session holding a message changes (and is written) when it is shown.
    if !session.contains_key(KEY) {
        return Vec::new();
    }
    let Some(Ok(stored)) = session.remove_as::<Stored>(KEY) else {
        return Vec::new();
    };
    let kind = match stored.kind.as_str() {
        "success" => "success",
        "error" => "error",
        _ => "info",
    };
    if stored.message.is_empty() {
        return Vec::new();
    }
    vec![Flash {
        kind,
        message: stored.message,
    }]
}
