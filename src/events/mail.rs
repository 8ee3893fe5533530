//! The mail queue's entrance: a message is queued in the caller's transaction (an invitation
//! exists exactly when its operator does); the integrations slice's worker sends it.

use diesel::prelude::*;

use crate::db::schema::gh_mail_queue as q;
use crate::db::{DbConn, new_id, now};

/// Queue a message (inside the caller's transaction, when there is one).
pub fn enqueue(conn: &mut DbConn, to: &str, subject: &str, body: &str) -> QueryResult<()> {
    let at = now();
    diesel::insert_into(q::table)
        .values((
            q::id.eq(new_id()),
            q::to_addr.eq(to),
            q::subject.eq(subject),
            q::body.eq(body),
            q::created_at.eq(at),
            q::next_attempt_at.eq(at),
            q::attempts.eq(0),
            q::status.eq("pending"),
        ))
        .execute(conn)?;
    Ok(())
}
