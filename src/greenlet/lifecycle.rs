//! A greenlet's lifecycle: one field, with the table of what each state implies.

use std::cell::Cell;

/// Where a greenlet is in its life. One field, so that what the handle, the hub and
/// the closure's storage assume always agree.
///
/// | state       | closure | coroutine (in the hub's `Task`) | in the run queue       | slab slot             |
/// |-------------|---------|---------------------------------|------------------------|-----------------------|
/// | `New`       | yes     | none                            | yes                    | held                  |
/// | `Delayed`   | yes     | none                            | once its timer fired   | held                  |
/// | `Started`   | no      | yes                             | while runnable         | held                  |
/// | `Finished`  | no      | none (it returned)              | no                     | freed                 |
/// | `Cancelled` | no      | none                            | if it was: a tombstone | held until popped     |
///
/// - `New` -> `Started`, `Delayed` -> `Started`: its first run (`TaskVTable::start`
///   takes the closure and builds the coroutine).
/// - `New` -> `Cancelled`, `Delayed` -> `Cancelled`: killed before it ran (the closure
///   is dropped). A queued one keeps its slot until the hub pops its entry, so that
///   the stale entry can never run a greenlet that reused the slot.
/// - `Started` -> `Finished`: its function returned, panicked or unwound from a kill.
/// - Any unfinished state -> `Finished` (started) or `Cancelled` (not): the thread
///   exits and the hub abandons it.
///
/// The result is stored exactly when the state becomes `Finished` or `Cancelled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Lifecycle {
    /// Spawned, queued, not yet run.
    New = 0,
    /// Spawned with `spawn_later`: queued by its start timer (or never, without one).
    Delayed = 1,
    /// Has run at least once; its coroutine exists.
    Started = 2,
    /// Returned, panicked, or was killed after it started.
    Finished = 3,
    /// Killed before it ever ran.
    Cancelled = 4,
}

impl Lifecycle {
    /// Whether the closure is still in the allocation.
    #[inline]
    pub(super) fn has_closure(self) -> bool {
        matches!(self, Lifecycle::New | Lifecycle::Delayed)
    }

    /// Whether the greenlet is done (its result is stored).
    #[inline]
    pub(crate) fn is_done(self) -> bool {
        matches!(self, Lifecycle::Finished | Lifecycle::Cancelled)
    }
}

/// A greenlet's lifecycle and its finish order in one word (the header has no room
/// for two): the state in the low byte, the order in the high 56 bits, which count
/// the greenlets of a thread in the order they finished (`JoinAll`), and never wrap.
pub(crate) struct LifeCell(Cell<u64>);

/// The finish order of a greenlet that has not finished.
const UNFINISHED: u64 = u64::MAX >> 8;

impl LifeCell {
    pub(crate) const fn new() -> LifeCell {
        LifeCell(Cell::new(UNFINISHED << 8 | Lifecycle::New as u64))
    }

    #[inline]
    pub(crate) fn get(&self) -> Lifecycle {
        match self.0.get() as u8 {
            0 => Lifecycle::New,
            1 => Lifecycle::Delayed,
            2 => Lifecycle::Started,
            3 => Lifecycle::Finished,
            _ => Lifecycle::Cancelled,
        }
    }

    #[inline]
    pub(crate) fn set(&self, l: Lifecycle) {
        self.0.set((self.0.get() & !0xff) | l as u64);
    }

    /// Its place in its thread's order of finished greenlets (`UNFINISHED` before).
    #[inline]
    pub(crate) fn finish_order(&self) -> u64 {
        self.0.get() >> 8
    }

    /// Ends it: its final state (`Finished` or `Cancelled`) and its finish order, in
    /// one store.
    #[inline]
    pub(crate) fn end(&self, end: Lifecycle, order: u64) {
        debug_assert!(end.is_done());
        self.0.set((order.min(UNFINISHED - 1) << 8) | end as u64);
    }
}
