//! DDL for the schema builder: what an operator asks for (`Change`), checked against the
//! catalog and turned into the exact statements for this backend (`Plan`), with what they
//! affect; then run in one transaction with its audit entry (`apply`). SQLite changes
//! `ALTER TABLE` cannot make are done with its documented 12-step table rebuild.
//! Names are checked (`ident`) and quoted; defaults are checked literals (`types`).

mod alter;
mod apply;
mod create;
pub mod ident;
mod impact;
mod rebuild;
mod sqltext;
pub mod types;

pub use apply::{Applied, apply};
pub use impact::{enum_types, referrers as impact_referrers};
pub use types::{ColumnType, ON_DELETE_CHOICES, OnDelete, TYPE_CHOICES};

use crate::catalog::{Catalog, Table};
use crate::db::{Backend, DbConn};
use crate::error::AppError;

/// A column of a new table, or one added to a table.
#[derive(Debug, Clone)]
pub struct ColumnSpec {
    pub name: String,
    pub ty: ColumnType,
    pub not_null: bool,
    /// What the operator typed; checked against the type before it becomes a literal.
    pub default: Option<String>,
    pub unique: bool,
    pub primary_key: bool,
    /// A table whose (single-column) primary key this column refers to.
    pub references: Option<(String, OnDelete)>,
}

#[derive(Debug, Clone)]
pub struct IndexSpec {
    pub columns: Vec<String>,
    pub unique: bool,
}

#[derive(Debug, Clone)]
pub struct NewTable {
    pub name: String,
    pub columns: Vec<ColumnSpec>,
    pub indexes: Vec<IndexSpec>,
}

/// One change to the schema.
#[derive(Debug, Clone)]
pub enum Change {
    CreateTable(NewTable),
    AddColumn(ColumnSpec),
    RenameColumn {
        from: String,
        to: String,
    },
    SetDefault {
        column: String,
        default: Option<String>,
    },
    SetNotNull {
        column: String,
        not_null: bool,
    },
    DropColumn {
        column: String,
    },
    AddIndex(IndexSpec),
    DropIndex {
        name: String,
    },
    AddForeignKey {
        columns: Vec<String>,
        ref_table: String,
        on_delete: OnDelete,
    },
    RenameTable {
        to: String,
    },
    DropTable,
}

/// What a change touches, shown before it is confirmed.
#[derive(Debug, Clone, Default)]
pub struct Impact {
    pub rows: Option<i64>,
    /// Other tables' foreign keys to this one: `orders (customer_id)`.
    pub referrers: Vec<String>,
    pub views: Vec<String>,
    pub indexes: Vec<String>,
    pub notes: Vec<String>,
}

/// A name that changes with the change, so the rights and saved views that name it follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renamed {
    /// A dropped column: saved views forget it.
    ColumnDropped {
        table: String,
        column: String,
    },
    Table {
        from: String,
        to: String,
    },
    /// A dropped table: its row rules go with it.
    TableDropped {
        table: String,
    },
    Column {
        table: String,
        from: String,
        to: String,
    },
}

/// The statements of one change, ready to show and to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub backend: Backend,
    /// The table changed (the new one's name for a new table, the old one's for a rename).
    pub table: String,
    /// In words: "add column note to orders".
    pub summary: String,
    pub statements: Vec<String>,
    /// SQLite's 12-step rebuild: foreign keys off around the transaction, and
    /// `foreign_key_check` on these tables before it commits.
    pub rebuild: Option<Vec<String>>,
    pub impact: Impact,
    /// The name the operator must type to confirm (dropping a table or a column).
    pub confirm_name: Option<String>,
    pub renamed: Option<Renamed>,
}

impl Plan {
    /// The exact script as it runs, transaction and pragmas included.
    pub fn script(&self) -> String {
        let mut out = String::new();
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE;\n",
            Backend::Postgres => "BEGIN;\n",
        };
        if self.rebuild.is_some() {
            out.push_str("PRAGMA foreign_keys = OFF;\n");
        }
        out.push_str(begin);
        for s in &self.statements {
            out.push_str(s);
            out.push_str(";\n");
        }
        for t in self.rebuild.iter().flatten() {
            out.push_str(&format!(
                "PRAGMA foreign_key_check({}); -- any row found rolls back\n",
                crate::engine::sql::quote(t)
            ));
        }
        out.push_str("COMMIT;\n");
        if self.rebuild.is_some() {
            out.push_str("PRAGMA foreign_keys = ON;\n");
        }
        out
    }
}

/// Check `change` against the catalog (as the operator's role sees it) and the database,
/// and build its plan; `Err` says in words why it is refused.
pub fn plan(
    conn: &mut DbConn,
    catalog: &Catalog,
    table: Option<&Table>,
    change: &Change,
) -> Result<Result<Plan, String>, AppError> {
    match (change, table) {
        (Change::CreateTable(spec), _) => create::plan(conn, catalog, spec),
        (_, Some(table)) if table.is_view => Ok(Err(
            "This is a view: the schema builder changes tables only.".into(),
        )),
        (_, Some(table)) => alter::plan(conn, catalog, table, change),
        (_, None) => Err(AppError::NotFound),
    }
}

/// The backend of a connection.
fn backend_of(conn: &DbConn) -> Backend {
    match conn {
        DbConn::Sqlite(_) => Backend::Sqlite,
        DbConn::Postgres(_) => Backend::Postgres,
    }
}
