//! A small SQL builder for tables known only at run time. Identifiers come from the catalog
//! and are always quoted; values are always bound parameters (`?` on SQLite, `$n` on
//! Postgres, where they are sent as text and CAST to the column's type). Nothing a user
//! typed is ever spliced into the text.

use diesel::deserialize::{self, FromSql, QueryableByName};
use diesel::prelude::*;
use diesel::row::{Field, NamedRow, Row};
use diesel::sql_types::{BigInt, Binary, Double, Nullable, Text};
use diesel_dynamic_schema::dynamic_value::Any;

use crate::catalog::{Column, Kind, Table};
use crate::db::{Backend, DbConn};
use crate::engine::value::Value;

#[derive(Debug, Clone)]
pub struct Sql {
    backend: Backend,
    text: String,
    binds: Vec<Value>,
    /// Where each placeholder (`?` or `$n`) starts and ends in `text`.
    placeholders: Vec<(usize, usize)>,
    /// Whether its result types follow from its text alone (see `prepared`).
    fixed_types: bool,
    /// A write that may be prepared like a read (see `keep_prepared`).
    write_kept: bool,
}

/// Quote an identifier for either backend: double quotes, embedded quotes doubled.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Sql {
    pub fn new(backend: Backend) -> Sql {
        Sql {
            backend,
            text: String::with_capacity(256),
            binds: Vec::new(),
            placeholders: Vec::new(),
            fixed_types: true,
            write_kept: false,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text, values, placeholder positions and whether the result types follow from the
    /// text (for `engine::prepared`).
    pub(crate) fn parts(&self) -> (&str, &[Value], &[(usize, usize)], bool) {
        (
            &self.text,
            &self.binds,
            &self.placeholders,
            self.fixed_types,
        )
    }

    /// Let this write returning rows be prepared and kept like a read (`prepared`): for the
    /// one-row writes of the record form, the API and bulk actions, whose text depends only
    /// on the columns written — not for imports, whose texts vary from row to row.
    pub fn keep_prepared(&mut self) -> &mut Self {
        self.write_kept = true;
        self
    }

    pub(crate) fn write_kept(&self) -> bool {
        self.write_kept
    }

    /// The statement and its values, as a key for caching its result.
    pub fn cache_key(&self) -> String {
        format!("{}\u{0}{:?}", self.text, self.binds)
    }

    /// Trusted SQL text: keywords and punctuation written in this crate, never user input.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    pub fn ident(&mut self, name: &str) -> &mut Self {
        self.text.push_str(&quote(name));
        self
    }

    /// A bare parameter (its type is whatever the backend infers; used for text).
    pub fn bind(&mut self, value: Value) -> &mut Self {
        self.binds.push(value);
        match self.backend {
            Backend::Sqlite => {
                let start = self.text.len();
                self.text.push('?');
                self.placeholders.push((start, self.text.len()));
            }
            Backend::Postgres => {
                let n = self.binds.len();
                let start = self.text.len();
                self.text.push_str(&format!("${n}"));
                self.placeholders.push((start, self.text.len()));
            }
        }
        self
    }

    /// A parameter holding a value for `column`, converted to the column's type.
    pub fn bind_for(&mut self, value: Value, column: &Column) -> &mut Self {
        match self.backend {
            Backend::Sqlite => {
                let value = match (value, column.kind) {
                    // SQLite keeps 'true' as text in a BOOLEAN column: store 1/0.
                    (Value::Bool(b), _) => Value::Int(i64::from(b)),
                    (v, _) => v,
                };
                self.bind(value)
            }
            Backend::Postgres => {
                if value.is_null() {
                    self.push("CAST(")
                        .bind(Value::Null)
                        .push(" AS ")
                        .push(&column.cast_type)
                        .push(")")
                } else {
                    let text = value.as_text().map(Value::Text).unwrap_or(Value::Null);
                    self.push("CAST(")
                        .bind(text)
                        .push(" AS ")
                        .push(&column.cast_type)
                        .push(")")
                }
            }
        }
    }

    /// The column as it is read: typed where the row decoder knows the type, else as text.
    pub fn select_column(&mut self, column: &Column) -> &mut Self {
        if column.kind == Kind::Text && column.cast_type.contains('(') {
            // `varchar(20)` may become `varchar(50)` under the same text and fingerprint.
            self.fixed_types = false;
        }
        match (self.backend, column.kind) {
            (
                Backend::Postgres,
                Kind::Int | Kind::Float | Kind::Bool | Kind::Text | Kind::Bytes,
            ) => self.ident(&column.name),
            (Backend::Postgres, _) => self.push("CAST(").ident(&column.name).push(" AS TEXT)"),
            (Backend::Sqlite, _) => self.ident(&column.name),
        }
    }

    /// The column compared as text, for search and `contains` / `startswith`.
    pub fn column_as_text(&mut self, column: &Column) -> &mut Self {
        match (self.backend, column.kind) {
            (Backend::Postgres, Kind::Text) | (Backend::Sqlite, _) => self.ident(&column.name),
            (Backend::Postgres, _) => self.push("CAST(").ident(&column.name).push(" AS TEXT)"),
        }
    }

    /// Case-insensitive LIKE with `\` as the escape character.
    pub fn like(&mut self) -> &mut Self {
        match self.backend {
            Backend::Sqlite => self.push(" LIKE "),
            Backend::Postgres => self.push(" ILIKE "),
        }
    }

    /// The key columns as selected: `rowid` on SQLite tables without a primary key.
    pub fn select_list(&mut self, table: &Table) -> &mut Self {
        for (i, c) in table.columns.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.select_column(c);
        }
        if table.key == crate::catalog::RowKey::RowId {
            self.push(", rowid");
        }
        self
    }

    pub fn load(&self, conn: &mut DbConn) -> QueryResult<Vec<Vec<Value>>> {
        let rows: Vec<Cells> = match conn {
            DbConn::Sqlite(c) => match crate::engine::prepared::Prepared::of(self) {
                Some(p) => p.load(c)?,
                None => self.boxed_sqlite().load(c)?,
            },
            DbConn::Postgres(c) => match crate::engine::prepared::Prepared::of(self) {
                Some(p) => p.load(c)?,
                None => self.boxed_pg().load(c)?,
            },
        };
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Stream rows to `each` without holding them all (exports of any size).
    pub fn for_each(
        &self,
        conn: &mut DbConn,
        mut each: impl FnMut(Vec<Value>) -> bool,
    ) -> QueryResult<()> {
        match conn {
            DbConn::Sqlite(c) => {
                for row in self
                    .boxed_sqlite()
                    .load_iter::<Cells, diesel::connection::DefaultLoadingMode>(c)?
                {
                    if !each(row?.0) {
                        break;
                    }
                }
            }
            DbConn::Postgres(c) => {
                for row in self
                    .boxed_pg()
                    .load_iter::<Cells, diesel::pg::PgRowByRowLoadingMode>(c)?
                {
                    if !each(row?.0) {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    pub fn execute(&self, conn: &mut DbConn) -> QueryResult<usize> {
        match conn {
            DbConn::Sqlite(c) => self.boxed_sqlite().execute(c),
            DbConn::Postgres(c) => self.boxed_pg().execute(c),
        }
    }

    fn boxed_sqlite(
        &self,
    ) -> diesel::query_builder::BoxedSqlQuery<
        '_,
        diesel::sqlite::Sqlite,
        diesel::query_builder::SqlQuery,
    > {
        let mut q = diesel::sql_query(self.text.clone()).into_boxed::<diesel::sqlite::Sqlite>();
        for b in &self.binds {
            q = match b {
                Value::Null => q.bind::<Nullable<Text>, _>(None::<String>),
                Value::Bool(v) => q.bind::<BigInt, _>(i64::from(*v)),
                Value::Int(v) => q.bind::<BigInt, _>(*v),
                Value::Float(v) => q.bind::<Double, _>(*v),
                Value::Text(v) => q.bind::<Text, _>(v.as_str()),
                Value::Bytes(v) => q.bind::<Binary, _>(v.as_slice()),
            };
        }
        q
    }

    fn boxed_pg(
        &self,
    ) -> diesel::query_builder::BoxedSqlQuery<'_, diesel::pg::Pg, diesel::query_builder::SqlQuery>
    {
        let mut q = diesel::sql_query(self.text.clone()).into_boxed::<diesel::pg::Pg>();
        for b in &self.binds {
            q = q.bind::<Nullable<Text>, _>(b.as_text());
        }
        q
    }
}

/// One row's values, decoded straight from the database's row (not through a
/// `DynamicRow` copied value by value).
pub(crate) struct Cells(pub(crate) Vec<Value>);

fn cells<'a, DB: diesel::backend::Backend>(row: &impl Row<'a, DB>) -> deserialize::Result<Cells>
where
    Value: FromSql<Any, DB>,
{
    (0..row.field_count())
        .map(|i| match Row::get(row, i) {
            Some(field) => Value::from_nullable_sql(field.value()),
            None => Ok(Value::Null),
        })
        .collect::<deserialize::Result<Vec<Value>>>()
        .map(Cells)
}

impl QueryableByName<diesel::sqlite::Sqlite> for Cells {
    fn build<'a>(row: &impl NamedRow<'a, diesel::sqlite::Sqlite>) -> deserialize::Result<Self> {
        cells(row)
    }
}

impl QueryableByName<diesel::pg::Pg> for Cells {
    fn build<'a>(row: &impl NamedRow<'a, diesel::pg::Pg>) -> deserialize::Result<Self> {
        cells(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_values_never_spliced() {
        let mut sql = Sql::new(Backend::Postgres);
        sql.push("SELECT * FROM ")
            .ident("we\"ird; DROP TABLE x")
            .push(" WHERE a = ")
            .bind(Value::Text("'; --".into()));
        assert_eq!(
            sql.text(),
            "SELECT * FROM \"we\"\"ird; DROP TABLE x\" WHERE a = $1"
        );
        let mut sql = Sql::new(Backend::Sqlite);
        sql.push("x = ")
            .bind(Value::Int(1))
            .push(" AND y = ")
            .bind(Value::Int(2));
        assert_eq!(sql.text(), "x = ? AND y = ?");
    }
}
