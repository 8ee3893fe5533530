//! The Postgres half of introspection: `pg_catalog`.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Double, Nullable, Text};

use super::own_table;
use crate::catalog::checks;
use crate::catalog::{Column, ForeignKey, Index, Kind, RowKey, Table};
use crate::error::AppError;

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

pub(super) fn load_postgres(conn: &mut PgConnection) -> Result<Vec<Table>, AppError> {
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
            scopes: None,
        });
    }
    Ok(tables)
}
