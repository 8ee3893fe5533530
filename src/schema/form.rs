//! The builder's forms read into a `Change`: the new-table form (numbered column and index
//! rows) and the one form of each alteration on a table's schema page (`op`).

use crate::engine::ddl::{Change, ColumnSpec, ColumnType, IndexSpec, NewTable, OnDelete};
use crate::web::form::{Pairs, get};

/// Column rows on the new-table form, and index rows.
pub const COLUMN_ROWS: usize = 8;
pub const INDEX_ROWS: usize = 3;

fn text(pairs: &Pairs, name: &str) -> String {
    get(pairs, name).unwrap_or("").trim().to_string()
}

fn checked(pairs: &Pairs, name: &str) -> bool {
    get(pairs, name).is_some_and(|v| !v.is_empty() && v != "off")
}

/// `a, b` → [a, b]
fn list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// One column from fields named `{prefix}name`, `{prefix}type` …; `None` for an empty row.
fn column(
    pairs: &Pairs,
    prefix: &str,
    enums: &[(String, Vec<String>)],
) -> Result<Option<ColumnSpec>, String> {
    let name = text(pairs, &format!("{prefix}name"));
    if name.is_empty() {
        return Ok(None);
    }
    let f = |field: &str| text(pairs, &format!("{prefix}{field}"));
    let ty = ColumnType::parse(&f("type"), &f("size"), &f("scale"), enums)
        .map_err(|e| format!("{name}: {e}"))?;
    let default = get(pairs, &format!("{prefix}default"))
        .filter(|d| !d.trim().is_empty())
        .map(str::to_string);
    let target = f("ref");
    let references = if target.is_empty() {
        None
    } else {
        Some((target, OnDelete::parse(&f("on_delete"))?))
    };
    Ok(Some(ColumnSpec {
        name,
        ty,
        not_null: checked(pairs, &format!("{prefix}not_null")),
        default,
        unique: checked(pairs, &format!("{prefix}unique")),
        primary_key: checked(pairs, &format!("{prefix}pk")),
        references,
    }))
}

/// The new-table form: `name`, columns `c{i}.…`, indexes `i{j}.columns` / `i{j}.unique`.
pub fn new_table(pairs: &Pairs, enums: &[(String, Vec<String>)]) -> Result<Change, String> {
    let mut columns = Vec::new();
    for i in 0..COLUMN_ROWS {
        if let Some(c) = column(pairs, &format!("c{i}."), enums)? {
            columns.push(c);
        }
    }
    let indexes = (0..INDEX_ROWS)
        .filter_map(|j| {
            let cols = list(&text(pairs, &format!("i{j}.columns")));
            (!cols.is_empty()).then(|| IndexSpec {
                columns: cols,
                unique: checked(pairs, &format!("i{j}.unique")),
            })
        })
        .collect();
    Ok(Change::CreateTable(NewTable {
        name: text(pairs, "name"),
        columns,
        indexes,
    }))
}

/// One alteration of a table's schema page, named by `op`.
pub fn alteration(pairs: &Pairs, enums: &[(String, Vec<String>)]) -> Result<Change, String> {
    let column_name = text(pairs, "column");
    Ok(match get(pairs, "op").unwrap_or("") {
        "add_column" => match column(pairs, "", enums)? {
            Some(c) => Change::AddColumn(c),
            None => return Err("Give the new column a name.".into()),
        },
        "rename_column" => Change::RenameColumn {
            from: column_name,
            to: text(pairs, "to"),
        },
        "set_default" => Change::SetDefault {
            column: column_name,
            default: get(pairs, "default")
                .filter(|d| !d.trim().is_empty())
                .map(str::to_string),
        },
        "set_not_null" => Change::SetNotNull {
            column: column_name,
            not_null: get(pairs, "not_null") == Some("yes"),
        },
        "drop_column" => Change::DropColumn {
            column: column_name,
        },
        "add_index" => Change::AddIndex(IndexSpec {
            columns: list(&text(pairs, "columns")),
            unique: checked(pairs, "unique"),
        }),
        "drop_index" => Change::DropIndex {
            name: text(pairs, "index"),
        },
        "add_foreign_key" => Change::AddForeignKey {
            columns: list(&text(pairs, "columns")),
            ref_table: text(pairs, "ref"),
            on_delete: OnDelete::parse(&text(pairs, "on_delete"))?,
        },
        "rename_table" => Change::RenameTable {
            to: text(pairs, "to"),
        },
        "drop_table" => Change::DropTable,
        other => return Err(format!("\"{other}\" is not a change the builder makes.")),
    })
}
