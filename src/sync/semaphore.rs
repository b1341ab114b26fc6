//! `Semaphore` and `BoundedSemaphore`: counted permits, handed FIFO to waiters.

use std::fmt;
use std::time::{Duration, Instant};

use super::raw::{DeferredWake, Ops, Raw, RawState, WaitList, no_cancel};

struct SemState {
    permits: usize,
    /// The most permits a bounded semaphore may hold; `usize::MAX` if unbounded.
    max: usize,
    waiters: WaitList,
    /// `wait`/`iwait` registrations: woken when a permit is returned to the count.
    watchers: WaitList,
}

impl RawState for SemState {
    fn guard_all(&mut self) {
        self.waiters.guard_all();
        self.watchers.guard_all();
    }
}

static ACQUIRE_OPS: Ops<SemState, (), ()> = Ops {
    list: |s| &mut s.waiters,
    cancel: no_cancel,
    abandon: |_, s, ()| release_locked(s).into_iter().collect(),
};

/// Returns one permit: to the first waiter if any (a hand-off, so nobody can barge
/// in ahead of it), else to the count.
fn release_locked(s: &mut SemState) -> Option<DeferredWake> {
    match s.waiters.grant_front(()) {
        Some(((), wake)) => Some(wake),
        None => {
            if s.permits >= s.max {
                return None;
            }
            s.permits += 1;
            None
        }
    }
}

/// The raw counting semaphore shared by both public types.
struct RawSemaphore {
    raw: Raw<SemState>,
}

impl RawSemaphore {
    const fn new(permits: usize, max: usize) -> Self {
        RawSemaphore {
            raw: Raw::new(SemState {
                permits,
                max,
                waiters: WaitList::new(),
                watchers: WaitList::new(),
            }),
        }
    }

    #[inline]
    fn try_acquire(&self) -> bool {
        let mut st = self.raw.lock();
        if st.permits > 0 && st.waiters.is_empty() {
            st.permits -= 1;
            true
        } else {
            false
        }
    }

    #[inline]
    fn acquire(&self, deadline: Option<Instant>) -> bool {
        let mut st = self.raw.lock();
        if st.permits > 0 && st.waiters.is_empty() {
            st.permits -= 1;
            return true;
        }
        self.raw
            .wait(st, (), "Semaphore::acquire", deadline, &ACQUIRE_OPS, || ())
            .is_ok()
    }

    /// Adds `n` permits; returns false (adding none) if that would exceed the bound.
    fn release(&self, n: usize) -> bool {
        let mut st = self.raw.lock();
        if n.saturating_sub(st.waiters.len()) > st.max - st.permits {
            return false;
        }
        let mut wakes = Vec::new();
        for _ in 0..n {
            wakes.extend(release_locked(&mut st));
        }
        if st.permits > 0 {
            wakes.extend(st.watchers.grant_all(|()| ()));
        }
        drop(st);
        super::raw::wake_all(wakes);
        true
    }

    fn available(&self) -> usize {
        self.raw.lock().permits
    }

    fn waiting(&self) -> usize {
        self.raw.lock().waiters.len()
    }

    fn watch(&self, waker: crate::hub::Waker) -> impl Sized + '_ {
        self.raw.watch(|s| &mut s.watchers, (), waker, |_| ())
    }
}

/// Ready while a permit is free (`try_acquire` would succeed).
impl super::Waitable for Semaphore {
    fn is_ready(&self) -> bool {
        self.available_permits() > 0
    }
    fn subscribe(&self, waker: crate::hub::Waker) -> super::Subscription<'_> {
        super::Subscription::new(self.raw.watch(waker))
    }
}

/// Ready while a permit is free.
impl super::Waitable for BoundedSemaphore {
    fn is_ready(&self) -> bool {
        self.available_permits() > 0
    }
    fn subscribe(&self, waker: crate::hub::Waker) -> super::Subscription<'_> {
        super::Subscription::new(self.raw.watch(waker))
    }
}

/// A counting semaphore (gevent's `Semaphore`): `acquire` takes a permit, blocking
/// while there is none; the permit goes back when its guard drops.
///
/// Waiters are served in FIFO order: a released permit is handed to the first
/// waiter, so a newcomer cannot take it first. A waiter that times out or is killed
/// after being handed a permit passes it on.
///
/// ```
/// let sem = greenlet::sync::Semaphore::new(2);
/// let a = sem.acquire();
/// let _b = sem.acquire();
/// assert!(sem.try_acquire().is_none());
/// drop(a);
/// assert!(sem.try_acquire().is_some());
/// ```
pub struct Semaphore {
    raw: RawSemaphore,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            raw: RawSemaphore::new(permits, usize::MAX),
        }
    }

    /// Contexts waiting for a permit.
    pub fn waiters(&self) -> usize {
        self.raw.waiting()
    }

    /// Adds one permit (for a permit given up with [`SemaphorePermit::forget`], or to
    /// raise the count: an unbounded semaphore may grow past its initial value).
    pub fn release(&self) {
        self.raw.release(1);
    }

    /// Adds `n` permits.
    pub fn add_permits(&self, n: usize) {
        self.raw.release(n);
    }
}

/// A semaphore that refuses to hold more permits than it started with (gevent's
/// `BoundedSemaphore`): releasing one too many is a bug, and panics.
///
/// ```should_panic
/// let sem = greenlet::sync::BoundedSemaphore::new(1);
/// sem.release(); // already at its initial count
/// ```
pub struct BoundedSemaphore {
    raw: RawSemaphore,
}

impl BoundedSemaphore {
    /// A semaphore with, and bounded by, `permits` permits.
    pub const fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            raw: RawSemaphore::new(permits, permits),
        }
    }

    /// Returns a permit given up with [`SemaphorePermit::forget`].
    ///
    /// # Panics
    /// If the semaphore already holds its initial number of permits.
    pub fn release(&self) {
        if !self.raw.release(1) {
            panic!("BoundedSemaphore released too many times");
        }
    }
}

/// The operations `Semaphore` and `BoundedSemaphore` share, and their `Debug`.
macro_rules! permits {
    ($t:ident) => {
        impl $t {
            /// Takes a permit, blocking while there is none.
            pub fn acquire(&self) -> SemaphorePermit<'_> {
                self.raw.acquire(None);
                SemaphorePermit { sem: &self.raw }
            }

            /// Takes a permit if one is free now (and nobody is queued for it).
            pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
                self.raw
                    .try_acquire()
                    .then(|| SemaphorePermit { sem: &self.raw })
            }

            /// Takes a permit, waiting at most `timeout`.
            pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
                self.raw
                    .acquire(crate::time::deadline(timeout))
                    .then(|| SemaphorePermit { sem: &self.raw })
            }

            /// Permits free right now.
            pub fn available_permits(&self) -> usize {
                self.raw.available()
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("available", &self.available_permits())
                    .finish_non_exhaustive()
            }
        }
    };
}

permits!(Semaphore);
permits!(BoundedSemaphore);

/// A permit of a [`Semaphore`] or [`BoundedSemaphore`]; returned when dropped.
#[must_use = "the permit is returned at once if not kept"]
pub struct SemaphorePermit<'a> {
    sem: &'a RawSemaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken: it is not returned on drop.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release(1);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphorePermit")
    }
}
