//! The SQLite half of introspection: `sqlite_master` and the `pragma_*` table functions.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::own_table;
use crate::catalog::checks;
use crate::catalog::{Column, ForeignKey, Index, Kind, RowKey, Table};
use crate::error::AppError;

/// The kind of an SQLite column from its declared type, after SQLite's affinity rules.
pub fn sqlite_kind(declared: &str) -> Kind {
    let t = declared.to_ascii_uppercase();
    let has = |s: &str| t.contains(s);
    if has("BOOL") {
        Kind::Bool
    } else if has("DATETIME") || has("TIMESTAMP") {
        Kind::DateTime
    } else if has("DATE") {
        Kind::Date
    } else if has("TIME") {
        Kind::Time
    } else if has("INT") {
        Kind::Int
    } else if has("JSON") {
        Kind::Json
    } else if has("UUID") {
        Kind::Uuid
    } else if has("CHAR") || has("CLOB") || has("TEXT") || t.is_empty() {
        Kind::Text
    } else if has("BLOB") {
        Kind::Bytes
    } else if has("REAL") || has("FLOA") || has("DOUB") {
        Kind::Float
    } else {
        Kind::Decimal
    }
}

pub(super) fn load_sqlite(conn: &mut SqliteConnection) -> Result<Vec<Table>, AppError> {
    #[derive(QueryableByName)]
    struct Object {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        kind: String,
        #[diesel(sql_type = Nullable<Text>)]
        sql: Option<String>,
    }
    #[derive(QueryableByName)]
    struct Col {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        data_type: String,
        #[diesel(sql_type = BigInt)]
        not_null: i64,
        #[diesel(sql_type = Nullable<Text>)]
        dflt_value: Option<String>,
        #[diesel(sql_type = BigInt)]
        pk: i64,
        #[diesel(sql_type = BigInt)]
        hidden: i64,
    }
    #[derive(QueryableByName)]
    struct Fk {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = Text)]
        ref_table: String,
        #[diesel(sql_type = Text)]
        from_col: String,
        #[diesel(sql_type = Nullable<Text>)]
        to_col: Option<String>,
    }
    #[derive(QueryableByName)]
    struct Idx {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = BigInt)]
        is_unique: i64,
        #[diesel(sql_type = Nullable<Text>)]
        col: Option<String>,
    }

    let objects = diesel::sql_query(
        "SELECT name, type AS kind, sql FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name",
    )
    .load::<Object>(conn)?;
    let mut tables = Vec::new();
    for o in objects.into_iter().filter(|o| !own_table(&o.name)) {
        let cols = diesel::sql_query(
            "SELECT name, type AS data_type, \"notnull\" AS not_null, dflt_value, pk, hidden \
             FROM pragma_table_xinfo(?) ORDER BY cid",
        )
        .bind::<Text, _>(&o.name)
        .load::<Col>(conn)?;
        let sql = o.sql.unwrap_or_default();
        let is_view = o.kind == "view";
        let without_rowid = sql
            .to_ascii_uppercase()
            .replace(char::is_whitespace, "")
            .contains("WITHOUTROWID");
        let enums = checks::in_lists(&sql);
        let mut pk: Vec<(i64, String)> = cols
            .iter()
            .filter(|c| c.pk > 0)
            .map(|c| (c.pk, c.name.clone()))
            .collect();
        pk.sort();
        let rowid_alias = pk.len() == 1
            && !without_rowid
            && cols
                .iter()
                .any(|c| c.pk == 1 && c.data_type.eq_ignore_ascii_case("INTEGER"));
        let columns = cols
            .iter()
            .map(|c| {
                let enum_values = enums
                    .get(&c.name.to_lowercase())
                    .cloned()
                    .unwrap_or_default();
                let kind = if enum_values.is_empty() {
                    sqlite_kind(&c.data_type)
                } else {
                    Kind::Enum
                };
                Column {
                    name: c.name.clone(),
                    data_type: c.data_type.clone(),
                    cast_type: c.data_type.clone(),
                    kind,
                    nullable: c.not_null == 0 && c.pk == 0,
                    default: c.dflt_value.clone(),
                    primary_key: c.pk > 0,
                    generated: (c.pk > 0 && rowid_alias) || c.hidden >= 2,
                    enum_values,
                }
            })
            .collect();
        let key = if is_view {
            RowKey::None
        } else if !pk.is_empty() {
            RowKey::Primary(pk.into_iter().map(|(_, n)| n).collect())
        } else if without_rowid {
            RowKey::None
        } else {
            RowKey::RowId
        };

        let fks = if is_view {
            Vec::new()
        } else {
            diesel::sql_query(
                "SELECT id, \"table\" AS ref_table, \"from\" AS from_col, \"to\" AS to_col \
                 FROM pragma_foreign_key_list(?) ORDER BY id, seq",
            )
            .bind::<Text, _>(&o.name)
            .load::<Fk>(conn)?
        };
        let mut foreign_keys: Vec<ForeignKey> = Vec::new();
        for fk in fks {
            let name = format!("fk_{}_{}", o.name, fk.id);
            match foreign_keys.iter_mut().find(|f| f.name == name) {
                Some(f) => {
                    f.columns.push(fk.from_col);
                    f.ref_columns.push(fk.to_col.unwrap_or_default());
                }
                None => foreign_keys.push(ForeignKey {
                    name,
                    columns: vec![fk.from_col],
                    ref_table: fk.ref_table,
                    ref_columns: vec![fk.to_col.unwrap_or_default()],
                }),
            }
        }

        let idx_rows = if is_view {
            Vec::new()
        } else {
            diesel::sql_query(
                "SELECT il.name AS name, il.\"unique\" AS is_unique, ii.name AS col \
                 FROM pragma_index_list(?) il JOIN pragma_index_info(il.name) ii ORDER BY il.name, ii.seqno",
            )
            .bind::<Text, _>(&o.name)
            .load::<Idx>(conn)?
        };
        let mut indexes: Vec<Index> = Vec::new();
        for r in idx_rows {
            match indexes.iter_mut().find(|i| i.name == r.name) {
                Some(i) => i.columns.push(r.col.unwrap_or_default()),
                None => indexes.push(Index {
                    name: r.name,
                    columns: vec![r.col.unwrap_or_default()],
                    unique: r.is_unique != 0,
                }),
            }
        }
        // Expression indexes have no column name: they cannot back a label or a lookup.
        indexes.retain(|i| i.columns.iter().all(|c| !c.is_empty()));

        tables.push(Table {
            name: o.name,
            is_view,
            columns,
            key,
            foreign_keys,
            referrers: Vec::new(),
            indexes,
            estimated_rows: None,
            scopes: None,
        });
    }
    // A foreign key without target columns refers to the target's primary key.
    let pks: BTreeMap<String, Vec<String>> = tables
        .iter()
        .map(|t| (t.name.clone(), t.key_columns()))
        .collect();
    for t in &mut tables {
        for fk in &mut t.foreign_keys {
            if fk.ref_columns.iter().any(String::is_empty)
                && let Some(pk) = pks.get(&fk.ref_table)
            {
                fk.ref_columns = pk.clone();
            }
        }
    }
    Ok(tables)
}
