//! What the operator of a live stream may be told: every notice of a table they read
//! without a row rule, none of a table they may not read, and for a table they read through
//! a rule only the notices of rows inside it. Streams whose operators have the same bound
//! rule form a group; a batch of notices is checked with one statement per table (and
//! chunk of keys) for all groups at once, by the database, through the rules' one SQL
//! (`engine::notices`, `engine::store::visible_keys`): the row as it is when the check runs, so an update that
//! moved a row out of the rule sends no notice. A deleted row is checked as its deletion
//! was audited (`visible_snapshots`). A notice without a key (an import, or a key too long
//! to send) names no row and goes to every stream that may read the table.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures_util::future::LocalBoxFuture;

use crate::catalog::Catalog;
use crate::catalog::rules::{Action, Scope};
use crate::identity::permissions::Rights;

/// How a stream sees one table.
pub enum Sight<'a> {
    Nothing,
    Everything,
    /// Only rows inside the rule shared by the streams of `group`.
    Ruled {
        group: &'a str,
        scope: &'a Scope,
    },
}

/// The tables one stream's operator reads, and their bound read rules.
pub struct Viewer {
    rights: Arc<Rights>,
    /// Table → (group, the read rule bound for the operator).
    ruled: HashMap<String, (String, Scope)>,
}

impl Viewer {
    /// `view` is the catalog as the operator's role sees it (`Rights::catalog_view`).
    pub fn new(rights: Arc<Rights>, view: &Catalog) -> Viewer {
        let ruled = view
            .tables
            .iter()
            .filter(|(name, _)| rights.has_rule(name, Action::Read))
            .filter_map(|(name, t)| {
                let scope = t.scope(Action::Read)?.clone();
                Some((name.clone(), (format!("{name}\u{0}{scope:?}"), scope)))
            })
            .collect();
        Viewer { rights, ruled }
    }

    pub fn sight(&self, table: &str) -> Sight<'_> {
        if let Some((group, scope)) = self.ruled.get(table) {
            return Sight::Ruled { group, scope };
        }
        // A table with a read rule that the view lacks (dropped meanwhile) says nothing.
        if self.rights.can(table, Action::Read) && !self.rights.has_rule(table, Action::Read) {
            Sight::Everything
        } else {
            Sight::Nothing
        }
    }
}

/// A notice to check: its sequence number in the hub, table, key, action and audit id.
pub struct Pending<'a> {
    pub seq: u64,
    pub table: &'a str,
    pub key: &'a str,
    pub action: &'a str,
    pub audit_id: &'a str,
}

/// The groups and notices of one batch that need the database.
#[derive(Default)]
pub struct Plan {
    /// Table → groups (group → rule), and its notices by kind.
    pub tables: BTreeMap<String, TablePlan>,
}

#[derive(Default)]
pub struct TablePlan {
    pub groups: BTreeMap<String, Scope>,
    /// Key → the notices naming it (rows that exist, or should).
    pub rows: HashMap<String, Vec<u64>>,
    /// Deletions: (seq, audit id).
    pub deleted: Vec<(u64, String)>,
}

impl Plan {
    /// Note that the streams seeing `p.table` through `sight` need a verdict on it.
    pub fn add(&mut self, p: &Pending<'_>, sight: &Sight<'_>) {
        let Sight::Ruled { group, scope } = sight else {
            return;
        };
        if p.key.is_empty() {
            return;
        }
        let t = self.tables.entry(p.table.to_string()).or_default();
        if !t.groups.contains_key(*group) {
            t.groups.insert(group.to_string(), (*scope).clone());
        }
        if p.action == "deleted" {
            if !t.deleted.iter().any(|(s, _)| *s == p.seq) {
                t.deleted.push((p.seq, p.audit_id.to_string()));
            }
        } else {
            let seqs = t.rows.entry(p.key.to_string()).or_default();
            if !seqs.contains(&p.seq) {
                seqs.push(p.seq);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

/// The (group, seq) pairs whose notice the group's streams may be told.
#[derive(Default)]
pub struct Verdicts(HashSet<(String, u64)>);

/// What asks the database for a plan's verdicts (`engine::notices::check`, given to the
/// hub when it starts, so that the hub names nothing above it); nothing allowed on failure.
pub type Check = Arc<dyn Fn(Plan) -> LocalBoxFuture<'static, Verdicts> + Send + Sync>;

impl Verdicts {
    pub fn new(allowed: HashSet<(String, u64)>) -> Verdicts {
        Verdicts(allowed)
    }

    /// Whether a stream seeing the table through `sight` may be told notice `p`.
    pub fn allows(&self, p: &Pending<'_>, sight: &Sight<'_>) -> bool {
        match sight {
            Sight::Nothing => false,
            Sight::Everything => true,
            Sight::Ruled { .. } if p.key.is_empty() => true,
            Sight::Ruled { group, .. } => self.0.contains(&(group.to_string(), p.seq)),
        }
    }
}
