//! Importing a CSV file into a table, all or nothing, in one transaction (on SQLite an
//! immediate one). Each row is parsed by the column's kind as the record form parses it;
//! the rows that parse are written in batches of `BATCH_ROWS` (`import_write`, with the
//! cached statements of `import_insert`: on Postgres one statement and one savepoint a
//! batch, on SQLite one statement a row, written as soon as it is parsed, and no
//! savepoint). Any problem at all
//! rolls the whole import back; the first `MAX_PROBLEMS` are kept and every rejected row
//! goes to the rejected-rows CSV. A clean import is committed with one `table.imported`
//! audit entry, and a webhook event per row when an endpoint subscribes to the table
//! (rows are then written one at a time).
//!
//! Memory stays flat whatever the file's size: the file is read a record at a time and
//! at most one batch of parsed rows is held (none on SQLite).

use std::io::{Read, Write};

use crate::audit::{self, Actor};
use crate::catalog::rules::Action;
use crate::catalog::{Catalog, Table};
use crate::db::{DbConn, write_tx};
use crate::engine::csvio;
use crate::engine::sql::Sql;
use crate::engine::store::import_plan::{Mode, Plan};
use crate::engine::store::row::{backend_of, from_table};
use crate::engine::value::Value;
use crate::error::AppError;
use crate::events::outbox::subscribed;

/// How many problems an import keeps to show (all rejected rows go to the CSV).
pub const MAX_PROBLEMS: usize = 100;
/// Rows written in one savepoint: large enough that statements and savepoints cost little
/// per row, small enough that a batch of parsed rows stays a few MiB.
const BATCH_ROWS: usize = 5_000;

/// One problem: the data row (1 is the first row after the header), the column (empty
/// for the row as a whole) and what is wrong.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    pub row: u64,
    pub column: String,
    pub message: String,
}

impl Problem {
    /// "row 1,234, column email: …"
    pub fn describe(&self) -> String {
        let row = crate::engine::store::thousands(self.row as i64);
        if self.column.is_empty() {
            format!("row {row}: {}", self.message)
        } else {
            format!("row {row}, column {}: {}", self.column, self.message)
        }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Outcome {
    pub rows: u64,
    pub inserted: u64,
    pub updated: u64,
    /// The first `MAX_PROBLEMS` problems.
    pub problems: Vec<Problem>,
    pub problem_count: u64,
    pub rejected_rows: u64,
}

#[derive(Debug)]
pub enum ImportError {
    /// Some rows were refused: nothing was written.
    Rejected(Outcome),
    App(AppError),
}

impl From<diesel::result::Error> for ImportError {
    fn from(e: diesel::result::Error) -> Self {
        ImportError::App(e.into())
    }
}

impl From<AppError> for ImportError {
    fn from(e: AppError) -> Self {
        ImportError::App(e)
    }
}

/// What an import needs besides the connection and the file.
pub struct Job<'a> {
    pub catalog: &'a Catalog,
    pub plan: &'a Plan,
    pub actor: &'a Actor,
    /// The file's name as given, for the audit entry.
    pub file_name: &'a str,
    /// Where the rejected rows are written as CSV (their fields, then `error`).
    pub rejected: Option<&'a mut dyn Write>,
    /// Called with the number of rows read, every 10,000 rows.
    pub progress: Option<&'a mut dyn FnMut(u64)>,
}

/// A parsed row waiting for its batch: its line, the values of the batch's columns, and
/// the fields as read (for the rejected-rows CSV).
pub(super) struct Pending {
    pub(super) line: u64,
    pub(super) values: Vec<Value>,
    pub(super) record: csv::ByteRecord,
}

/// Rows that write the same columns (a row leaving a column to its default writes fewer).
#[derive(Default)]
struct Batch {
    included: Vec<usize>,
    rows: Vec<Pending>,
}

pub(super) struct Importer<'a, 'j> {
    pub(super) job: &'a mut Job<'j>,
    pub(super) table: &'a Table,
    pub(super) events: bool,
    pub(super) out: Outcome,
}

/// Import the rows of `reader` (whose header the plan was made from).
pub fn import<R: Read>(
    conn: &mut DbConn,
    mut job: Job<'_>,
    reader: &mut csv::Reader<R>,
) -> Result<Outcome, ImportError> {
    let table = job.plan.table.clone();
    if let Some(w) = job.rejected.as_deref_mut() {
        let mut head = String::new();
        let names = job.plan.headers.iter().map(String::as_str);
        csvio::push_text_line(&mut head, names.chain(["error"]));
        w.write_all(head.as_bytes())
            .map_err(|e| AppError::internal(e.to_string()))?;
    }
    let cache = ImportCache::grow(conn)?;
    let result = write_tx(conn, |conn| {
        // Under a create or update rule every row is written and checked one at a time.
        let ruled = table.scope(Action::Create).is_some() || table.scope(Action::Update).is_some();
        let events = ruled
            || subscribed(conn, &table.name, "created")?
            || subscribed(conn, &table.name, "updated")?;
        let mut im = Importer {
            job: &mut job,
            table: &table,
            events,
            out: Outcome::default(),
        };
        let upsert = job_mode(&im) == Mode::Upsert;
        let before = if upsert { count_rows(conn, &table)? } else { 0 };
        im.read_all(conn, reader)?;
        if im.out.problem_count > 0 {
            return Err(ImportError::Rejected(im.out));
        }
        let after = if upsert { count_rows(conn, &table)? } else { 0 };
        let out = im.finish(before, after);
        im.audit(conn, &out)?;
        Ok(out)
    });
    cache.restore(conn);
    result
}

/// SQLite: a larger page cache for the import's connection while it writes (16 MiB instead
/// of the pool's small one), so that the pages of the table's indexes stay in memory rather
/// than being spilled and read back a thousand times; put back afterwards.
struct ImportCache(Option<i64>);

const IMPORT_CACHE_KIB: i64 = 16 * 1024;

impl ImportCache {
    fn grow(conn: &mut DbConn) -> Result<ImportCache, ImportError> {
        if !matches!(conn, DbConn::Sqlite(_)) {
            return Ok(ImportCache(None));
        }
        let mut sql = Sql::new(backend_of(conn));
        sql.push("PRAGMA cache_size");
        let before = match sql.load(conn)?.first().and_then(|r| r.first()) {
            Some(Value::Int(n)) => *n,
            _ => return Ok(ImportCache(None)),
        };
        let mut sql = Sql::new(backend_of(conn));
        sql.push(&format!("PRAGMA cache_size = -{IMPORT_CACHE_KIB}"));
        sql.execute(conn)?;
        Ok(ImportCache(Some(before)))
    }

    fn restore(self, conn: &mut DbConn) {
        if let Some(before) = self.0 {
            let mut sql = Sql::new(backend_of(conn));
            sql.push(&format!("PRAGMA cache_size = {before}"));
            if let Err(e) = sql.execute(conn) {
                tracing::warn!(error = %e, "could not put the page cache size back");
            }
        }
    }
}

impl Importer<'_, '_> {
    fn read_all<R: Read>(
        &mut self,
        conn: &mut DbConn,
        reader: &mut csv::Reader<R>,
    ) -> Result<(), ImportError> {
        let width = self.job.plan.headers.len();
        // Rows go straight to the database, one statement each, with no batch held: on
        // SQLite, for plain inserts and upserts without webhook events (`flush` batches
        // for Postgres, and writes the others one at a time with their events).
        let direct =
            matches!(conn, DbConn::Sqlite(_)) && !self.events && self.job.plan.mode != Mode::Update;
        let mut batch = Batch::default();
        let mut record = csv::ByteRecord::new();
        let mut line = 0u64;
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => line += 1,
                Err(e) => {
                    return Err(AppError::Invalid(format!(
                        "The file could not be read after row {line}: {e}."
                    ))
                    .into());
                }
            }
            if line.is_multiple_of(10_000)
                && let Some(p) = self.job.progress.as_deref_mut()
            {
                p(line);
            }
            if record.len() != width {
                let m = format!(
                    "This row has {} fields; the header has {width}.",
                    record.len()
                );
                self.reject(line, vec![(String::new(), m)], &record)?;
                continue;
            }
            let fields: Vec<Result<&str, String>> = record
                .iter()
                .map(|f| std::str::from_utf8(f).map_err(|_| "This is not UTF-8 text.".to_string()))
                .collect();
            let (values, problems) = self.job.plan.row_values(&fields);
            if !problems.is_empty() {
                self.reject(line, problems, &record)?;
                continue;
            }
            let written = values.iter().enumerate().filter(|(_, v)| v.is_some());
            let same = batch.included.iter().copied().eq(written.map(|(i, _)| i));
            if direct && same && !batch.included.is_empty() {
                // SQLite writes a row a statement anyway: write it now, keep nothing (after
                // the rows still held, so that the file's order decides a clash).
                let held = std::mem::take(&mut batch.rows);
                self.flush(conn, &batch.included, held)?;
                let values: Vec<Value> = values.into_iter().flatten().collect();
                self.write_now(conn, &batch.included, &values, line, &record)?;
                continue;
            }
            let single = self.events || self.job.plan.mode == Mode::Update;
            if !same || batch.rows.len() >= BATCH_ROWS || single {
                let included = values.iter().enumerate().filter(|(_, v)| v.is_some());
                let included = included.map(|(i, _)| i).collect();
                let rows = std::mem::take(&mut batch.rows);
                self.flush(
                    conn,
                    &std::mem::replace(&mut batch.included, included),
                    rows,
                )?;
            }
            batch.rows.push(Pending {
                line,
                values: values.into_iter().flatten().collect(),
                record: record.clone(),
            });
        }
        self.flush(conn, &batch.included, batch.rows)?;
        self.out.rows = line;
        self.out.problems.sort_by_key(|p| p.row);
        Ok(())
    }

    pub(super) fn reject(
        &mut self,
        line: u64,
        problems: Vec<(String, String)>,
        record: &csv::ByteRecord,
    ) -> Result<(), ImportError> {
        self.out.rejected_rows += 1;
        let mut error = Vec::with_capacity(problems.len());
        for (column, message) in problems {
            error.push(if column.is_empty() {
                message.clone()
            } else {
                format!("{column}: {message}")
            });
            self.out.problem_count += 1;
            if self.out.problems.len() < MAX_PROBLEMS {
                self.out.problems.push(Problem {
                    row: line,
                    column,
                    message,
                });
            }
        }
        if let Some(w) = self.job.rejected.as_deref_mut() {
            let mut out = String::new();
            let cells = record.iter().map(String::from_utf8_lossy);
            csvio::push_text_line(&mut out, cells.chain([error.join("; ").into()]));
            w.write_all(out.as_bytes())
                .map_err(|e| AppError::internal(e.to_string()))?;
        }
        Ok(())
    }

    fn finish(&self, before: i64, after: i64) -> Outcome {
        let mut out = self.out.clone();
        match self.job.plan.mode {
            Mode::Insert => out.inserted = out.rows,
            Mode::Update => out.updated = out.rows,
            Mode::Upsert => {
                out.inserted = (after - before).max(0) as u64;
                out.updated = out.rows.saturating_sub(out.inserted);
            }
        }
        out
    }

    fn audit(&self, conn: &mut DbConn, out: &Outcome) -> Result<(), ImportError> {
        let plan = self.job.plan;
        let key: Vec<&str> = plan
            .key
            .iter()
            .map(|i| self.table.columns[*i].name.as_str())
            .collect();
        let entry = serde_json::json!({
            "file": self.job.file_name,
            "mode": plan.mode.as_str(),
            "key": key,
            "rows": out.rows,
            "inserted": out.inserted,
            "updated": out.updated,
        });
        audit::record(
            conn,
            self.job.actor,
            "table.imported",
            &self.table.name,
            "",
            &entry,
        )?;
        Ok(())
    }
}

fn job_mode(im: &Importer<'_, '_>) -> Mode {
    im.job.plan.mode
}

fn count_rows(conn: &mut DbConn, table: &Table) -> Result<i64, AppError> {
    let mut sql = Sql::new(backend_of(conn));
    sql.push("SELECT COUNT(*)");
    from_table(&mut sql, table);
    let rows = sql.load(conn)?;
    Ok(match rows.first().and_then(|r| r.first()) {
        Some(Value::Int(n)) => *n,
        Some(Value::Text(t)) => t.parse().unwrap_or(0),
        _ => 0,
    })
}
