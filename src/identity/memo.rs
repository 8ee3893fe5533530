//! What a role's rights derive, made once rather than on every request: the catalog as the
//! role sees it (`ViewMemo`, held by the rights themselves) and the rights bound for one
//! operator's `$me` (`BoundCache`, held by the `RightsCache`). Neither outlives what it was
//! made from: a view is reused only for the very catalog it was made of, and bound rights
//! only with the very role rights and attributes they were bound from, which the
//! `RightsCache` keeps for two seconds and forgets at once when roles or rules change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::catalog::Catalog;
use crate::identity::permissions::Rights;
use crate::identity::row_rules::Me;

/// The last catalog view made from these rights: (the full catalog, the view of it).
#[derive(Default)]
pub struct ViewMemo(Mutex<Option<(Arc<Catalog>, Arc<Catalog>)>>);

impl ViewMemo {
    /// The view of `full`, made by `make` unless it was made from this same catalog.
    pub fn get(&self, full: &Arc<Catalog>, make: impl FnOnce() -> Arc<Catalog>) -> Arc<Catalog> {
        if let Ok(memo) = self.0.lock()
            && let Some((of, view)) = memo.as_ref()
            && Arc::ptr_eq(of, full)
        {
            return view.clone();
        }
        let view = make();
        if let Ok(mut memo) = self.0.lock() {
            *memo = Some((full.clone(), view.clone()));
        }
        view
    }
}

/// A copy of rights starts with no view: it may be changed (bound for an operator) first.
impl Clone for ViewMemo {
    fn clone(&self) -> Self {
        ViewMemo::default()
    }
}

impl std::fmt::Debug for ViewMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ViewMemo")
    }
}

/// Rights bound for an operator, by user id: (the role's rights, the operator's attributes,
/// the bound rights).
type BoundEntry = (Arc<Rights>, Arc<Me>, Arc<Rights>);

#[derive(Default)]
pub struct BoundCache(Mutex<HashMap<String, BoundEntry>>);

impl BoundCache {
    /// `rights` bound for `me`, bound again only when either is not the one the cached
    /// copy was bound from.
    pub fn get(&self, rights: &Arc<Rights>, me: &Arc<Me>) -> Arc<Rights> {
        if let Ok(map) = self.0.lock()
            && let Some((role, of, bound)) = map.get(&me.id)
            && Arc::ptr_eq(role, rights)
            && Arc::ptr_eq(of, me)
        {
            return bound.clone();
        }
        let bound = rights.for_operator((**me).clone());
        if let Ok(mut map) = self.0.lock() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(me.id.clone(), (rights.clone(), me.clone(), bound.clone()));
        }
        bound
    }

    pub fn clear(&self) {
        if let Ok(mut map) = self.0.lock() {
            map.clear();
        }
    }
}
