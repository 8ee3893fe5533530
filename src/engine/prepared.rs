//! Statements prepared once per Postgres connection. diesel never caches `sql_query`
//! (its text is arbitrary), so every list page, count and record read was parsed and
//! planned again on every request; on a busy list that planning cost Postgres as much
//! CPU as running the statements. A `Sql` read is prepared under a name and kept by the
//! connection's statement cache (keyed by its text) when:
//!
//! - it is a `SELECT` without `OFFSET` (whose text changes with every page number);
//! - its result types follow from its text: every selected column is read as a fixed
//!   type, except text columns with a length (`varchar(20)` may become `varchar(50)`
//!   without the text changing), which are left unprepared — Postgres refuses a prepared
//!   statement whose result types changed;
//! - the process has prepared fewer than `MAX_TEXTS` distinct texts since the schema last
//!   changed: a connection holds at most that many statements (the pool renews its
//!   connections every 30 minutes), whatever filters operators combine.
//!
//! Every text carries the schema's epoch, bumped by each catalog reload
//! (`catalog::schema_epoch`), so a statement prepared before a change is never run after
//! it. (A change made outside Gatehouse is seen within the catalog's check interval.)

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Nullable, Text, Untyped};

use crate::engine::sql::Sql;

/// Distinct statement texts prepared at most, per schema epoch.
const MAX_TEXTS: usize = 256;

/// The texts prepared in the current schema epoch.
static TEXTS: LazyLock<Mutex<(u64, HashSet<String>)>> = LazyLock::new(Default::default);

/// A `Sql` read as a statement diesel may prepare and keep.
pub(crate) struct Prepared<'a> {
    /// The text between placeholders: one more piece than there are values.
    pieces: Vec<&'a str>,
    values: Vec<Option<String>>,
    epoch: u64,
}

impl<'a> Prepared<'a> {
    pub(crate) fn of(sql: &'a Sql) -> Option<Prepared<'a>> {
        let (text, binds, placeholders, fixed_types) = sql.parts();
        if !fixed_types
            || !text.starts_with("SELECT ")
            || text.contains(" OFFSET ")
            || placeholders.len() != binds.len()
        {
            return None;
        }
        let epoch = crate::catalog::schema_epoch();
        if !admitted(text, epoch) {
            return None;
        }
        let mut pieces = Vec::with_capacity(binds.len() + 1);
        let mut from = 0;
        for &(start, end) in placeholders {
            pieces.push(text.get(from..start)?);
            from = end;
        }
        pieces.push(text.get(from..)?);
        Some(Prepared {
            pieces,
            values: binds.iter().map(|v| v.as_text()).collect(),
            epoch,
        })
    }
}

/// Whether `text` may be prepared: known already, or room for one more.
fn admitted(text: &str, epoch: u64) -> bool {
    let Ok(mut guard) = TEXTS.lock() else {
        return false;
    };
    let (known_epoch, texts) = &mut *guard;
    if *known_epoch != epoch {
        *known_epoch = epoch;
        texts.clear();
    }
    if texts.contains(text) {
        return true;
    }
    if texts.len() >= MAX_TEXTS {
        return false;
    }
    texts.insert(text.to_string());
    true
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    // Cached by its text (diesel's `StatementCacheKey::Sql`), not by a Rust type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // diesel numbers the placeholders `$1`, `$2`… in order, as `Sql::bind` wrote them.
        for (i, piece) in self.pieces.iter().enumerate() {
            out.push_sql(piece);
            if let Some(value) = self.values.get(i) {
                out.push_bind_param::<Nullable<Text>, _>(value)?;
            }
        }
        out.push_sql(&format!(" /* gh:{} */", self.epoch));
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for Prepared<'_> {}
