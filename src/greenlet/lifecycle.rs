//! A greenlet's lifecycle: one field, with the table of what each state implies.

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
pub(crate) enum Lifecycle {
    /// Spawned, queued, not yet run.
    New,
    /// Spawned with `spawn_later`: queued by its start timer (or never, without one).
    Delayed,
    /// Has run at least once; its coroutine exists.
    Started,
    /// Returned, panicked, or was killed after it started.
    Finished,
    /// Killed before it ever ran.
    Cancelled,
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
