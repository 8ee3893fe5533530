//! Where deep pages start. A page asked for by number (`page=200`) is read by OFFSET, which
//! walks every row before it; the row just before it (its sort value and key) is then
//! remembered for a few seconds, and the same page asked for again is read from that row
//! by key, as a "Next" link reads it: page 200 then costs what page 1 costs.
//!
//! A mark is forgotten with the table's counts on every write through Gatehouse
//! (`CountCache::invalidate`) and after `remembered::TTL`, so a page read by its mark
//! differs from the OFFSET page only by rows written elsewhere in those seconds — as the
//! same page loaded a moment earlier would. Marks are keyed by the whole statement (the operator's
//! row rules, search, filters, order and their bound values) and the page size.

use crate::catalog::Table;
use crate::db::DbConn;
use crate::engine::query::{Cursor, ListQuery, keyset_capable};
use crate::engine::store::remembered::Remembered;
use crate::engine::store::row::{Row, load_rows, select_all};
use crate::error::AppError;

/// Remembered page starts, by statement and page.
pub type PageMarks = Remembered<Cursor>;

/// The rows of the page `q` asks for (at most `per_page`) and whether more follow: by
/// OFFSET the first time a deep page is asked for, by its mark while it holds.
pub(super) fn page_rows(
    conn: &mut DbConn,
    table: &Table,
    q: &ListQuery,
    marks: Option<&PageMarks>,
) -> Result<(Vec<Row>, bool), AppError> {
    let offset = q.offset();
    let Some(marks) = marks.filter(|_| offset > 0 && keyset_capable(table)) else {
        return read(conn, table, q, offset, 0);
    };
    let generation = marks.generation();
    let key = |page: u64| -> Result<String, AppError> {
        let mut sql = select_all(conn, table);
        q.push_page_where(&mut sql, table)?;
        q.push_page_order(&mut sql, table);
        Ok(format!("{}\u{0}{}\u{0}{page}", sql.cache_key(), q.per_page))
    };
    let (this, next) = (key(q.page)?, key(q.page + 1)?);
    let (rows, more) = match marks.get(&this) {
        Some(start) => {
            let at = ListQuery {
                cursor: Some(start),
                ..q.clone()
            };
            read(conn, table, &at, 0, 0)?
        }
        None => {
            // One row earlier: that row is where this page starts.
            let (mut rows, more) = read(conn, table, q, offset - 1, 1)?;
            if rows.is_empty() {
                return Ok((rows, false));
            }
            let before = rows.remove(0);
            if let Some(start) = q.start_after(table, &before.values, &before.key) {
                marks.put(this, &table.name, generation, start);
            }
            (rows, more)
        }
    };
    // Browsing on by number ("page 201") finds its start too.
    if more
        && let Some(last) = rows.last()
        && let Some(start) = q.start_after(table, &last.values, &last.key)
    {
        marks.put(next, &table.name, generation, start);
    }
    Ok((rows, more))
}

/// `per_page` rows (plus `extra` before them) from `offset` on, and whether more follow.
fn read(
    conn: &mut DbConn,
    table: &Table,
    q: &ListQuery,
    offset: u64,
    extra: u64,
) -> Result<(Vec<Row>, bool), AppError> {
    let mut sql = select_all(conn, table);
    q.push_page_where(&mut sql, table)?;
    q.push_page_order(&mut sql, table);
    let limit = q.per_page + extra + 1;
    match offset {
        0 => sql.push(&format!(" LIMIT {limit}")),
        offset => sql.push(&format!(" LIMIT {limit} OFFSET {offset}")),
    };
    let mut rows = load_rows(conn, &sql, table)?;
    let more = rows.len() as u64 > q.per_page + extra;
    rows.truncate((q.per_page + extra) as usize);
    Ok((rows, more))
}
