//! The ops slice's queries: the depths and counts `/metrics` reads at scrape time, each a
//! single indexed-or-small count over Gatehouse's own tables.

use diesel::prelude::*;
use std::time::Duration;

use crate::db::DbConn;
use crate::db::schema::{gh_mail_queue, gh_outbox, gh_sessions, gh_webhook_endpoints};
use crate::identity::sessions::STAGE_FULL;

/// What the queues and tables hold now.
#[derive(Debug, Clone, Copy)]
pub struct Depths {
    pub sessions_active: i64,
    pub outbox_pending: i64,
    pub endpoints_disabled: i64,
    pub mail_pending: i64,
}

/// Count them; a session is active when signed in fully, seen within `idle` and younger
/// than `lifetime`.
pub fn depths(
    conn: &mut DbConn,
    idle: Duration,
    lifetime: Duration,
    now: chrono::NaiveDateTime,
) -> QueryResult<Depths> {
    let to_chrono = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    let sessions_active = gh_sessions::table
        .filter(gh_sessions::stage.eq(STAGE_FULL))
        .filter(gh_sessions::last_seen_at.ge(now - to_chrono(idle)))
        .filter(gh_sessions::created_at.ge(now - to_chrono(lifetime)))
        .count()
        .get_result(conn)?;
    let outbox_pending = gh_outbox::table
        .filter(gh_outbox::status.eq("pending"))
        .count()
        .get_result(conn)?;
    let endpoints_disabled = gh_webhook_endpoints::table
        .filter(gh_webhook_endpoints::enabled.eq(false))
        .count()
        .get_result(conn)?;
    let mail_pending = gh_mail_queue::table
        .filter(gh_mail_queue::status.eq("pending"))
        .count()
        .get_result(conn)?;
    Ok(Depths {
        sessions_active,
        outbox_pending,
        endpoints_disabled,
        mail_pending,
    })
}
