//! How an import writes its rows: batches through the cached multi-row statements of
//! `import_insert`, and single rows (a refused batch, updates, rows with webhook events)
//! with the row store's statements, each refusal turned into the row's problems.

use std::collections::BTreeMap;

use crate::catalog::rules::Action;
use crate::db::{DbConn, write_tx};
use crate::engine::errors::{WriteError, classify};
use crate::engine::sql::Sql;
use crate::engine::store::import::{ImportError, Importer, Pending};
use crate::engine::store::import_insert::{Shape, insert_rows};
use crate::engine::store::import_plan::Mode;
use crate::engine::store::read::find_inner;
use crate::engine::store::row::{Row, backend_of, load_rows};
use crate::engine::store::ruled::{exists, require_inside, row_inside};
use crate::engine::store::write::check_references;
use crate::engine::value::Value;
use crate::events::outbox::{Change, record_event};
use crate::identity::row_rules::RowRule;

/// A refused batch this small is written row by row rather than halved again.
const ROW_BY_ROW: usize = 16;

impl<'a, 'j> Importer<'a, 'j> {
    /// The statement's shape for rows writing `included`; borrows the table and the plan,
    /// not the importer, which stays free to record refusals.
    fn shape<'s>(&self, included: &'s [usize]) -> Shape<'s>
    where
        'a: 's,
        'j: 's,
    {
        let table: &'a crate::catalog::Table = self.table;
        let plan: &'j crate::engine::store::import_plan::Plan = self.job.plan;
        let upsert = plan.mode == Mode::Upsert;
        Shape {
            table,
            columns: included,
            upsert_key: upsert.then_some(plan.key.as_slice()),
        }
    }
}

impl Importer<'_, '_> {
    /// Write a batch in one savepoint. If the database refuses it, each half is tried
    /// again, down to `ROW_BY_ROW` rows, which are written one at a time in a savepoint each
    /// so that every refusal (NOT NULL, CHECK, a missing foreign-key target, a unique clash
    /// with an existing row or an earlier row of the file) is named with its row and
    /// column. Rows are always written in file order, so an earlier row wins a clash.
    pub(super) fn flush(
        &mut self,
        conn: &mut DbConn,
        included: &[usize],
        mut rows: Vec<Pending>,
    ) -> Result<(), ImportError> {
        if rows.is_empty() {
            return Ok(());
        }
        let batched = !included.is_empty() && !self.events && self.job.plan.mode != Mode::Update;
        let shape = self.shape(included);
        if batched && matches!(conn, DbConn::Sqlite(_)) {
            return self.flush_sqlite(conn, shape, rows);
        }
        if batched && rows.len() > 1 {
            let values: Vec<&[Value]> = rows.iter().map(|r| r.values.as_slice()).collect();
            if write_tx(conn, |c| insert_rows(c, shape, &values)).is_ok() {
                return Ok(());
            }
            if rows.len() > ROW_BY_ROW {
                let second = rows.split_off(rows.len() / 2);
                self.flush(conn, included, rows)?;
                return self.flush(conn, included, second);
            }
        }
        for row in rows {
            let result = write_tx(conn, |c| self.write_row(c, included, &row));
            if let Err(e) = result {
                let problems = self.problems_of(conn, e, included, &row.values)?;
                self.reject(row.line, problems, &row.record)?;
            }
        }
        Ok(())
    }

    /// SQLite: each row by the one cached single-row `INSERT`, with no savepoint. A
    /// single-row insert needs no statement journal (SQLite checks its constraints before
    /// writing, so a refused row leaves nothing behind), and without a savepoint no page is
    /// copied to a sub-journal: in a profile of batches in savepoints, the kernel's page
    /// copying (sub-journal, WAL) took more time than SQLite's inserting.
    fn flush_sqlite(
        &mut self,
        conn: &mut DbConn,
        shape: Shape<'_>,
        rows: Vec<Pending>,
    ) -> Result<(), ImportError> {
        for row in rows {
            if let Err(e) = insert_rows(conn, shape, &[row.values.as_slice()]) {
                let error = classify(e, self.table, None);
                let problems = self.problems_of(conn, error, shape.columns, &row.values)?;
                self.reject(row.line, problems, &row.record)?;
            }
        }
        Ok(())
    }

    /// SQLite, a row as soon as it is read (`read_all`'s direct path): the same statement
    /// and the same handling of a refusal as `flush_sqlite`, without holding the row.
    pub(super) fn write_now(
        &mut self,
        conn: &mut DbConn,
        included: &[usize],
        values: &[Value],
        line: u64,
        record: &csv::ByteRecord,
    ) -> Result<(), ImportError> {
        let shape = self.shape(included);
        if let Err(e) = insert_rows(conn, shape, &[values]) {
            let error = classify(e, self.table, None);
            let problems = self.problems_of(conn, error, included, values)?;
            self.reject(line, problems, record)?;
        }
        Ok(())
    }

    /// One row, in its own savepoint, with its webhook event when one is wanted.
    pub(super) fn write_row(
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
                find_inner(conn, table, k, Some(Action::Update))?
            }
            _ => None,
        };
        if before.is_none()
            && mode == Mode::Upsert
            && let Some(k) = &key
            && table.scope(Action::Update).is_some()
            && exists(conn, table, k)?
        {
            // A row the update rule keeps from this operator: as if it were not there,
            // and not overwritten by the upsert either.
            return Err(self.missing_key(k));
        }
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
        if let Some(after) = &after {
            let action = if before.is_some() {
                Action::Update
            } else {
                Action::Create
            };
            require_inside(conn, table, &after.key, action)?;
        }
        if self.events
            && let Some(after) = after
        {
            let action = if before.is_some() {
                "updated"
            } else {
                "created"
            };
            let (b, a) = (before.map(|r| r.to_json(table)), after.to_json(table));
            let inside =
                |conn: &mut DbConn, rule: &RowRule| row_inside(conn, table, &after.key, rule);
            let change = Change {
                table: &table.name,
                action,
                key: &after.key_path(),
                before: b.as_ref(),
                after: Some(&a),
                inside: Some(&inside),
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
        row: &[Value],
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
            let values: Vec<(usize, Value)> =
                included.iter().copied().zip(row.iter().cloned()).collect();
            let missing = check_references(conn, self.job.catalog, self.table, &values)?;
            if !missing.is_empty() {
                fields = missing.into_iter().collect();
            }
        }
        Ok(fields)
    }
}
