//! Importing a CSV file into a table, all or nothing, in one transaction (on SQLite an
//! immediate one). Each row is parsed by the column's kind as the record form parses it;
//! the rows that parse are written in batches (multi-row `INSERT`, `ON CONFLICT … DO
//! UPDATE` for upserts) inside a savepoint each. A batch the database refuses is written
//! again row by row, each in its own savepoint, so every refusal (NOT NULL, CHECK, a missing
//! foreign-key target, a unique clash with an existing row or an earlier row of the file)
//! is named with its row and column. Any problem at all rolls the whole import back; the
//! first `MAX_PROBLEMS` are kept and every rejected row goes to the rejected-rows CSV.
//! A clean import is committed with one `table.imported` audit entry, and a webhook event
//! per row when an endpoint subscribes to the table (rows are then written one at a time).

use std::collections::BTreeMap;
use std::io::{Read, Write};

use crate::audit::{self, Actor};
use crate::catalog::{Catalog, Table};
use crate::db::{DbConn, write_tx};
use crate::engine::csvio;
use crate::engine::errors::{WriteError, classify};
use crate::engine::sql::Sql;
use crate::engine::store::import_plan::{Mode, Plan};
use crate::engine::store::read::find_inner;
use crate::engine::store::row::{Row, backend_of, from_table, load_rows};
use crate::engine::store::write::check_references;
use crate::engine::value::Value;
use crate::error::AppError;
use crate::events::outbox::{Change, record_event, subscribed};

/// How many problems an import keeps to show (all rejected rows go to the CSV).
pub const MAX_PROBLEMS: usize = 100;
/// Bound parameters per statement: below SQLite's 32,766 and Postgres's 65,535.
const MAX_BINDS: usize = 30_000;
const MAX_BATCH: usize = 500;

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

struct Pending {
    line: u64,
    values: Vec<Value>,
    record: csv::ByteRecord,
}

#[derive(Default)]
struct Batch {
    included: Vec<usize>,
    rows: Vec<Pending>,
}

struct Importer<'a, 'j> {
    job: &'a mut Job<'j>,
    table: &'a Table,
    events: bool,
    out: Outcome,
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
    write_tx(conn, |conn| {
        let events =
            subscribed(conn, &table.name, "created")? || subscribed(conn, &table.name, "updated")?;
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
    })
}

impl Importer<'_, '_> {
    fn read_all<R: Read>(
        &mut self,
        conn: &mut DbConn,
        reader: &mut csv::Reader<R>,
    ) -> Result<(), ImportError> {
        let width = self.job.plan.headers.len();
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
            let included: Vec<usize> = (0..values.len()).filter(|i| values[*i].is_some()).collect();
            let room = (MAX_BINDS / included.len().max(1)).clamp(1, MAX_BATCH);
            let single = included.is_empty() || self.events || self.job.plan.mode == Mode::Update;
            if batch.included != included || batch.rows.len() >= room || single {
                self.flush(conn, &mut batch)?;
                batch.included = included;
            }
            batch.rows.push(Pending {
                line,
                values: values.into_iter().flatten().collect(),
                record: record.clone(),
            });
        }
        self.flush(conn, &mut batch)?;
        self.out.rows = line;
        self.out.problems.sort_by_key(|p| p.row);
        Ok(())
    }

    /// Write a batch in one statement; if the database refuses it, row by row.
    fn flush(&mut self, conn: &mut DbConn, batch: &mut Batch) -> Result<(), ImportError> {
        let rows = std::mem::take(&mut batch.rows);
        if rows.is_empty() {
            return Ok(());
        }
        if rows.len() > 1 {
            let sql = self.insert_sql(conn, &batch.included, &rows, false);
            if write_tx(conn, |c| sql.execute(c)).is_ok() {
                return Ok(());
            }
        }
        for row in rows {
            let result = write_tx(conn, |c| self.write_row(c, &batch.included, &row));
            if let Err(e) = result {
                let problems = self.problems_of(conn, e, &batch.included, &row)?;
                self.reject(row.line, problems, &row.record)?;
            }
        }
        Ok(())
    }

    /// One row, in its own savepoint, with its webhook event when one is wanted.
    fn write_row(
        &self,
        conn: &mut DbConn,
        included: &[usize],
        row: &Pending,
    ) -> Result<(), WriteError> {
        let table = self.table;
        let mode = self.job.plan.mode;
        let key: Option<Vec<Value>> = self.key_of(included, row);
        let before = match (&key, mode, self.events) {
            (Some(k), Mode::Update, _) | (Some(k), Mode::Upsert, true) => {
                find_inner(conn, table, k, true)?
            }
            _ => None,
        };
        let after = if mode == Mode::Update {
            let Some(before) = &before else {
                return Err(self.missing_key(key.as_deref().unwrap_or_default()));
            };
            self.update_row(conn, included, row, before)?
        } else {
            let sql = self.insert_sql(conn, included, std::slice::from_ref(row), self.events);
            if self.events {
                load_rows(conn, &sql, table)
                    .map_err(|e| classify(e, table, None))?
                    .into_iter()
                    .next()
            } else {
                sql.execute(conn).map_err(|e| classify(e, table, None))?;
                None
            }
        };
        if self.events
            && let Some(after) = after
        {
            let action = if before.is_some() {
                "updated"
            } else {
                "created"
            };
            let (b, a) = (before.map(|r| r.to_json(table)), after.to_json(table));
            let change = Change {
                table: &table.name,
                action,
                key: &after.key_path(),
                before: b.as_ref(),
                after: Some(&a),
            };
            record_event(conn, &change, self.job.actor)?;
        }
        Ok(())
    }

    /// `UPDATE … SET <mapped columns> WHERE <key>`, returning the row.
    fn update_row(
        &self,
        conn: &mut DbConn,
        included: &[usize],
        row: &Pending,
        before: &Row,
    ) -> Result<Option<Row>, WriteError> {
        let table = self.table;
        let set: Vec<(usize, &Value)> = included
            .iter()
            .zip(&row.values)
            .filter(|(i, _)| !self.job.plan.key.contains(i))
            .map(|(i, v)| (*i, v))
            .collect();
        if set.is_empty() {
            return Ok(Some(before.clone()));
        }
        let mut sql = Sql::new(backend_of(conn));
        sql.push("UPDATE ").ident(&table.name).push(" SET ");
        for (n, (i, v)) in set.iter().enumerate() {
            let col = &table.columns[*i];
            sql.push(if n > 0 { ", " } else { "" })
                .ident(&col.name)
                .push(" = ")
                .bind_for((*v).clone(), col);
        }
        crate::engine::store::row::push_key_where(&mut sql, table, &before.key);
        sql.push(" RETURNING ").select_list(table);
        let after = load_rows(conn, &sql, table).map_err(|e| classify(e, table, None))?;
        Ok(after.into_iter().next())
    }

    /// The row's values for the matching key, when the row gives them all.
    fn key_of(&self, included: &[usize], row: &Pending) -> Option<Vec<Value>> {
        let plan = self.job.plan;
        if plan.key.is_empty() {
            return None;
        }
        plan.key
            .iter()
            .map(|k| {
                let at = included.iter().position(|i| i == k)?;
                Some(row.values[at].clone())
            })
            .collect()
    }

    fn missing_key(&self, key: &[Value]) -> WriteError {
        let names: Vec<&str> = self
            .job
            .plan
            .key
            .iter()
            .map(|i| self.table.columns[*i].name.as_str())
            .collect();
        let shown: Vec<String> = key
            .iter()
            .map(|v| v.as_text().unwrap_or_default())
            .collect();
        let message = format!(
            "No row of {} has {} = {}.",
            self.table.name,
            names.join(", "),
            shown.join(", ")
        );
        WriteError::Invalid(BTreeMap::from([(names.join(", "), message)]), None)
    }

    /// `INSERT INTO t (<columns>) VALUES (…), (…)`, with `ON CONFLICT (<key>) DO UPDATE`
    /// for upserts.
    fn insert_sql(
        &self,
        conn: &DbConn,
        included: &[usize],
        rows: &[Pending],
        returning: bool,
    ) -> Sql {
        let table = self.table;
        let mut sql = Sql::new(backend_of(conn));
        sql.push("INSERT INTO ").ident(&table.name);
        if included.is_empty() {
            sql.push(" DEFAULT VALUES");
        } else {
            sql.push(" (");
            for (n, i) in included.iter().enumerate() {
                sql.push(if n > 0 { ", " } else { "" })
                    .ident(&table.columns[*i].name);
            }
            sql.push(") VALUES ");
            for (r, row) in rows.iter().enumerate() {
                sql.push(if r > 0 { ", (" } else { "(" });
                for (n, (i, v)) in included.iter().zip(&row.values).enumerate() {
                    sql.push(if n > 0 { ", " } else { "" });
                    sql.bind_for(v.clone(), &table.columns[*i]);
                }
                sql.push(")");
            }
        }
        let plan = self.job.plan;
        if plan.mode == Mode::Upsert && !plan.key.is_empty() {
            sql.push(" ON CONFLICT (");
            for (n, k) in plan.key.iter().enumerate() {
                sql.push(if n > 0 { ", " } else { "" })
                    .ident(&table.columns[*k].name);
            }
            let set: Vec<&usize> = included.iter().filter(|i| !plan.key.contains(i)).collect();
            if set.is_empty() {
                sql.push(") DO NOTHING");
            } else {
                sql.push(") DO UPDATE SET ");
                for (n, i) in set.iter().enumerate() {
                    let name = &table.columns[**i].name;
                    sql.push(if n > 0 { ", " } else { "" })
                        .ident(name)
                        .push(" = excluded.")
                        .ident(name);
                }
            }
        }
        if returning {
            sql.push(" RETURNING ").select_list(table);
        }
        sql
    }

    /// A refusal as (column, message) pairs; a refusal that is not about the row's values
    /// (the connection, the disk) ends the import.
    fn problems_of(
        &self,
        conn: &mut DbConn,
        error: WriteError,
        included: &[usize],
        row: &Pending,
    ) -> Result<Vec<(String, String)>, ImportError> {
        let mut fields = match error {
            WriteError::Invalid(fields, whole) => {
                let mut f: Vec<(String, String)> = fields.into_iter().collect();
                f.extend(whole.map(|m| (String::new(), m)));
                f
            }
            WriteError::ForeignKey(m) => vec![(String::new(), m)],
            WriteError::Conflict(_) => vec![(String::new(), "The row changed meanwhile.".into())],
            WriteError::App(e) => return Err(e.into()),
        };
        // SQLite's foreign-key refusal names no column, Postgres's no value: ask which
        // value has no target, so the message names both.
        let about_references = fields
            .iter()
            .any(|(c, _)| c.is_empty() || self.table.foreign_key_of(c).is_some());
        if about_references {
            let values: Vec<(usize, Value)> = included
                .iter()
                .copied()
                .zip(row.values.iter().cloned())
                .collect();
            let missing = check_references(conn, self.job.catalog, self.table, &values)?;
            if !missing.is_empty() {
                fields = missing.into_iter().collect();
            }
        }
        Ok(fields)
    }

    fn reject(
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
