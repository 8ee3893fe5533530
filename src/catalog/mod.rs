//! The catalog: every user table and view with its columns, keys, foreign keys (both
//! directions), unique constraints, indexes and enumerations. Introspected from the
//! database, cached in memory, and reloaded when the schema changes or on request.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

mod checks;
mod introspect;
pub mod rules;

use crate::db::DbConn;
use crate::error::AppError;

/// How a column's values are read, shown, parsed and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    Decimal,
    Text,
    Bool,
    Date,
    Time,
    DateTime,
    DateTimeTz,
    Uuid,
    Json,
    Bytes,
    Array,
    Enum,
    /// Shown as text, never edited.
    Unknown,
}

impl Kind {
    pub fn is_numeric(self) -> bool {
        matches!(self, Kind::Int | Kind::Float | Kind::Decimal)
    }

    pub fn is_textual(self) -> bool {
        matches!(self, Kind::Text | Kind::Enum | Kind::Uuid)
    }

    pub fn is_temporal(self) -> bool {
        matches!(
            self,
            Kind::Date | Kind::Time | Kind::DateTime | Kind::DateTimeTz
        )
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// The declared type, as the database names it (`integer`, `varchar(20)`, `order_status`).
    pub data_type: String,
    /// On Postgres: the type to CAST a text parameter to (from `format_type`).
    pub cast_type: String,
    pub kind: Kind,
    pub nullable: bool,
    pub default: Option<String>,
    pub primary_key: bool,
    /// Filled in by the database (auto-increment, serial, identity, generated).
    pub generated: bool,
    pub enum_values: Vec<String>,
}

impl Column {
    pub fn editable(&self) -> bool {
        !matches!(self.kind, Kind::Bytes | Kind::Unknown) && !self.is_computed()
    }

    /// Generated columns (not keys with a sequence) can never be written.
    pub fn is_computed(&self) -> bool {
        self.generated && !self.primary_key && self.default.is_none()
    }

    pub fn required(&self) -> bool {
        !self.nullable && self.default.is_none() && !self.generated
    }

    /// The declared scale of a decimal column: the `s` of `NUMERIC(p,s)` / `DECIMAL(p,s)`
    /// (`0` for `NUMERIC(p)`), `None` where the type declares none.
    pub fn decimal_scale(&self) -> Option<u32> {
        if self.kind != Kind::Decimal {
            return None;
        }
        let (_, args) = self.data_type.split_once('(')?;
        let args = args.split_once(')')?.0;
        match args.split_once(',') {
            Some((_, scale)) => scale.trim().parse().ok(),
            None => args.trim().parse::<u32>().ok().map(|_| 0),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

/// A foreign key of another table that points at this one.
#[derive(Debug, Clone)]
pub struct Referrer {
    pub table: String,
    pub columns: Vec<String>,
    pub ref_columns: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Index {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

/// How rows of a table are addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowKey {
    /// The primary key columns, in order.
    Primary(Vec<String>),
    /// SQLite's implicit rowid (a table without a primary key).
    RowId,
    None,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub is_view: bool,
    pub columns: Vec<Column>,
    pub key: RowKey,
    pub foreign_keys: Vec<ForeignKey>,
    pub referrers: Vec<Referrer>,
    pub indexes: Vec<Index>,
    /// The planner's row estimate, where the database keeps one.
    pub estimated_rows: Option<i64>,
    /// The operator's row rules on this table, bound (set on a role's view of the catalog).
    pub scopes: Option<Arc<rules::Scopes>>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Why the table cannot be written, if it cannot.
    pub fn read_only_reason(&self) -> Option<&'static str> {
        if self.is_view {
            Some("This is a view: its rows are computed, so they can be read but not edited.")
        } else if self.key == RowKey::None {
            Some(
                "This table has no primary key, so a row cannot be addressed safely: it is read-only.",
            )
        } else {
            None
        }
    }

    /// The names of the key columns (`rowid` for SQLite's implicit key).
    pub fn key_columns(&self) -> Vec<String> {
        match &self.key {
            RowKey::Primary(cols) => cols.clone(),
            RowKey::RowId => vec!["rowid".to_string()],
            RowKey::None => Vec::new(),
        }
    }

    /// The single-column foreign key on `column`, if there is one.
    pub fn foreign_key_of(&self, column: &str) -> Option<&ForeignKey> {
        self.foreign_keys
            .iter()
            .find(|fk| fk.columns.len() == 1 && fk.columns[0] == column)
    }

    /// The column that best names a row: a unique text column, else a name-like column,
    /// else none (the key is used).
    pub fn label_column(&self) -> Option<&Column> {
        let unique_text = self
            .indexes
            .iter()
            .filter(|i| i.unique && i.columns.len() == 1)
            .find_map(|i| {
                self.column(&i.columns[0])
                    .filter(|c| c.kind == Kind::Text && !c.primary_key)
            });
        unique_text.or_else(|| {
            [
                "name",
                "title",
                "label",
                "full_name",
                "display_name",
                "email",
                "username",
                "sku",
                "code",
            ]
            .iter()
            .find_map(|n| self.columns.iter().find(|c| c.name.eq_ignore_ascii_case(n)))
        })
    }
}

#[derive(Debug, Default)]
pub struct Catalog {
    pub tables: BTreeMap<String, Arc<Table>>,
}

impl Catalog {
    pub fn table(&self, name: &str) -> Result<Arc<Table>, AppError> {
        self.tables.get(name).cloned().ok_or(AppError::NotFound)
    }
}

/// The cached catalog, shared by all workers, with the schema fingerprint it was read at.
/// A reload after our own schema change tells the other instances (`peers`) to check theirs
/// at their next request instead of within `CHECK_EVERY`.
pub struct CatalogCache {
    inner: RwLock<Cached>,
    pub peers: crate::db::notify::Peers,
}

/// The channel on which instances tell each other that the schema changed.
pub const CATALOG_CHANNEL: &str = "gh_catalog";

struct Cached {
    catalog: Arc<Catalog>,
    fingerprint: String,
    checked: Instant,
}

static SCHEMA_EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times this process read the schema again: statements prepared before a change
/// are not run after it (`engine::prepared`).
pub fn schema_epoch() -> u64 {
    SCHEMA_EPOCH.load(std::sync::atomic::Ordering::SeqCst)
}

/// How often a request may check whether the schema changed.
const CHECK_EVERY: Duration = Duration::from_secs(2);

impl CatalogCache {
    pub fn load(conn: &mut DbConn) -> Result<CatalogCache, AppError> {
        let fingerprint = crate::catalog::introspect::fingerprint(conn)?;
        let catalog = crate::catalog::introspect::load(conn)?;
        Ok(CatalogCache {
            inner: RwLock::new(Cached {
                catalog: Arc::new(catalog),
                fingerprint,
                checked: Instant::now(),
            }),
            peers: Default::default(),
        })
    }

    /// Check the fingerprint at the next request (a notification from another instance).
    pub fn expire_here(&self) {
        if let Ok(mut c) = self.inner.write()
            && let Some(long_ago) = Instant::now().checked_sub(CHECK_EVERY * 2)
        {
            c.checked = long_ago;
        }
    }

    fn cached(&self) -> (Arc<Catalog>, bool) {
        match self.inner.read() {
            Ok(c) => (c.catalog.clone(), c.checked.elapsed() > CHECK_EVERY),
            Err(poisoned) => (poisoned.into_inner().catalog.clone(), true),
        }
    }

    /// The catalog as last read, without checking the schema (the navigation's table list).
    pub fn current(&self) -> Arc<Catalog> {
        self.cached().0
    }

    /// The catalog when it was checked against the schema lately: no trip to the database
    /// is needed to use it (`None`: call [`Self::get`] with a connection).
    pub fn fresh(&self) -> Option<Arc<Catalog>> {
        match self.cached() {
            (catalog, false) => Some(catalog),
            (_, true) => None,
        }
    }

    /// The catalog, reloaded first if the schema changed since it was read.
    pub fn get(&self, conn: &mut DbConn) -> Result<Arc<Catalog>, AppError> {
        let (catalog, stale) = self.cached();
        if !stale {
            return Ok(catalog);
        }
        let fingerprint = crate::catalog::introspect::fingerprint(conn)?;
        let unchanged = self
            .inner
            .read()
            .map(|c| c.fingerprint == fingerprint)
            .unwrap_or(false);
        if unchanged {
            if let Ok(mut c) = self.inner.write() {
                c.checked = Instant::now();
            }
            return Ok(catalog);
        }
        self.reload_with(conn, fingerprint)
    }

    /// Read the schema again now (the "refresh" button, and after our own DDL).
    pub fn reload(&self, conn: &mut DbConn) -> Result<Arc<Catalog>, AppError> {
        let fingerprint = crate::catalog::introspect::fingerprint(conn)?;
        let catalog = self.reload_with(conn, fingerprint)?;
        self.peers.tell("changed");
        Ok(catalog)
    }

    fn reload_with(
        &self,
        conn: &mut DbConn,
        fingerprint: String,
    ) -> Result<Arc<Catalog>, AppError> {
        let catalog = Arc::new(crate::catalog::introspect::load(conn)?);
        SCHEMA_EPOCH.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut c) = self.inner.write() {
            *c = Cached {
                catalog: catalog.clone(),
                fingerprint,
                checked: Instant::now(),
            };
        }
        Ok(catalog)
    }
}
