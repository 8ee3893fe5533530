//! What a statement answered, remembered for a few seconds per table: the start of a deep
//! page (`marks`) and the labels of a page's foreign keys (`labels`). Every write through
//! Gatehouse forgets the table's entries at once (`CountCache::invalidate`), and an answer
//! read before a write is never stored after it (the generation); a write made elsewhere
//! shows within `TTL`, as a count does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an answer is trusted without a write through Gatehouse to forget it.
pub(super) const TTL: Duration = Duration::from_secs(5);
/// Entries kept at most (expired ones are dropped first, then all).
const MAX_ENTRIES: usize = 1000;

pub struct Remembered<V> {
    inner: Mutex<Entries<V>>,
}

impl<V> Default for Remembered<V> {
    fn default() -> Self {
        Remembered {
            inner: Mutex::new(Entries {
                map: HashMap::new(),
                generation: 0,
            }),
        }
    }
}

struct Entries<V> {
    map: HashMap<String, Entry<V>>,
    /// Bumped by every write: an answer read before a write is not stored after it.
    generation: u64,
}

struct Entry<V> {
    /// The table whose writes forget the entry.
    table: String,
    at: Instant,
    value: V,
}

impl<V: Clone> Remembered<V> {
    /// Read before asking the database; hand it back to `put`.
    pub(super) fn generation(&self) -> u64 {
        self.inner.lock().map(|e| e.generation).unwrap_or(u64::MAX)
    }

    pub(super) fn get(&self, key: &str) -> Option<V> {
        let entries = self.inner.lock().ok()?;
        let entry = entries.map.get(key)?;
        (entry.at.elapsed() < TTL).then(|| entry.value.clone())
    }

    /// Remember `value` for `key`, unless `table` was written since `generation`.
    pub(super) fn put(&self, key: String, table: &str, generation: u64, value: V) {
        let Ok(mut entries) = self.inner.lock() else {
            return;
        };
        if entries.generation != generation {
            return;
        }
        if entries.map.len() >= MAX_ENTRIES {
            entries.map.retain(|_, e| e.at.elapsed() < TTL);
            if entries.map.len() >= MAX_ENTRIES {
                entries.map.clear();
            }
        }
        let entry = Entry {
            table: table.to_string(),
            at: Instant::now(),
            value,
        };
        entries.map.insert(key, entry);
    }

    /// Forget everything (any table may have been written).
    pub fn forget_all(&self) {
        if let Ok(mut entries) = self.inner.lock() {
            entries.generation += 1;
            entries.map.clear();
        }
    }

    /// Forget what was read from a table that was just written.
    pub fn forget(&self, table: &str) {
        if let Ok(mut entries) = self.inner.lock() {
            entries.generation += 1;
            entries.map.retain(|_, e| e.table != table);
        }
    }
}
