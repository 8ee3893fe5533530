//! The list query as SQL: `WHERE` for the search and each filter (values parsed for their
//! column and bound), `ORDER BY` the chosen column and then the key.

use jiff::tz::TimeZone;

use crate::catalog::{Column, Table};
use crate::db::like_escape;
use crate::engine::query::{Filter, ListQuery, Op, searchable};
use crate::engine::sql::Sql;
use crate::engine::value::{Value, parse_input};
use crate::engine::zoned::{day_bounds, parse_input_in};
use crate::error::AppError;

impl ListQuery {
    /// `WHERE …` (or nothing) for search and filters.
    pub fn push_where(&self, sql: &mut Sql, table: &Table) -> Result<(), AppError> {
        self.push_conditions(sql, table).map(|_| ())
    }

    /// The conditions of one page: search, filters, and where the cursor puts its start.
    pub fn push_page_where(&self, sql: &mut Sql, table: &Table) -> Result<(), AppError> {
        let has_where = self.push_conditions(sql, table)?;
        self.push_cursor(sql, table, has_where);
        Ok(())
    }

    /// Search and filters; whether it wrote a `WHERE`.
    fn push_conditions(&self, sql: &mut Sql, table: &Table) -> Result<bool, AppError> {
        let mut first = true;
        let mut and = |sql: &mut Sql| {
            sql.push(if first { " WHERE " } else { " AND " });
            first = false;
        };
        if !self.q.is_empty() {
            let searchable: Vec<&Column> = table.columns.iter().filter(|c| searchable(c)).collect();
            if !searchable.is_empty() {
                and(sql);
                sql.push("(");
                let pattern = format!("%{}%", like_escape(&self.q));
                for (i, c) in searchable.iter().enumerate() {
                    if i > 0 {
                        sql.push(" OR ");
                    }
                    sql.column_as_text(c)
                        .like()
                        .bind(Value::Text(pattern.clone()))
                        .push(" ESCAPE '\\'");
                }
                sql.push(")");
            }
        }
        for f in &self.filters {
            let col = table.column(&f.column).ok_or(AppError::NotFound)?;
            and(sql);
            filter_condition_in(sql, f, col, &self.zone)?;
        }
        Ok(!first)
    }

    /// `ORDER BY` the chosen column, then the key, so paging is stable.
    pub fn push_order(&self, sql: &mut Sql, table: &Table) {
        self.push_order_dir(sql, table, false);
    }

    /// The order of a page: reversed for a page read backwards from a "Previous" cursor
    /// (its rows are then put back in order by the store).
    pub fn push_page_order(&self, sql: &mut Sql, table: &Table) {
        let backward = self.cursor.as_ref().is_some_and(|c| c.backward);
        self.push_order_dir(sql, table, backward);
    }

    fn push_order_dir(&self, sql: &mut Sql, table: &Table, reverse: bool) {
        let parts = self.parts(table);
        if parts.is_empty() {
            return;
        }
        sql.push(" ORDER BY ");
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            // Qualified, so the name means the table's column and not the select list's
            // CAST(… AS TEXT) of it (which would sort numbers as text and miss indexes).
            if p.name == "rowid" && table.column("rowid").is_none() {
                sql.push("rowid");
            } else {
                sql.ident(&table.name).push(".").ident(&p.name);
            }
            let desc = p.desc != reverse;
            sql.push(if desc { " DESC" } else { " ASC" });
            // NULLs sort as the largest value on both backends (Postgres's rule; SQLite's
            // default is the opposite), so a sorted list reads the same everywhere.
            if sql.backend() == crate::db::Backend::Sqlite && p.nullable {
                sql.push(if desc { " NULLS FIRST" } else { " NULLS LAST" });
            }
        }
    }
}

fn parse_for(col: &Column, raw: &str, f: &Filter, zone: &TimeZone) -> Result<Value, AppError> {
    parse_input_in(col, raw, zone)
        .map_err(|m| AppError::Invalid(format!("Filter {}__{}: {m}", f.column, f.op.name())))
}

/// A filter's condition with its values read as UTC (row rules: they hold for everyone).
pub(crate) fn filter_condition(sql: &mut Sql, f: &Filter, col: &Column) -> Result<(), AppError> {
    filter_condition_in(sql, f, col, &TimeZone::UTC)
}

/// A filter's condition; a time typed without a zone is in `zone`, and a date alone for
/// a time column is that whole day there.
pub(crate) fn filter_condition_in(
    sql: &mut Sql,
    f: &Filter,
    col: &Column,
    zone: &TimeZone,
) -> Result<(), AppError> {
    if let Some((start, end)) = day_bounds(col, &f.raw, zone)
        && day_condition(sql, f, col, &start, &end)?
    {
        return Ok(());
    }
    let cmp = |sql: &mut Sql, op: &str| -> Result<(), AppError> {
        let v = parse_for(col, &f.raw, f, zone)?;
        sql.ident(&col.name).push(op).bind_for(v, col);
        Ok(())
    };
    match f.op {
        Op::Eq if f.raw.is_empty() => {
            sql.ident(&col.name)
                .push(" = ")
                .bind_for(Value::Text(String::new()), col);
        }
        Op::Eq => cmp(sql, " = ")?,
        Op::Ne => {
            // "not equal" keeps NULLs out, as SQL does; say so by being explicit.
            let v = if f.raw.is_empty() {
                Value::Text(String::new())
            } else {
                parse_for(col, &f.raw, f, zone)?
            };
            sql.ident(&col.name).push(" <> ").bind_for(v, col);
        }
        Op::Lt => cmp(sql, " < ")?,
        Op::Lte => cmp(sql, " <= ")?,
        Op::Gt => cmp(sql, " > ")?,
        Op::Gte => cmp(sql, " >= ")?,
        Op::Contains | Op::StartsWith => {
            let pattern = match f.op {
                Op::Contains => format!("%{}%", like_escape(&f.raw)),
                _ => format!("{}%", like_escape(&f.raw)),
            };
            sql.column_as_text(col)
                .like()
                .bind(Value::Text(pattern))
                .push(" ESCAPE '\\'");
        }
        Op::In => {
            let items: Vec<&str> = f
                .raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            if items.is_empty() {
                return Err(AppError::Invalid(format!(
                    "Filter {}__in needs a comma-separated list.",
                    f.column
                )));
            }
            if items.len() > 1000 {
                return Err(AppError::Invalid(
                    "A list filter takes at most 1000 values.".into(),
                ));
            }
            sql.ident(&col.name).push(" IN (");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                let v = parse_for(col, item, f, zone)?;
                sql.bind_for(v, col);
            }
            sql.push(")");
        }
        Op::IsNull => {
            let is_null = match f.raw.as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                other => {
                    return Err(AppError::Invalid(format!(
                        "Filter {}__isnull takes true or false, not '{other}'.",
                        f.column
                    )));
                }
            };
            sql.ident(&col.name)
                .push(if is_null { " IS NULL" } else { " IS NOT NULL" });
        }
    }
    Ok(())
}

/// A date alone compared with a time column: the day from `start` (its first instant) to
/// `end` (the next day's), UTC. Whether the operator takes a day (`in`, `contains`… do not).
fn day_condition(
    sql: &mut Sql,
    f: &Filter,
    col: &Column,
    start: &str,
    end: &str,
) -> Result<bool, AppError> {
    let bound = |sql: &mut Sql, op: &str, at: &str| -> Result<(), AppError> {
        let v = parse_input(col, at).map_err(AppError::Invalid)?;
        sql.ident(&col.name).push(op).bind_for(v, col);
        Ok(())
    };
    match f.op {
        Op::Eq | Op::Ne => {
            let (low, join, high) = match f.op {
                Op::Eq => (" >= ", " AND ", " < "),
                _ => (" < ", " OR ", " >= "),
            };
            sql.push("(");
            bound(sql, low, start)?;
            sql.push(join);
            bound(sql, high, end)?;
            sql.push(")");
        }
        Op::Lt => bound(sql, " < ", start)?,
        Op::Gte => bound(sql, " >= ", start)?,
        Op::Lte => bound(sql, " < ", end)?,
        Op::Gt => bound(sql, " >= ", end)?,
        _ => return Ok(false),
    }
    Ok(true)
}
