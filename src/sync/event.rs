//! `Event` (a flag waiters block on) and `AsyncResult<T>` (a write-once value).

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::raw::{Ops, Raw, RawState, StateGuard, WaitList, no_abandon, no_cancel, wake_all};

struct EventState {
    waiters: WaitList,
}

impl RawState for EventState {
    fn guard_all(&mut self) {
        self.waiters.guard_all();
    }
}

static EVENT_OPS: Ops<EventState, (), ()> = Ops {
    list: |s| &mut s.waiters,
    cancel: no_cancel,
    abandon: no_abandon,
};

/// A flag that contexts wait for (gevent's `Event`).
///
/// `set` wakes every waiter, and each returns `true` even if the flag was cleared
/// again before it ran: the wake is delivered with the `set`, not read back from the
/// flag. A waiter that arrives after a `clear` waits for the next `set`.
///
/// ```
/// use std::rc::Rc;
/// let ev = Rc::new(greenlet::sync::Event::new());
/// let e = ev.clone();
/// let g = greenlet::spawn(move || e.wait());
/// ev.set();
/// g.join().unwrap();
/// assert!(ev.is_set());
/// ```
pub struct Event {
    /// `fast` holds `SET` and `WAITERS` (see below).
    raw: Raw<EventState>,
}

/// The flag.
const SET: usize = 1;
/// Someone may be registered: `set` must take the lock and grant. Set (under the
/// lock) by each registration, cleared by the `set` that grants them all.
const WAITERS: usize = 2;

impl Event {
    /// A new, unset event.
    pub const fn new() -> Event {
        Event {
            raw: Raw::new(EventState {
                waiters: WaitList::new(),
            }),
        }
    }

    /// Sets the flag and wakes every waiter.
    #[inline]
    pub fn set(&self) {
        if let Some(st) = self.raw.own() {
            return Self::set_locked(st);
        }
        let f = self.raw.fast.load(Ordering::Relaxed);
        // Nobody registered: one CAS, no lock.
        if f & WAITERS == 0
            && self
                .raw
                .fast
                .compare_exchange(f, f | SET, Ordering::Release, Ordering::Relaxed)
                .is_ok()
        {
            return;
        }
        Self::set_locked(self.raw.lock());
    }

    #[inline]
    fn set_locked(mut st: StateGuard<'_, EventState>) {
        st.fast().store(SET);
        match st.waiters.len() {
            0 => {}
            1 => {
                st.waiters.grant_front_and_wake(());
            }
            _ => {
                let wakes = st.waiters.grant_all(|()| ());
                drop(st);
                wake_all(wakes);
            }
        }
    }

    /// Clears the flag; waiters already woken by a `set` still return `true`.
    #[inline]
    pub fn clear(&self) {
        match self.raw.own() {
            Some(st) => st.fast().fetch_and(!SET),
            None => self.raw.fast.fetch_and(!SET, Ordering::Release),
        };
    }

    /// Whether the flag is set.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.raw.fast.load(Ordering::Acquire) & SET != 0
    }

    /// Blocks until the flag is set (returns at once if it is).
    #[inline]
    pub fn wait(&self) {
        // One ownership check: `own` touches the primitive, as `touch` would.
        if let Some(st) = self.raw.own() {
            Self::wait_locked(&self.raw, st, None);
            return;
        }
        if !self.is_set() {
            self.wait_slow(None);
        }
    }

    /// Blocks at most `timeout` for the flag; returns whether it was set (gevent's
    /// `wait(timeout)`). `wait_timeout(Duration::ZERO)` only looks.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.raw.touch();
        self.is_set() || self.wait_slow(crate::time::deadline(timeout))
    }

    #[cold]
    fn wait_slow(&self, deadline: Option<Instant>) -> bool {
        Self::wait_locked(&self.raw, self.raw.lock(), deadline)
    }

    #[inline(always)]
    fn wait_locked(
        raw: &Raw<EventState>,
        st: StateGuard<'_, EventState>,
        deadline: Option<Instant>,
    ) -> bool {
        if st.fast().fetch_or(WAITERS) & SET != 0 {
            return true;
        }
        raw.wait(st, (), "Event::wait", deadline, &EVENT_OPS, || ())
            .is_ok()
    }
}

impl Event {
    /// For `wait`/`iwait`, which re-check `is_set` after registering.
    pub(crate) fn watch(&self, waker: crate::hub::Waker) -> impl Sized + '_ {
        self.raw.watch(
            |s| &mut s.waiters,
            (),
            waker,
            |fast| {
                fast.fetch_or(WAITERS);
            },
        )
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish_non_exhaustive()
    }
}

struct ResultState<T> {
    value: Option<T>,
    waiters: WaitList,
}

impl<T> RawState for ResultState<T> {
    fn guard_all(&mut self) {
        self.waiters.guard_all();
    }
}

/// A value that is set once and that any number of contexts wait for (gevent's
/// `AsyncResult`). Every waiter sees the value; to carry an error, make `T` a
/// `Result`.
///
/// ```
/// use std::sync::Arc;
/// let r = Arc::new(greenlet::sync::AsyncResult::new());
/// let r2 = r.clone();
/// std::thread::spawn(move || r2.set(42).unwrap());
/// assert_eq!(r.get(), 42); // woken by the other thread
/// ```
pub struct AsyncResult<T> {
    /// `fast` is 1 once the value is set; written under the state lock.
    raw: Raw<ResultState<T>>,
}

impl<T> AsyncResult<T> {
    /// A new, empty result.
    pub const fn new() -> AsyncResult<T> {
        AsyncResult {
            raw: Raw::new(ResultState {
                value: None,
                waiters: WaitList::new(),
            }),
        }
    }

    /// Stores the value and wakes every waiter. A result is written once: if it
    /// already holds a value, `value` is given back.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut st = self.raw.lock();
        if st.value.is_some() {
            return Err(value);
        }
        st.value = Some(value);
        self.raw.fast.store(1, Ordering::Release);
        let wakes = st.waiters.grant_all(|()| ());
        drop(st);
        wake_all(wakes);
        Ok(())
    }

    /// Whether the value is set.
    pub fn is_ready(&self) -> bool {
        self.raw.fast.load(Ordering::Acquire) == 1
    }

    /// Blocks until the value is set.
    pub fn wait(&self) {
        self.raw.touch();
        if !self.is_ready() {
            self.wait_deadline(None);
        }
    }

    /// Blocks at most `timeout`; returns whether the value is set.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.raw.touch();
        self.is_ready() || self.wait_deadline(crate::time::deadline(timeout))
    }

    #[cold]
    fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        let st = self.raw.lock();
        if st.value.is_some() {
            return true;
        }
        let ops = Ops {
            list: |s: &mut ResultState<T>| &mut s.waiters,
            cancel: no_cancel,
            abandon: no_abandon,
        };
        self.raw
            .wait(st, (), "AsyncResult::wait", deadline, &ops, || ())
            .is_ok()
    }

    /// The value, taking the result apart.
    pub fn into_inner(self) -> Option<T> {
        self.raw.lock().value.take()
    }
}

impl<T: Clone> AsyncResult<T> {
    /// Blocks until the value is set and returns a clone of it.
    pub fn get(&self) -> T {
        self.wait();
        self.try_get().expect("a ready AsyncResult holds its value")
    }

    /// The value if it is set now (gevent's `get_nowait`, `get(block=False)`).
    pub fn try_get(&self) -> Option<T> {
        self.raw.lock().value.clone()
    }

    /// Waits at most `timeout` for the value.
    pub fn get_timeout(&self, timeout: Duration) -> Option<T> {
        if self.wait_timeout(timeout) {
            self.try_get()
        } else {
            None
        }
    }
}

impl<T> AsyncResult<T> {
    pub(crate) fn watch(&self, waker: crate::hub::Waker) -> impl Sized + '_ {
        self.raw.watch(|s| &mut s.waiters, (), waker, |_| ())
    }
}

impl<T> Default for AsyncResult<T> {
    fn default() -> Self {
        AsyncResult::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.raw.lock();
        f.debug_struct("AsyncResult")
            .field("value", &st.value)
            .finish_non_exhaustive()
    }
}
