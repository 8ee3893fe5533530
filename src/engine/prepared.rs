//! Statements prepared once per connection (Postgres and SQLite). diesel never caches `sql_query`
//! (its text is arbitrary), so every list page, count and record read was parsed and
//! planned again on every request; on a busy list that planning cost Postgres as much
//! CPU as running the statements. A `Sql` read is prepared under a name and kept by the
//! connection's statement cache (keyed by its text) when:
//!
//! - it is a `SELECT` without `OFFSET` (whose text changes with every page number), or
//!   a one-row write returning its row that asked for it (`Sql::keep_prepared`: the
//!   record form's, the API's and bulk actions' inserts and updates);
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
//!
//! On SQLite the same reads stay prepared in the connection's cache too (parsing and
//! planning them was the largest single cost of a list or record page); values are bound
//! with their own types, as `Sql` binds them, and SQLite re-prepares a kept statement
//! itself if the schema changed under it.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Binary, Double, Nullable, Text, Untyped};
use diesel::sqlite::Sqlite;

use crate::db::Backend;
use crate::engine::sql::Sql;
use crate::engine::value::Value;

/// Distinct statement texts prepared at most, per schema epoch.
const MAX_TEXTS: usize = 256;

/// The texts prepared in the current schema epoch.
static TEXTS: LazyLock<Mutex<(u64, HashSet<String>)>> = LazyLock::new(Default::default);

/// A `Sql` read as a statement diesel may prepare and keep.
pub(crate) struct Prepared<'a> {
    /// The text between placeholders: one more piece than there are values.
    pieces: Vec<&'a str>,
    /// Postgres: the values as text (each is CAST in the statement).
    values: Vec<Option<String>>,
    /// SQLite: the values, bound with their own types.
    binds: &'a [Value],
    epoch: u64,
}

impl<'a> Prepared<'a> {
    pub(crate) fn of(sql: &'a Sql) -> Option<Prepared<'a>> {
        let (text, binds, placeholders, fixed_types) = sql.parts();
        if !fixed_types
            || !(text.starts_with("SELECT ") || sql.write_kept())
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
        let values = match sql.backend() {
            Backend::Postgres => binds.iter().map(|v| v.as_text()).collect(),
            Backend::Sqlite => Vec::new(),
        };
        Some(Prepared {
            pieces,
            values,
            binds,
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

/// SQL NULL, bound as text (as `Sql` binds it on SQLite).
static NULL: Option<&str> = None;

impl QueryFragment<Sqlite> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        // diesel writes a `?` for each value, where `Sql::bind` wrote one.
        for (i, piece) in self.pieces.iter().enumerate() {
            out.push_sql(piece);
            match self.binds.get(i) {
                None => {}
                Some(Value::Null) => out.push_bind_param::<Nullable<Text>, _>(&NULL)?,
                // SQLite keeps booleans as 1/0.
                Some(Value::Bool(true)) => out.push_bind_param::<BigInt, _>(&1i64)?,
                Some(Value::Bool(false)) => out.push_bind_param::<BigInt, _>(&0i64)?,
                Some(Value::Int(v)) => out.push_bind_param::<BigInt, _>(v)?,
                Some(Value::Float(v)) => out.push_bind_param::<Double, _>(v)?,
                Some(Value::Text(v)) => out.push_bind_param::<Text, _>(v)?,
                Some(Value::Bytes(v)) => out.push_bind_param::<Binary, _>(v)?,
            }
        }
        out.push_sql(&format!(" /* gh:{} */", self.epoch));
        Ok(())
    }
}

impl RunQueryDsl<SqliteConnection> for Prepared<'_> {}
