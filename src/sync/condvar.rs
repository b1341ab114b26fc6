//! `Condvar`: wait for a condition under a [`Mutex`].

use std::fmt;
use std::time::{Duration, Instant};

use super::mutex::MutexGuard;
use super::raw::{Ops, Raw, RawState, WaitList, no_cancel, wake_all};

struct CondState {
    waiters: WaitList,
}

impl RawState for CondState {
    fn guard_all(&mut self) {
        self.waiters.guard_all();
    }
}

static WAIT_OPS: Ops<CondState, (), ()> = Ops {
    list: |s| &mut s.waiters,
    cancel: no_cancel,
    // A notified waiter that unwinds passes its notification on.
    abandon: |_, s, ()| {
        s.waiters
            .grant_front(())
            .map(|(_, w)| w)
            .into_iter()
            .collect()
    },
};

/// A condition variable for [`Mutex`](super::Mutex), as std's: `wait` unlocks,
/// blocks until notified, and relocks.
///
/// Notifications are delivered FIFO and never lost: a waiter registers before the
/// mutex is unlocked, so a `notify_one` made right after it unlocks wakes it. A
/// notified waiter that is killed passes its notification to the next waiter. There
/// are no spurious wake-ups, but checking the condition in a loop (or
/// [`Condvar::wait_while`]) remains the right habit.
///
/// ```
/// use std::sync::Arc;
/// use greenlet::sync::{Condvar, Mutex};
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let p = pair.clone();
/// greenlet::spawn(move || {
///     *p.0.lock() = true;
///     p.1.notify_one();
/// });
/// let (lock, cv) = &*pair;
/// let ready = cv.wait_while(lock.lock(), |r| !*r);
/// assert!(*ready);
/// ```
pub struct Condvar {
    raw: Raw<CondState>,
}

impl Condvar {
    /// A new condition variable.
    pub const fn new() -> Condvar {
        Condvar {
            raw: Raw::new(CondState {
                waiters: WaitList::new(),
            }),
        }
    }

    /// Unlocks `guard`'s mutex, blocks until notified, and locks it again.
    ///
    /// If the wait unwinds (a kill, a `with_timeout`), the mutex stays unlocked: the
    /// guard was given up.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait_deadline(guard, None).0
    }

    /// As [`Condvar::wait`], waiting at most `timeout`; the flag says whether it timed
    /// out.
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        self.wait_deadline(guard, crate::time::deadline(timeout))
    }

    /// Waits while `condition` holds.
    pub fn wait_while<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> MutexGuard<'a, T> {
        while condition(&mut guard) {
            guard = self.wait(guard);
        }
        guard
    }

    fn wait_deadline<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, T>, bool) {
        let st = self.raw.lock();
        let mutex = guard.mutex;
        let r = self
            .raw
            .wait(st, (), "Condvar::wait", deadline, &WAIT_OPS, || {
                guard.unlock_for_wait();
            });
        (mutex.lock(), r.is_err())
    }

    /// DeferredWakes the first waiter, if any.
    pub fn notify_one(&self) {
        let mut st = self.raw.lock();
        let w = st.waiters.grant_front(());
        drop(st);
        if let Some((_, w)) = w {
            w.wake();
        }
    }

    /// DeferredWakes every waiter.
    pub fn notify_all(&self) {
        let mut st = self.raw.lock();
        let wakes = st.waiters.grant_all(|()| ());
        drop(st);
        wake_all(wakes);
    }
}

impl Default for Condvar {
    fn default() -> Self {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Condvar { .. }")
    }
}
