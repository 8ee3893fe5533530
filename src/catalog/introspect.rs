//! Reading the catalog from the database: `sqlite_master` and the `pragma_*` functions on
//! SQLite, `pg_catalog` on Postgres. Gatehouse's own tables (`gh_*`) and diesel's
//! migration table are left out.

use std::collections::BTreeMap;
use std::sync::Arc;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text};

use crate::catalog::checks;
use crate::catalog::{Catalog, Column, ForeignKey, Index, Kind, Referrer, RowKey, Table};
use crate::db::DbConn;
use crate::error::AppError;

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
            "SELECT md5(string_agg(c.oid::text || c.relkind::text || ':' || a.attname || ':' \
             || a.atttypid::text || a.attnotnull::text, ',' ORDER BY c.oid, a.attnum)) \
             || (SELECT count(*)::text FROM pg_constraint k WHERE k.connamespace = \
             (SELECT oid FROM pg_namespace WHERE nspname = current_schema())) AS v \
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

fn load_sqlite(conn: &mut SqliteConnection) -> Result<Vec<Table>, AppError> {
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

/// The kind of a Postgres column from its type.
pub fn pg_kind(type_name: &str, type_type: &str, category: &str) -> Kind {
    if category == "A" {
        return Kind::Array;
    }
    if type_type == "e" {
        return Kind::Enum;
    }
    match type_name {
        "int2" | "int4" | "int8" => Kind::Int,
        "float4" | "float8" => Kind::Float,
        "numeric" | "money" => Kind::Decimal,
        "text" | "varchar" | "bpchar" | "name" | "citext" => Kind::Text,
        "bool" => Kind::Bool,
        "date" => Kind::Date,
        "time" | "timetz" => Kind::Time,
        "timestamp" => Kind::DateTime,
        "timestamptz" => Kind::DateTimeTz,
        "uuid" => Kind::Uuid,
        "json" | "jsonb" => Kind::Json,
        "bytea" => Kind::Bytes,
        _ => Kind::Unknown,
    }
}

fn load_postgres(conn: &mut PgConnection) -> Result<Vec<Table>, AppError> {
    #[derive(QueryableByName)]
    struct Rel {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        kind: String,
        #[diesel(sql_type = Double)]
        estimate: f64,
    }
    #[derive(QueryableByName)]
    struct Col {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        data_type: String,
        #[diesel(sql_type = Text)]
        type_name: String,
        #[diesel(sql_type = Text)]
        type_type: String,
        #[diesel(sql_type = Text)]
        category: String,
        #[diesel(sql_type = Bool)]
        not_null: bool,
        #[diesel(sql_type = Nullable<Text>)]
        default_expr: Option<String>,
        #[diesel(sql_type = Text)]
        identity: String,
        #[diesel(sql_type = Text)]
        generated: String,
    }
    #[derive(QueryableByName)]
    struct KeyCol {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        index_name: String,
        #[diesel(sql_type = Bool)]
        is_primary: bool,
        #[diesel(sql_type = Bool)]
        is_unique: bool,
        #[diesel(sql_type = Text)]
        column_name: String,
    }
    #[derive(QueryableByName)]
    struct FkCol {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        column_name: String,
        #[diesel(sql_type = Text)]
        ref_table: String,
        #[diesel(sql_type = Text)]
        ref_column: String,
    }
    #[derive(QueryableByName)]
    struct EnumLabel {
        #[diesel(sql_type = Text)]
        type_name: String,
        #[diesel(sql_type = Text)]
        label: String,
    }
    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        def: String,
    }
    const IN_SCHEMA: &str = "n.nspname = current_schema() AND c.relkind IN ('r', 'v', 'm', 'p')";
    let rels = diesel::sql_query(format!(
        "SELECT c.relname::text AS name, c.relkind::text AS kind, c.reltuples::float8 AS estimate \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {IN_SCHEMA} ORDER BY 1"
    ))
    .load::<Rel>(conn)?;
    let cols = diesel::sql_query(format!(
        "SELECT c.relname::text AS table_name, a.attname::text AS name, \
         format_type(a.atttypid, a.atttypmod) AS data_type, t.typname::text AS type_name, \
         t.typtype::text AS type_type, t.typcategory::text AS category, a.attnotnull AS not_null, \
         pg_get_expr(d.adbin, d.adrelid) AS default_expr, a.attidentity::text AS identity, \
         a.attgenerated::text AS generated \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE {IN_SCHEMA} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum"
    ))
    .load::<Col>(conn)?;
    let keys = diesel::sql_query(format!(
        "SELECT c.relname::text AS table_name, ic.relname::text AS index_name, i.indisprimary AS is_primary, \
         i.indisunique AS is_unique, a.attname::text AS column_name \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
         WHERE {IN_SCHEMA} ORDER BY c.relname, ic.relname, k.ord"
    ))
    .load::<KeyCol>(conn)?;
    let fks = diesel::sql_query(
        "SELECT con.conname::text AS name, src.relname::text AS table_name, a.attname::text AS column_name, \
         dst.relname::text AS ref_table, b.attname::text AS ref_column \
         FROM pg_constraint con JOIN pg_class src ON src.oid = con.conrelid \
         JOIN pg_class dst ON dst.oid = con.confrelid JOIN pg_namespace n ON n.oid = src.relnamespace \
         CROSS JOIN LATERAL generate_subscripts(con.conkey, 1) AS k(i) \
         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[k.i] \
         JOIN pg_attribute b ON b.attrelid = con.confrelid AND b.attnum = con.confkey[k.i] \
         WHERE con.contype = 'f' AND n.nspname = current_schema() ORDER BY src.relname, con.conname, k.i",
    )
    .load::<FkCol>(conn)?;
    let enum_labels = diesel::sql_query(
        "SELECT t.typname::text AS type_name, e.enumlabel::text AS label FROM pg_enum e \
         JOIN pg_type t ON t.oid = e.enumtypid ORDER BY t.typname, e.enumsortorder",
    )
    .load::<EnumLabel>(conn)?;
    let check_defs = diesel::sql_query(
        "SELECT c.relname::text AS table_name, pg_get_constraintdef(con.oid) AS def FROM pg_constraint con \
         JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE con.contype = 'c' AND n.nspname = current_schema()",
    )
    .load::<Check>(conn)?;

    let mut enums: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in enum_labels {
        enums.entry(e.type_name).or_default().push(e.label);
    }
    let mut tables = Vec::new();
    for rel in rels.into_iter().filter(|r| !own_table(&r.name)) {
        let is_view = matches!(rel.kind.as_str(), "v" | "m");
        let checks_here: BTreeMap<String, Vec<String>> = check_defs
            .iter()
            .filter(|c| c.table_name == rel.name)
            .flat_map(|c| checks::in_lists(&c.def))
            .collect();
        let pk: Vec<String> = keys
            .iter()
            .filter(|k| k.table_name == rel.name && k.is_primary)
            .map(|k| k.column_name.clone())
            .collect();
        let columns: Vec<Column> = cols
            .iter()
            .filter(|c| c.table_name == rel.name)
            .map(|c| {
                let mut kind = pg_kind(&c.type_name, &c.type_type, &c.category);
                let mut enum_values = enums.get(&c.type_name).cloned().unwrap_or_default();
                if kind == Kind::Text
                    && let Some(values) = checks_here.get(&c.name.to_lowercase())
                {
                    kind = Kind::Enum;
                    enum_values = values.clone();
                }
                let generated = c.identity == "a"
                    || c.identity == "d"
                    || c.generated == "s"
                    || c.default_expr
                        .as_deref()
                        .is_some_and(|d| d.starts_with("nextval("));
                Column {
                    name: c.name.clone(),
                    data_type: c.data_type.clone(),
                    cast_type: c.data_type.clone(),
                    kind,
                    nullable: !c.not_null,
                    default: c.default_expr.clone(),
                    primary_key: pk.contains(&c.name),
                    generated,
                    enum_values,
                }
            })
            .collect();
        let mut indexes: Vec<Index> = Vec::new();
        for k in keys.iter().filter(|k| k.table_name == rel.name) {
            match indexes.iter_mut().find(|i| i.name == k.index_name) {
                Some(i) => i.columns.push(k.column_name.clone()),
                None => indexes.push(Index {
                    name: k.index_name.clone(),
                    columns: vec![k.column_name.clone()],
                    unique: k.is_unique,
                }),
            }
        }
        let mut foreign_keys: Vec<ForeignKey> = Vec::new();
        for f in fks.iter().filter(|f| f.table_name == rel.name) {
            match foreign_keys.iter_mut().find(|x| x.name == f.name) {
                Some(x) => {
                    x.columns.push(f.column_name.clone());
                    x.ref_columns.push(f.ref_column.clone());
                }
                None => foreign_keys.push(ForeignKey {
                    name: f.name.clone(),
                    columns: vec![f.column_name.clone()],
                    ref_table: f.ref_table.clone(),
                    ref_columns: vec![f.ref_column.clone()],
                }),
            }
        }
        tables.push(Table {
            key: if is_view || pk.is_empty() {
                RowKey::None
            } else {
                RowKey::Primary(pk)
            },
            name: rel.name,
            is_view,
            columns,
            foreign_keys,
            referrers: Vec::new(),
            indexes,
            estimated_rows: (rel.estimate >= 0.0).then_some(rel.estimate as i64),
        });
    }
    Ok(tables)
}
