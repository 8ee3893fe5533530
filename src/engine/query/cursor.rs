//! Keyset pagination: "Next" and "Previous" carry an opaque cursor — the sort value and
//! key of the last (or first) row shown, as base64url of a small JSON — so a page reached
//! by links costs what the first page costs, however deep. The cursor is only data: its
//! values are bound parameters, its columns are the catalog's own (the order the URL's
//! `sort` names), and anything that does not decode to exactly that is a 400.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value as Json, json};

use crate::catalog::{Kind, RowKey, Table};
use crate::engine::query::ListQuery;
use crate::engine::sql::Sql;
use crate::engine::value::Value;
use crate::error::AppError;

/// Longest cursor accepted (a row's sort value and key; text values are capped below).
const MAX_CURSOR: usize = 4096;

/// Where a page starts: just after (Next) or just before (Previous) a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub backward: bool,
    /// One value per part of the order (sort column, then key columns).
    pub values: Vec<Value>,
    /// As the URL carried it, for links that keep the page.
    pub token: String,
}

/// One column of the list's order: its name (a catalog column or SQLite's `rowid`),
/// direction, and whether it may hold NULL (NULL sorts as the largest value).
pub(super) struct Part {
    pub name: String,
    pub desc: bool,
    pub nullable: bool,
}

fn bad(detail: &str) -> AppError {
    AppError::Invalid(format!(
        "This page link is not valid ({detail}); go back to the first page and page again."
    ))
}

/// Whether `table`'s rows can be paged by key: it has one, and every key column is read.
pub fn keyset_capable(table: &Table) -> bool {
    match &table.key {
        RowKey::RowId => true,
        RowKey::Primary(cols) => !cols.is_empty() && cols.iter().all(|c| table.column(c).is_some()),
        RowKey::None => false,
    }
}

impl ListQuery {
    /// The sort as written in the URL (`-col`, `col`, or empty for the key order).
    pub fn sort_spec(&self) -> String {
        self.sort
            .as_ref()
            .map(|(c, d)| format!("{}{c}", if *d { "-" } else { "" }))
            .unwrap_or_default()
    }

    pub(super) fn parts(&self, table: &Table) -> Vec<Part> {
        let mut parts: Vec<(String, bool)> = Vec::new();
        if let Some((c, desc)) = &self.sort {
            parts.push((c.clone(), *desc));
        }
        let desc = self.sort.as_ref().is_some_and(|(_, d)| *d);
        let mut ties = table.key_columns();
        if ties.is_empty() {
            // No key (a Postgres table without one, a view): every orderable column breaks
            // ties, so pages by number neither repeat nor skip rows.
            ties = table
                .columns
                .iter()
                .filter(|c| !matches!(c.kind, Kind::Json | Kind::Array | Kind::Unknown))
                .map(|c| c.name.clone())
                .collect();
        }
        for k in ties {
            if !parts.iter().any(|(c, _)| *c == k) {
                parts.push((k, desc));
            }
        }
        parts
            .into_iter()
            .map(|(name, desc)| Part {
                nullable: table.column(&name).is_some_and(|c| c.nullable),
                name,
                desc,
            })
            .collect()
    }

    /// A cursor at a row (its values in catalog order and its key) of this view's order,
    /// for the link after it or before it.
    pub fn cursor_at(&self, table: &Table, values: &[Value], key: &[Value]) -> Option<String> {
        if !keyset_capable(table) {
            return None;
        }
        let values: Option<Vec<Json>> = self
            .parts(table)
            .iter()
            .map(|p| {
                let v = match table.columns.iter().position(|c| c.name == p.name) {
                    Some(i) => values.get(i)?,
                    None => key.first()?, // SQLite's rowid, read after the columns.
                };
                Some(encode_value(v))
            })
            .collect();
        let doc = json!({ "o": self.sort_spec(), "v": values? });
        Some(URL_SAFE_NO_PAD.encode(doc.to_string()))
    }

    /// Where a page starts when it begins just after this row (a page mark, see
    /// `store::marks`): the cursor "Next" would carry from it.
    pub fn start_after(&self, table: &Table, values: &[Value], key: &[Value]) -> Option<Cursor> {
        let token = self.cursor_at(table, values, key)?;
        self.decode_cursor(table, &token, false).ok()
    }

    /// The cursor a URL carried, checked against this view's order.
    pub(super) fn decode_cursor(
        &self,
        table: &Table,
        token: &str,
        backward: bool,
    ) -> Result<Cursor, AppError> {
        if !keyset_capable(table) {
            return Err(bad("this table has no key to page by"));
        }
        if token.len() > MAX_CURSOR {
            return Err(bad("the cursor is too long"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| bad("the cursor is not base64url"))?;
        let doc: Json =
            serde_json::from_slice(&bytes).map_err(|_| bad("the cursor is not JSON"))?;
        if doc.get("o").and_then(Json::as_str) != Some(self.sort_spec().as_str()) {
            return Err(bad("the cursor belongs to another sort order"));
        }
        let items = doc
            .get("v")
            .and_then(Json::as_array)
            .ok_or_else(|| bad("the cursor holds no values"))?;
        let parts = self.parts(table);
        if items.len() != parts.len() {
            return Err(bad("the cursor holds the wrong number of values"));
        }
        let values = items
            .iter()
            .map(decode_value)
            .collect::<Option<Vec<Value>>>()
            .ok_or_else(|| bad("the cursor holds a value of an unknown type"))?;
        Ok(Cursor {
            backward,
            values,
            token: token.to_string(),
        })
    }

    /// ` AND (…)` (or ` WHERE (…)`): only the rows after (or before) the cursor in the
    /// order, with a leading range on the sort column so an index on it is used.
    pub(super) fn push_cursor(&self, sql: &mut Sql, table: &Table, has_where: bool) {
        let Some(cursor) = &self.cursor else {
            return;
        };
        let parts = self.parts(table);
        sql.push(if has_where { " AND (" } else { " WHERE (" });
        let first = (&parts[0], &cursor.values[0]);
        let larger = first.0.desc == cursor.backward;
        let mut wrote = match (larger, first.1.is_null(), first.0.nullable) {
            (true, false, false) => {
                column(sql, table, first.0).push(" >= ");
                bind(sql, table, first.0, first.1);
                true
            }
            (true, true, _) => {
                column(sql, table, first.0).push(" IS NULL");
                true
            }
            (false, false, _) => {
                column(sql, table, first.0).push(" <= ");
                bind(sql, table, first.0, first.1);
                true
            }
            _ => false,
        };
        sql.push(if wrote { " AND (" } else { "(" });
        wrote = false;
        for i in 0..parts.len() {
            let (p, v) = (&parts[i], &cursor.values[i]);
            let larger = p.desc == cursor.backward;
            if larger && v.is_null() {
                continue; // Nothing sorts after NULL.
            }
            sql.push(if wrote { " OR (" } else { "(" });
            wrote = true;
            for (pj, vj) in parts.iter().zip(&cursor.values).take(i) {
                equal(sql, table, pj, vj);
                sql.push(" AND ");
            }
            match (larger, v.is_null()) {
                (true, _) => {
                    sql.push("(");
                    column(sql, table, p).push(" > ");
                    bind(sql, table, p, v);
                    if p.nullable {
                        sql.push(" OR ");
                        column(sql, table, p).push(" IS NULL");
                    }
                    sql.push(")");
                }
                (false, true) => {
                    column(sql, table, p).push(" IS NOT NULL");
                }
                (false, false) => {
                    column(sql, table, p).push(" < ");
                    bind(sql, table, p, v);
                }
            }
            sql.push(")");
        }
        if !wrote {
            sql.push("1 = 0");
        }
        sql.push("))");
    }
}

fn column<'a>(sql: &'a mut Sql, table: &Table, p: &Part) -> &'a mut Sql {
    if table.column(&p.name).is_none() {
        sql.push("rowid")
    } else {
        sql.ident(&table.name).push(".").ident(&p.name)
    }
}

fn bind(sql: &mut Sql, table: &Table, p: &Part, v: &Value) {
    match table.column(&p.name) {
        Some(col) => sql.bind_for(v.clone(), col),
        None => sql.bind(v.clone()),
    };
}

fn equal(sql: &mut Sql, table: &Table, p: &Part, v: &Value) {
    if v.is_null() {
        column(sql, table, p).push(" IS NULL");
    } else {
        column(sql, table, p).push(" = ");
        bind(sql, table, p, v);
    }
}

/// A value with its type, so it binds back exactly as it was read (SQLite compares by
/// storage class).
fn encode_value(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => json!(["b", b]),
        Value::Int(i) => json!(["i", i.to_string()]),
        Value::Float(f) => json!(["f", f.to_string()]),
        Value::Text(t) => json!(["t", t]),
        Value::Bytes(b) => json!(["x", URL_SAFE_NO_PAD.encode(b)]),
    }
}

fn decode_value(j: &Json) -> Option<Value> {
    if j.is_null() {
        return Some(Value::Null);
    }
    let pair = j.as_array().filter(|a| a.len() == 2)?;
    let (tag, v) = (pair[0].as_str()?, &pair[1]);
    Some(match tag {
        "b" => Value::Bool(v.as_bool()?),
        "i" => Value::Int(v.as_str()?.parse().ok()?),
        "f" => Value::Float(v.as_str()?.parse().ok()?),
        "t" => Value::Text(v.as_str()?.to_string()),
        "x" => Value::Bytes(URL_SAFE_NO_PAD.decode(v.as_str()?).ok()?),
        _ => return None,
    })
}
