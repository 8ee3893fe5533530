//! SQLite has one writer at a time. Writers of this process that find the write lock taken
//! would wait in SQLite's busy handler, which sleeps and retries (1, 2, 5 … 100 ms between
//! tries): no queue, so under load one writer may lose many times in a row (L5's p99 of
//! 193 ms behind 32 clients). Here they queue first, in arrival order, on the gate of
//! their pool (`Db::run` names it for the closure it runs), and the holder hands it
//! straight to the next writer. Writers of other processes (the CLI) still meet the busy
//! timeout, as before.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

/// The write turn of one SQLite database (one per pool).
#[derive(Debug, Default)]
pub struct WriterGate(Mutex<()>);

thread_local! {
    /// The gate of the pool whose connection this thread is using inside `Db::run`.
    static CURRENT: RefCell<Option<Arc<WriterGate>>> = const { RefCell::new(None) };
}

/// The gate named for the work running on this thread; the previous one is back when this
/// is dropped.
pub(super) struct Entered(Option<Arc<WriterGate>>);

pub(super) fn enter(gate: Option<Arc<WriterGate>>) -> Entered {
    Entered(CURRENT.with(|c| c.replace(gate)))
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// The gate of the work running on this thread, if any.
pub(super) fn current() -> Option<Arc<WriterGate>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// This thread's turn to write: waits behind the writers that came first.
pub(super) struct Turn<'a>(Option<MutexGuard<'a, ()>>);

/// The longest a writer queues here: as long as SQLite's busy timeout. Past it the writer
/// goes on without its turn and SQLite's own lock decides (as without the gate), so a
/// writer that somehow waits for itself (a second connection of the same thread) is
/// refused as busy rather than stuck.
const LONGEST_WAIT: Duration = Duration::from_secs(5);

impl WriterGate {
    pub(super) fn turn(&self) -> Turn<'_> {
        Turn(self.0.try_lock_for(LONGEST_WAIT))
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        // A fair unlock hands the gate to the writer waiting longest, rather than letting
        // a newcomer (or this thread, writing again) barge ahead.
        if let Some(guard) = self.0.take() {
            MutexGuard::unlock_fair(guard);
        }
    }
}
