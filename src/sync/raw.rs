//! The raw machinery every primitive is built from: a FIFO wait list, the state it
//! lives in behind a `parking_lot` mutex, the per-primitive thread affinity that
//! decides whether waiters hold a [`RemoteGuard`], and one blocking routine.
//!
//! A primitive keeps its state `S` (counters, flags, buffers and one or more
//! [`WaitList`]s) in a [`Raw<S>`]. A waiting operation checks its condition under
//! the lock and, if it must wait, calls [`Raw::wait`], which registers an entry,
//! parks, and returns what the waker *delivered* to that entry. Whoever wakes does
//! so by `grant`ing entries under the lock (removing them and writing what they are
//! owed, a permit, an item, ownership, into the waiter's own [`Node`]) and waking them
//! after the lock is released. So a wake is a hand-off: it is never lost, never
//! delivered twice, and a waiter that times out or unwinds after being granted passes
//! the grant on (each primitive says how, in its [`Ops::abandon`]).
//!
//! ```text
//!   waiter                              waker
//!   lock; check: must wait
//!   link node (waker, guard, data)
//!   unlock; park ───────────────┐       lock; pop front entry, write
//!                               │       its value, flag it granted; unlock
//!   park returns  ◄─────────────┘◄───── wake(entry.waker); drop(entry.guard)
//!   granted? take the value (no lock)
//! ```

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, compiler_fence};
use std::time::Instant;

use crate::hub::{Hub, UnguardedWait, Waker};

use super::owner::{LOCKED, SHARED, heavy_barrier, owner_mode, thread_tag};
pub use super::owner::{
    disable_owner_mode, owner_mode_on, register_in_background, registered_at_load,
};
pub(crate) use super::waitlist::{DeferredWake, DeferredWakes, Node, WaitList, wake_all};

/// The state of a primitive: whatever it needs plus its wait lists.
pub(crate) trait RawState {
    /// Calls [`WaitList::guard_all`] on every wait list.
    fn guard_all(&mut self);
}

/// How one kind of wait hooks into a primitive's state.
pub(crate) struct Ops<S, P, D> {
    /// The wait list this kind of wait registers in.
    pub(crate) list: fn(&mut S) -> &mut WaitList<P, D>,
    /// Called (under the lock) after a waiter that was still waiting left the list
    /// because it timed out or unwound; returns whom that frees up.
    pub(crate) cancel: fn(Fast<'_>, &mut S) -> Vec<DeferredWake>,
    /// Called (under the lock) when a waiter that had been granted `D` unwinds before
    /// returning it to its caller: pass the grant on. Returns whom to wake.
    pub(crate) abandon: fn(Fast<'_>, &mut S, D) -> Vec<DeferredWake>,
}

/// Nothing to do on abandon.
pub(crate) fn no_abandon<S, T>(_: Fast<'_>, _: &mut S, _: T) -> Vec<DeferredWake> {
    Vec::new()
}

/// Nothing to do on cancel.
pub(crate) fn no_cancel<S>(_: Fast<'_>, _: &mut S) -> Vec<DeferredWake> {
    Vec::new()
}

/// A primitive's state behind a `parking_lot` mutex, and the thread affinity rule
/// (`arch/sync.md`): the first thread to touch the primitive owns it; once a second
/// one does, it is shared for good and every waiter holds a `RemoteGuard`.
///
/// While it is owned, the owner uses the state without the mutex and the `fast` word
/// with plain loads and stores ("owner mode"), bracketing each use with `busy`; the
/// thread that makes it shared revokes that first (see `touch_slow` and
/// `arch/sync.md`, "Owner mode"). On one hub no atomic read-modify-write is left.
pub(crate) struct Raw<S> {
    /// 0 (untouched), the tag of the only thread that touched it, or `SHARED`.
    affinity: AtomicU64,
    /// Set by the owner while it uses `state` or `fast` in owner mode. Written only
    /// by the owner; read by the revoking thread.
    busy: AtomicBool,
    /// A lock-free summary of the state for fast paths (a lock byte, a flag), with
    /// rules each primitive documents; passed to `Ops` as a [`Fast`].
    pub(crate) fast: AtomicUsize,
    state: parking_lot::Mutex<S>,
}

impl<S: RawState> Raw<S> {
    pub(crate) const fn new(state: S) -> Self {
        Raw {
            affinity: AtomicU64::new(0),
            busy: AtomicBool::new(false),
            fast: AtomicUsize::new(0),
            state: parking_lot::Mutex::new(state),
        }
    }

    /// Records that the calling thread uses the primitive. Every public operation
    /// calls it (or `lock`/`own`, which do) before anything else.
    #[inline]
    pub(crate) fn touch(&self) {
        let me = thread_tag();
        let a = self.affinity.load(Ordering::Relaxed);
        if a != me || me == SHARED {
            self.touch_slow(me);
        }
    }

    #[cold]
    fn touch_slow(&self, me: u64) {
        let mut a = self.affinity.load(Ordering::Acquire);
        if a == SHARED || (me != SHARED && (a == me || a == me | LOCKED)) {
            return;
        }
        if a == 0 && me != SHARED {
            // The first touch decides, for good, whether the owner may use owner mode.
            let mine = if owner_mode() { me } else { me | LOCKED };
            match self
                .affinity
                .compare_exchange(0, mine, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(now) if now == SHARED => return,
                Err(now) => a = now,
            }
        }
        // A second thread (or an exiting one): shared for good. Store before anything
        // else: an owner entering owner mode after the barrier below sees it and takes
        // the lock. `a` is 0 or another thread's tag; only a store of `SHARED` can
        // change it now, so its `LOCKED` bit is settled.
        self.affinity.store(SHARED, Ordering::SeqCst);
        if a != 0 && a & LOCKED == 0 {
            // A plain tag: owner mode was on at the first touch (the owner's Acquire
            // read of the mode and its AcqRel store of the tag order the registration
            // before our read of `a`), so the barrier is registered. The owner may be
            // inside an owner-mode section that began before it could see `SHARED`:
            // make its `busy` visible (the heavy half of the asymmetric barrier), then
            // wait for that section to end. Sections are short and never switch, so
            // this ends as soon as the owner thread gets CPU time.
            heavy_barrier();
            let mut spins = 0u32;
            while self.busy.load(Ordering::Acquire) {
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
        // Waiters queued before: they get their guard here. A waiter registering
        // after this reads SHARED under the lock.
        self.state.lock().guard_all();
    }

    /// Whether waiters need a `RemoteGuard`. Read under the state lock.
    fn shared(&self) -> bool {
        self.affinity.load(Ordering::Acquire) == SHARED
    }

    /// The state, exclusively: in owner mode if the calling thread owns the
    /// primitive, else under the mutex. Touches the primitive first.
    #[inline]
    pub(crate) fn lock(&self) -> StateGuard<'_, S> {
        match self.own() {
            Some(g) => g,
            None => self.lock_slow(),
        }
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self) -> StateGuard<'_, S> {
        StateGuard {
            raw: self,
            lock: Some(self.state.lock()),
        }
    }

    /// The state in owner mode, if the calling thread owns the primitive (and the
    /// platform has the barrier that makes revocation sound); `None` means: take
    /// `lock()` or use the atomic fast path. Touches the primitive first.
    #[inline]
    pub(crate) fn own(&self) -> Option<StateGuard<'_, S>> {
        let me = thread_tag();
        if self.affinity.load(Ordering::Relaxed) != me || me == SHARED {
            self.touch_slow(me);
            if self.affinity.load(Ordering::Relaxed) != me || me == SHARED {
                return None;
            }
        }
        // A plain tag of ours: owner mode was on when the primitive was first touched
        // (a locked-mode one carries `LOCKED` and took the `None` above).
        if self.busy.load(Ordering::Relaxed) {
            reentered();
        }
        self.busy.store(true, Ordering::Relaxed);
        // The light half of the asymmetric barrier: `busy` is stored before
        // `affinity` is read again (the revoker's membarrier orders the hardware).
        compiler_fence(Ordering::SeqCst);
        if self.affinity.load(Ordering::Relaxed) != me {
            self.busy.store(false, Ordering::Release);
            return None;
        }
        Some(StateGuard {
            raw: self,
            lock: None,
        })
    }
    /// Registers a wait in `ops.list`, releases `st`, runs `registered` (a condition
    /// variable unlocks its mutex there), and parks until granted or until
    /// `deadline`. Returns the delivery, or the waiter's data back on timeout.
    ///
    /// Unwinding out of the park (kill, `with_timeout`) removes the entry, or, if it
    /// had been granted meanwhile, passes the grant on through `ops.abandon`.
    #[inline(always)]
    pub(crate) fn wait<P, D>(
        &self,
        mut st: StateGuard<'_, S>,
        data: P,
        reason: &'static str,
        deadline: Option<Instant>,
        ops: &Ops<S, P, D>,
        registered: impl FnOnce(),
    ) -> Result<D, P> {
        let hub = Hub::current();
        if deadline.is_some_and(|d| Instant::now() >= d) {
            drop(st);
            registered();
            return Err(data);
        }
        let mut waker = hub.waker();
        // An owner-mode guard means: only this thread has touched it, not shared.
        let guard = (!st.is_owned() && self.shared()).then(|| waker.expect_remote());
        let unguarded = guard.is_none();
        // Declared before `entry`, so that it outlives it on every path: `entry`
        // unlinks it when dropped, and nothing moves it.
        let node = Node::new(waker, guard, data);
        // SAFETY: `node` stays in this frame and `entry` (or the timeout path) unlinks
        // it under the lock on every way out, unwinding included (rules on `Node`).
        unsafe { (ops.list)(&mut st).push(&node) };
        drop(st);
        let entry = Enqueued {
            raw: self,
            node: &node,
            ops,
            unguarded: unguarded.then(|| UnguardedWait::new(hub)),
        };
        registered();
        loop {
            hub.park_until(reason, deadline);
            if let Some(d) = node.take() {
                entry.disarm();
                return Ok(d);
            }
            let mut st = self.lock();
            if let Some(d) = node.take() {
                drop(st);
                entry.disarm();
                return Ok(d);
            }
            let list = (ops.list)(&mut st);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // SAFETY: `node` was pushed onto this very list above.
                let (data, wake) =
                    unsafe { list.remove(&node) }.expect("a waiter is either waiting or granted");
                let wakes = (ops.cancel)(st.fast(), &mut st);
                drop(st);
                entry.disarm();
                drop(wake);
                wake_all(wakes);
                return Err(data);
            }
            // A spurious wake-up: wait again, with the waker of the new wait.
            waker = hub.waker();
            list.refresh(&node, waker);
            drop(st);
        }
    }
}

impl<S: RawState> Raw<S> {
    /// Registers `waker` in `list` without waiting: it is woken (granted) like a
    /// waiter, and the returned guard unregisters it. For `wait`/`iwait` over many
    /// objects; only for lists whose grants need no passing on (events, results,
    /// peeks).
    /// `under_lock` runs with the state locked, before the entry is pushed.
    pub(crate) fn watch<P, D>(
        &self,
        list: fn(&mut S) -> &mut WaitList<P, D>,
        data: P,
        waker: Waker,
        under_lock: fn(Fast<'_>),
    ) -> Watch<'_, S, P, D> {
        let mut st = self.lock();
        under_lock(st.fast());
        let guard = self.shared().then(|| waker.expect_remote());
        let unguarded = guard.is_none();
        // Boxed: the `Watch` moves, its node must not.
        let node = Box::new(Node::new(waker, guard, data));
        // SAFETY: the box does not move its contents, and `Watch::drop` unlinks the
        // node under the lock before the box is freed (rules on `Node`).
        unsafe { list(&mut st).push(&node) };
        drop(st);
        Watch {
            raw: self,
            list,
            node,
            _unguarded: unguarded.then(|| UnguardedWait::new(Hub::current())),
        }
    }
}

/// Exclusive access to a primitive's state: in owner mode (no lock; `busy` is set
/// and cleared on drop) or under the mutex. Never held across a park.
pub(crate) struct StateGuard<'a, S> {
    raw: &'a Raw<S>,
    /// `None` in owner mode.
    lock: Option<parking_lot::MutexGuard<'a, S>>,
}

impl<'a, S> StateGuard<'a, S> {
    /// Whether this is owner mode (no lock held).
    #[inline]
    pub(crate) fn is_owned(&self) -> bool {
        self.lock.is_none()
    }

    /// The primitive's `fast` word, used the way this guard allows.
    #[inline]
    pub(crate) fn fast(&self) -> Fast<'a> {
        Fast {
            word: &self.raw.fast,
            owned: self.lock.is_none(),
        }
    }
}

impl<S> Deref for StateGuard<'_, S> {
    type Target = S;
    #[inline]
    fn deref(&self) -> &S {
        match &self.lock {
            Some(g) => g,
            // SAFETY: owner mode: only this thread uses the state (no other thread
            // takes the mutex before it has revoked owner mode, which waits for `busy`
            // to clear), and `busy` was unset when this guard was made, so no other
            // guard of this thread exists: the access is exclusive while it lives.
            None => unsafe { &*self.raw.state.data_ptr() },
        }
    }
}

impl<S> DerefMut for StateGuard<'_, S> {
    #[inline]
    fn deref_mut(&mut self) -> &mut S {
        match &mut self.lock {
            Some(g) => g,
            // SAFETY: as in `deref`; `&mut self` makes this the only reference.
            None => unsafe { &mut *self.raw.state.data_ptr() },
        }
    }
}

impl<S> Drop for StateGuard<'_, S> {
    #[inline]
    fn drop(&mut self) {
        if self.lock.is_none() {
            // Publishes this section's writes to a revoking thread (it reads `busy`
            // with Acquire before it takes the mutex).
            self.raw.busy.store(false, Ordering::Release);
        }
    }
}

/// A primitive's `fast` word as a guard lets it be used: in owner mode no other
/// thread writes it, so read-modify-writes are a plain load and store.
#[derive(Clone, Copy)]
pub(crate) struct Fast<'a> {
    word: &'a AtomicUsize,
    owned: bool,
}

impl Fast<'_> {
    #[inline]
    pub(crate) fn store(self, v: usize) {
        self.word.store(v, Ordering::Release);
    }

    /// `fetch_or`, returning the previous value.
    #[inline]
    pub(crate) fn fetch_or(self, bits: usize) -> usize {
        if self.owned {
            let v = self.word.load(Ordering::Relaxed);
            self.word.store(v | bits, Ordering::Release);
            v
        } else {
            self.word.fetch_or(bits, Ordering::AcqRel)
        }
    }

    /// `fetch_and`, returning the previous value.
    #[inline]
    pub(crate) fn fetch_and(self, bits: usize) -> usize {
        if self.owned {
            let v = self.word.load(Ordering::Relaxed);
            self.word.store(v & bits, Ordering::Release);
            v
        } else {
            self.word.fetch_and(bits, Ordering::AcqRel)
        }
    }
}

#[cold]
#[inline(never)]
fn reentered() -> ! {
    panic!(
        "greenlet: a sync primitive was used again from inside one of its own operations \
         (for example from the `Ord` of a `PriorityQueue` item, or a `Drop` it runs); \
         that would deadlock"
    )
}

/// A registration made by [`Raw::watch`]; dropping it unregisters.
pub(crate) struct Watch<'a, S: RawState, P, D> {
    raw: &'a Raw<S>,
    list: fn(&mut S) -> &mut WaitList<P, D>,
    node: Box<Node<P, D>>,
    /// Counted while it lives if it holds no `RemoteGuard` (see `UnguardedWait`).
    _unguarded: Option<UnguardedWait>,
}

impl<S: RawState, P, D> Drop for Watch<'_, S, P, D> {
    fn drop(&mut self) {
        let mut st = self.raw.lock();
        // SAFETY: the node was pushed onto this list by `watch`.
        let removed = unsafe { (self.list)(&mut st).remove(&self.node) };
        drop(st);
        // Not in the list any more: either removed here or granted; either way the
        // box may go with the `Watch`.
        drop(removed);
    }
}

/// A wait linked into a primitive's wait list (`Raw::wait`); dropping it (the waiter
/// unwinds) unlinks the node, or passes a grant it was given on (RAII, so that a
/// killed or timed-out waiter leaves nothing behind).
struct Enqueued<'a, S: RawState, P, D> {
    raw: &'a Raw<S>,
    node: &'a Node<P, D>,
    ops: &'a Ops<S, P, D>,
    /// Counted while it lives if it holds no `RemoteGuard` (see `UnguardedWait`).
    unguarded: Option<UnguardedWait>,
}

impl<S: RawState, P, D> Enqueued<'_, S, P, D> {
    /// The wait ended normally (granted, or removed under the lock by the waiter):
    /// only the count is left to undo.
    fn disarm(mut self) {
        drop(self.unguarded.take());
        std::mem::forget(self);
    }
}

impl<S: RawState, P, D> Drop for Enqueued<'_, S, P, D> {
    fn drop(&mut self) {
        let mut st = self.raw.lock();
        let fast = st.fast();
        let list = (self.ops.list)(&mut st);
        // SAFETY: the node was pushed onto this list by `wait`.
        let (removed, wakes) = match unsafe { list.remove(self.node) } {
            Some(w) => (Some(w), (self.ops.cancel)(fast, &mut st)),
            None => match self.node.take() {
                Some(d) => (None, (self.ops.abandon)(fast, &mut st, d)),
                None => (None, Vec::new()),
            },
        };
        drop(st);
        drop(removed);
        wake_all(wakes);
    }
}
