//! `RLock`: a reentrant lock owned by a greenlet.

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use super::raw::{DeferredWake, Ops, Raw, RawState, WaitList, wake_all};

/// The id of the running greenlet (or of the thread outside greenlets): who owns.
fn current_id() -> u64 {
    crate::greenlet::current_id().as_u64()
}

struct RState {
    /// The owner's greenlet id (`current_id`), or 0.
    owner: u64,
    depth: usize,
    /// Each waiter offers its own id, so that a hand-off can name the new owner.
    waiters: WaitList<u64, ()>,
}

impl RawState for RState {
    fn guard_all(&mut self) {
        self.waiters.guard_all();
    }
}

/// Frees the lock (depth has reached 0) or hands it to the first waiter.
fn hand_off(s: &mut RState) -> Option<DeferredWake> {
    match s.waiters.grant_front(()) {
        Some((id, wake)) => {
            s.owner = id;
            s.depth = 1;
            Some(wake)
        }
        None => {
            s.owner = 0;
            s.depth = 0;
            None
        }
    }
}

static OPS: Ops<RState, u64, ()> = Ops {
    list: |s| &mut s.waiters,
    cancel: super::raw::no_cancel,
    abandon: |_, s, ()| hand_off(s).into_iter().collect(),
};

/// A reentrant lock (gevent's `RLock`): the greenlet that holds it may lock it again;
/// it is free once every guard is dropped. Outside greenlets, the owner is the
/// thread. Waiters are served in FIFO order.
///
/// ```
/// let l = greenlet::sync::RLock::new();
/// let a = l.lock();
/// let b = l.lock(); // same owner: nests
/// drop(b);
/// drop(a);
/// assert!(!l.is_locked());
/// ```
pub struct RLock {
    raw: Raw<RState>,
}

impl RLock {
    /// A new, free lock.
    pub const fn new() -> RLock {
        RLock {
            raw: Raw::new(RState {
                owner: 0,
                depth: 0,
                waiters: WaitList::new(),
            }),
        }
    }

    fn acquire(&self, deadline: Option<Instant>, try_only: bool) -> bool {
        self.raw.touch();
        let me = current_id();
        let mut st = self.raw.lock();
        if st.owner == me {
            st.depth += 1;
            return true;
        }
        if st.owner == 0 && st.waiters.is_empty() {
            st.owner = me;
            st.depth = 1;
            return true;
        }
        if try_only {
            return false;
        }
        self.raw
            .wait(st, me, "RLock::lock", deadline, &OPS, || ())
            .is_ok()
    }

    /// Locks, or nests if the running greenlet already holds it.
    pub fn lock(&self) -> RLockGuard<'_> {
        self.acquire(None, false);
        RLockGuard::new(self)
    }

    /// Locks if free (or already held by the caller).
    pub fn try_lock(&self) -> Option<RLockGuard<'_>> {
        self.acquire(None, true).then(|| RLockGuard::new(self))
    }

    /// Locks, waiting at most `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<RLockGuard<'_>> {
        self.acquire(crate::time::deadline(timeout), false)
            .then(|| RLockGuard::new(self))
    }

    /// Whether anyone holds it.
    pub fn is_locked(&self) -> bool {
        self.raw.lock().owner != 0
    }

    /// Whether the running greenlet (or thread, outside greenlets) holds it.
    pub fn is_owned(&self) -> bool {
        self.raw.lock().owner == current_id()
    }

    fn release(&self) {
        let me = current_id();
        let mut st = self.raw.lock();
        if st.owner != me {
            drop(st);
            panic!("RLock released by a greenlet that does not own it");
        }
        st.depth -= 1;
        let wake = if st.depth == 0 {
            hand_off(&mut st)
        } else {
            None
        };
        drop(st);
        wake_all(wake);
    }
}

impl Default for RLock {
    fn default() -> Self {
        RLock::new()
    }
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLock")
            .field("locked", &self.is_locked())
            .finish_non_exhaustive()
    }
}

/// One level of ownership of an [`RLock`].
///
/// # Panics
/// Dropped by a greenlet that does not own the lock (moved to another greenlet).
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
    _not_send: PhantomData<*const ()>,
}

impl<'a> RLockGuard<'a> {
    fn new(lock: &'a RLock) -> Self {
        RLockGuard {
            lock,
            _not_send: PhantomData,
        }
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        self.lock.release();
    }
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RLockGuard")
    }
}
