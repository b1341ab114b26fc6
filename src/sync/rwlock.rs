//! `RwLock<T>`: many readers or one writer, served in FIFO order.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use super::raw::{DeferredWake, Ops, Raw, RawState, WaitList, wake_all};

/// What a waiter wants, and so what it is granted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    Write,
}

struct RwState {
    readers: usize,
    writer: bool,
    waiters: WaitList<Mode, Mode>,
}

impl RawState for RwState {
    fn guard_all(&mut self) {
        self.waiters.guard_all();
    }
}

/// Grants whatever the front of the queue can now have: one writer if the lock is
/// free, or every reader up to the next writer if no writer holds it. Ownership
/// moves to the granted waiters here, under the lock.
fn grant_next(s: &mut RwState) -> Vec<DeferredWake> {
    let mut wakes = Vec::new();
    if s.writer {
        return wakes;
    }
    match s.waiters.front() {
        Some(Mode::Write) if s.readers == 0 => {
            s.writer = true;
            wakes.extend(s.waiters.grant_front(Mode::Write).map(|(_, w)| w));
        }
        _ => {
            while s.waiters.front() == Some(&Mode::Read) {
                s.readers += 1;
                wakes.extend(s.waiters.grant_front(Mode::Read).map(|(_, w)| w));
            }
        }
    }
    wakes
}

fn release(s: &mut RwState, mode: Mode) -> Vec<DeferredWake> {
    match mode {
        Mode::Read => s.readers -= 1,
        Mode::Write => s.writer = false,
    }
    grant_next(s)
}

static OPS: Ops<RwState, Mode, Mode> = Ops {
    list: |s| &mut s.waiters,
    // A writer leaving the front may let the readers behind it in.
    cancel: |_, s| grant_next(s),
    abandon: |_, s, mode| release(s, mode),
};

struct RawRwLock {
    raw: Raw<RwState>,
}

impl RawRwLock {
    fn acquire(&self, mode: Mode, deadline: Option<Instant>, try_only: bool) -> bool {
        let mut st = self.raw.lock();
        let free = !st.writer && st.waiters.is_empty() && (mode == Mode::Read || st.readers == 0);
        if free {
            match mode {
                Mode::Read => st.readers += 1,
                Mode::Write => st.writer = true,
            }
            return true;
        }
        if try_only {
            return false;
        }
        let reason = match mode {
            Mode::Read => "RwLock::read",
            Mode::Write => "RwLock::write",
        };
        self.raw
            .wait(st, mode, reason, deadline, &OPS, || ())
            .is_ok()
    }

    fn release(&self, mode: Mode) {
        let mut st = self.raw.lock();
        let wakes = release(&mut st, mode);
        drop(st);
        wake_all(wakes);
    }
}

/// A reader-writer lock for greenlets and threads: many readers at once, or one
/// writer. Waiters are served in arrival order, so a stream of readers cannot starve
/// a writer. No poisoning (see `arch/sync.md`).
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    data: UnsafeCell<T>,
}

// SAFETY: as std's RwLock: the data moves between threads (T: Send) and readers on
// several threads share `&T` at once (T: Sync).
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// A new, unlocked lock.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock {
                raw: Raw::new(RwState {
                    readers: 0,
                    writer: false,
                    waiters: WaitList::new(),
                }),
            },
            data: UnsafeCell::new(value),
        }
    }

    /// The data, consuming the lock.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Shared access, blocking while a writer holds or waits for the lock.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.raw.acquire(Mode::Read, None, false);
        RwLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Exclusive access, blocking while anyone holds the lock.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.raw.acquire(Mode::Write, None, false);
        RwLockWriteGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Shared access if available now.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.raw
            .acquire(Mode::Read, None, true)
            .then(|| RwLockReadGuard {
                lock: self,
                _not_send: PhantomData,
            })
    }

    /// Exclusive access if available now.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.raw
            .acquire(Mode::Write, None, true)
            .then(|| RwLockWriteGuard {
                lock: self,
                _not_send: PhantomData,
            })
    }

    /// Shared access, waiting at most `timeout`.
    pub fn read_timeout(&self, timeout: Duration) -> Option<RwLockReadGuard<'_, T>> {
        self.raw
            .acquire(Mode::Read, crate::time::deadline(timeout), false)
            .then(|| RwLockReadGuard {
                lock: self,
                _not_send: PhantomData,
            })
    }

    /// Exclusive access, waiting at most `timeout`.
    pub fn write_timeout(&self, timeout: Duration) -> Option<RwLockWriteGuard<'_, T>> {
        self.raw
            .acquire(Mode::Write, crate::time::deadline(timeout), false)
            .then(|| RwLockWriteGuard {
                lock: self,
                _not_send: PhantomData,
            })
    }

    /// The data, without locking: `&mut self` proves nobody else can.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RwLock { .. }")
    }
}

/// Shared access to an [`RwLock`]'s data.
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

/// Exclusive access to an [`RwLock`]'s data.
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard of either kind only gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read guard exists only while no writer holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the write guard holds the lock exclusively.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write guard holds the lock exclusively, and `&mut self` makes
        // this the only access through it.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.release(Mode::Read);
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.release(Mode::Write);
    }
}
