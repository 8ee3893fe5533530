//! The database's verdicts on change notices under row rules (`events::sight`): for each
//! table of a batch, which named rows each group's bound read rule lets through, asked
//! with one statement per table and chunk (`store::visible_keys`), and for deleted rows on
//! the values their deletion recorded (`store::visible_snapshots`).

use std::collections::HashSet;

use actix_web::web::Data;

use crate::catalog::rules::Scope;
use crate::catalog::{Catalog, CatalogCache};
use crate::engine::store::{visible_keys, visible_snapshots};
use crate::error::AppError;
use crate::events::sight::{Plan, TablePlan, Verdicts};
use crate::state::AppState;

/// Ask the database for the verdicts of `plan`; on any failure nothing is allowed (closed).
pub async fn check(state: AppState, catalogs: Data<CatalogCache>, plan: Plan) -> Verdicts {
    if plan.is_empty() {
        return Verdicts::default();
    }
    let result = state
        .db
        .run(move |conn| {
            let catalog = catalogs.get(conn)?;
            let mut out = HashSet::new();
            for (name, t) in &plan.tables {
                check_table(conn, &catalog, name, t, &mut out)?;
            }
            Ok(out)
        })
        .await;
    match result {
        Ok(allowed) => Verdicts::new(allowed),
        Err(error) => {
            tracing::warn!(%error, "change notices under row rules were not checked; withheld");
            Verdicts::default()
        }
    }
}

fn check_table(
    conn: &mut crate::db::DbConn,
    catalog: &Catalog,
    name: &str,
    t: &TablePlan,
    out: &mut HashSet<(String, u64)>,
) -> Result<(), AppError> {
    let Ok(table) = catalog.table(name) else {
        return Ok(());
    };
    let groups: Vec<(&String, &Scope)> = t.groups.iter().collect();
    let scopes: Vec<&Scope> = groups.iter().map(|(_, s)| *s).collect();
    if !t.rows.is_empty() {
        let keys: Vec<String> = t.rows.keys().cloned().collect();
        let seen = visible_keys(conn, &table, &scopes, &keys)?;
        for ((group, _), keys) in groups.iter().zip(seen) {
            for key in keys {
                for seq in t.rows.get(&key).into_iter().flatten() {
                    out.insert(((*group).clone(), *seq));
                }
            }
        }
    }
    if !t.deleted.is_empty() {
        let ids: Vec<String> = t.deleted.iter().map(|(_, id)| id.clone()).collect();
        let snapshots = crate::audit::before_values(conn, &ids)?;
        // Only deletions whose audited row is there (not pruned) are checked.
        let known: Vec<(u64, &serde_json::Map<String, serde_json::Value>)> = t
            .deleted
            .iter()
            .filter_map(|(seq, id)| Some((*seq, snapshots.get(id)?)))
            .collect();
        let rows: Vec<serde_json::Map<String, serde_json::Value>> =
            known.iter().map(|(_, r)| (*r).clone()).collect();
        let seen = visible_snapshots(conn, &table, &scopes, &rows)?;
        for ((group, scope), indexes) in groups.iter().zip(seen) {
            for i in indexes {
                // A snapshot without a column the rule names (hidden from the role that
                // deleted the row) read as NULL: not a verdict to trust.
                match known.get(i) {
                    Some((seq, row)) if names_present(scope, row) => {
                        out.insert(((*group).clone(), *seq));
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// Whether `row` has a value (maybe null) for every column `scope` names.
fn names_present(scope: &Scope, row: &serde_json::Map<String, serde_json::Value>) -> bool {
    match scope {
        Scope::Closed(_) => false,
        Scope::Open { all, any } => all
            .iter()
            .chain(any.iter())
            .all(|b| row.contains_key(&b.column.name)),
    }
}
