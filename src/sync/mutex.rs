//! `Mutex<T>`: a raw lock with an atomic fast path and a FIFO hand-off slow path,
//! and the typed wrapper that owns the data.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::raw::{DeferredWake, Fast, Ops, Raw, RawState, WaitList};

/// Held.
const LOCKED: usize = 1;
/// Someone waits (or may): unlocking must go through the wait list.
const PARKED: usize = 2;

/// The lock without data: a word for the fast path (`Raw::fast`), and a FIFO of
/// waiters.
///
/// | `fast`            | meaning                                                  |
/// |-------------------|----------------------------------------------------------|
/// | 0                 | free; `lock` takes it with one CAS                       |
/// | LOCKED            | held, nobody waits; `unlock` frees it with one CAS       |
/// | LOCKED \| PARKED  | held, waiters queued; `unlock` hands it to the first one |
///
/// `PARKED` is set and cleared only under the wait-list lock. A hand-off leaves
/// `LOCKED` set: the lock passes to the waiter without ever being free, so a newcomer
/// cannot barge in and waiters are served in FIFO order.
pub(crate) struct RawMutex {
    raw: Raw<MutexState>,
}

pub(crate) struct MutexState {
    waiters: WaitList,
}

impl RawState for MutexState {
    fn guard_all(&mut self) {
        self.waiters.guard_all();
    }
}

static LOCK_OPS: Ops<MutexState, (), ()> = Ops {
    list: |s| &mut s.waiters,
    cancel: |fast, s| {
        if s.waiters.is_empty() {
            // The holder's unlock may take the fast path again.
            fast.fetch_and(!PARKED);
        }
        Vec::new()
    },
    // It was handed the lock and unwinds: unlock, which hands it on.
    abandon: |fast, s, ()| hand_off(fast, s).into_iter().collect(),
};

/// Unlocks a lock held by the caller, under the wait-list lock: hands it to the
/// first waiter (it stays LOCKED) or frees it.
fn hand_off(fast: Fast<'_>, s: &mut MutexState) -> Option<DeferredWake> {
    match s.waiters.grant_front(()) {
        Some(((), wake)) => {
            if s.waiters.is_empty() {
                fast.store(LOCKED);
            }
            Some(wake)
        }
        None => {
            fast.store(0);
            None
        }
    }
}

impl RawMutex {
    pub(crate) const fn new() -> Self {
        RawMutex {
            raw: Raw::new(MutexState {
                waiters: WaitList::new(),
            }),
        }
    }

    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        self.raw.touch();
        self.raw
            .fast
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[inline]
    pub(crate) fn lock(&self) {
        if !self.try_lock() {
            self.lock_slow(None);
        }
    }

    /// Locks, giving up at `deadline`; returns whether it got the lock.
    pub(crate) fn lock_deadline(&self, deadline: Option<Instant>) -> bool {
        self.try_lock() || self.lock_slow(deadline)
    }

    #[cold]
    fn lock_slow(&self, deadline: Option<Instant>) -> bool {
        let st = self.raw.lock();
        let fast = &self.raw.fast;
        let mut s = fast.load(Ordering::Relaxed);
        loop {
            let (new, done) = if s & LOCKED == 0 {
                (s | LOCKED, true)
            } else if s & PARKED == 0 {
                (s | PARKED, false)
            } else {
                break;
            };
            match fast.compare_exchange_weak(s, new, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) if done => return true,
                Ok(_) => break,
                Err(x) => s = x,
            }
        }
        let r = self
            .raw
            .wait(st, (), "Mutex::lock", deadline, &LOCK_OPS, || ());
        r.is_ok()
    }

    /// Unlocks.
    ///
    /// # Safety
    /// The lock must be held (by anyone: ownership passes freely between contexts).
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        if self
            .raw
            .fast
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow();
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        let mut st = self.raw.lock();
        let wake = hand_off(st.fast(), &mut st);
        drop(st);
        if let Some(w) = wake {
            w.wake();
        }
    }

    pub(crate) fn is_locked(&self) -> bool {
        self.raw.fast.load(Ordering::Relaxed) & LOCKED != 0
    }
}

/// A mutual-exclusion lock that blocks greenlets (letting others run) and plain
/// threads alike, across hubs.
///
/// Waiters get the lock in the order they asked for it (the unlock hands it to the
/// first waiter). A guard dropped by unwinding (a panic, a kill, a `with_timeout`)
/// unlocks; there is no poisoning (see `arch/sync.md`).
///
/// ```
/// use std::sync::Arc;
/// let counter = Arc::new(greenlet::sync::Mutex::new(0));
/// let gs: Vec<_> = (0..10)
///     .map(|_| {
///         let c = counter.clone();
///         greenlet::spawn(move || {
///             let mut n = c.lock();
///             greenlet::yield_now(); // others run, and queue on the lock
///             *n += 1;
///         })
///     })
///     .collect();
/// greenlet::joinall(gs);
/// assert_eq!(*counter.lock(), 10);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the lock gives one context at a time access to `data`, possibly from
// another thread: T must be Send, as for std's Mutex.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above; `&Mutex` only hands out `&mut T` under the lock.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// The data, consuming the mutex.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, blocking the running greenlet (or thread) while another holds it.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock();
        MutexGuard::new(self)
    }

    /// Locks if free right now.
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw.try_lock().then(|| MutexGuard::new(self))
    }

    /// Locks, waiting at most `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        self.raw
            .lock_deadline(crate::time::deadline(timeout))
            .then(|| MutexGuard::new(self))
    }

    /// Whether some context holds the lock right now.
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// The data, without locking: `&mut self` proves nobody else can.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex")
            .field("locked", &self.is_locked())
            .finish_non_exhaustive()
    }
}

/// Access to a [`Mutex`]'s data; unlocks when dropped.
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(crate) mutex: &'a Mutex<T>,
    /// Like std's guard, not `Send`.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    fn new(mutex: &'a Mutex<T>) -> Self {
        MutexGuard {
            mutex,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held, so no `&mut T` exists elsewhere.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the lock is held, and `&mut self` that this is the
        // only access through it.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard exists only while the lock is held.
        unsafe { self.mutex.raw.unlock() };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// Unlocks without dropping: for a condition variable, which relocks with
    /// `Mutex::lock`.
    pub(crate) fn unlock_for_wait(self) -> &'a Mutex<T> {
        let mutex = self.mutex;
        std::mem::forget(self);
        // SAFETY: the guard held the lock, and forgetting it means its Drop will not
        // unlock a second time.
        unsafe { mutex.raw.unlock() };
        mutex
    }
}
