//! Reading the catalog from the database: `sqlite_master` and the `pragma_*` functions on
//! SQLite, `pg_catalog` on Postgres. Gatehouse's own tables (`gh_*`) and diesel's
//! migration table are left out.

use std::collections::BTreeMap;
use std::sync::Arc;

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use crate::catalog::{Catalog, Referrer, Table};
use crate::db::DbConn;
use crate::error::AppError;

mod postgres;
mod sqlite;

use postgres::load_postgres;
use sqlite::load_sqlite;

/// Something that changes whenever the schema does, cheap to read.
pub fn fingerprint(conn: &mut DbConn) -> Result<String, AppError> {
    #[derive(QueryableByName)]
    struct Print {
        #[diesel(sql_type = Nullable<Text>)]
        v: Option<String>,
    }
    let sql = match conn {
        DbConn::Sqlite(_) => "SELECT CAST(schema_version AS TEXT) AS v FROM pragma_schema_version",
        DbConn::Postgres(_) => {
            "SELECT md5(string_agg(c.oid::text || c.relkind::text || ':' || c.relname || ':' \
             || a.attname || ':' || a.atttypid::text || a.attnotnull::text, ',' \
             ORDER BY c.oid, a.attnum)) \
             || (SELECT count(*)::text FROM pg_constraint k WHERE k.connamespace = \
             (SELECT oid FROM pg_namespace WHERE nspname = current_schema())) \
             || coalesce((SELECT md5(string_agg(d.adrelid::text || ':' || d.adnum::text || ':' \
             || pg_get_expr(d.adbin, d.adrelid), ',' ORDER BY d.adrelid, d.adnum)) \
             FROM pg_attrdef d JOIN pg_class dc ON dc.oid = d.adrelid WHERE dc.relnamespace = \
             (SELECT oid FROM pg_namespace WHERE nspname = current_schema())), '') AS v \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid \
             WHERE n.nspname = current_schema() AND a.attnum > 0 AND NOT a.attisdropped"
        }
    };
    let p = diesel::sql_query(sql).get_result::<Print>(conn)?;
    Ok(p.v.unwrap_or_default())
}

pub fn load(conn: &mut DbConn) -> Result<Catalog, AppError> {
    let mut tables = match conn {
        DbConn::Sqlite(c) => load_sqlite(c)?,
        DbConn::Postgres(c) => load_postgres(c)?,
    };
    link_referrers(&mut tables);
    Ok(Catalog {
        tables: tables
            .into_iter()
            .map(|t| (t.name.clone(), Arc::new(t)))
            .collect(),
    })
}

fn link_referrers(tables: &mut [Table]) {
    let mut referrers: BTreeMap<String, Vec<Referrer>> = BTreeMap::new();
    for t in tables.iter() {
        for fk in &t.foreign_keys {
            referrers
                .entry(fk.ref_table.clone())
                .or_default()
                .push(Referrer {
                    table: t.name.clone(),
                    columns: fk.columns.clone(),
                    ref_columns: fk.ref_columns.clone(),
                });
        }
    }
    for t in tables.iter_mut() {
        t.referrers = referrers.remove(&t.name).unwrap_or_default();
    }
}

fn own_table(name: &str) -> bool {
    name.starts_with("gh_") || name == "__diesel_schema_migrations" || name.starts_with("sqlite_")
}
