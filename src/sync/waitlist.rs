//! The FIFO of waiters every primitive's state holds: intrusive, its nodes in the
//! waiters' own stack frames, so that registering a wait allocates nothing; and the
//! wakes a granter makes once it has released the state lock. Used through `Raw`
//! (`raw.rs`), under a primitive's state lock or in owner mode.

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::hub::{RemoteGuard, Waker};

/// A wake to make once the state lock is released: a waiter's waker and the guard that
/// keeps its hub's deadlock check quiet while another thread may use it. Waking
/// consumes both, in the order the hub requires: the wake is queued before the guard
/// is dropped.
pub(crate) struct DeferredWake {
    pub(super) waker: Waker,
    pub(super) guard: Option<RemoteGuard>,
}

impl DeferredWake {
    #[inline]
    pub(crate) fn wake(self) {
        self.waker.wake();
        drop(self.guard);
    }
}

/// Wakes to make once a lock is released; holds one without allocating. A plain
/// enum, not an `Option` chained to a `Vec`: its iteration is on every wake path.
#[derive(Default)]
pub(crate) enum DeferredWakes {
    #[default]
    None,
    One(DeferredWake),
    Many(Vec<DeferredWake>),
}

impl DeferredWakes {
    pub(crate) fn push(&mut self, w: DeferredWake) {
        match std::mem::take(self) {
            DeferredWakes::None => *self = DeferredWakes::One(w),
            DeferredWakes::One(first) => *self = DeferredWakes::Many(vec![first, w]),
            DeferredWakes::Many(mut v) => {
                v.push(w);
                *self = DeferredWakes::Many(v);
            }
        }
    }
}

impl Extend<DeferredWake> for DeferredWakes {
    fn extend<I: IntoIterator<Item = DeferredWake>>(&mut self, iter: I) {
        for w in iter {
            self.push(w);
        }
    }
}

/// The iterator of [`DeferredWakes`].
pub(crate) enum DeferredWakesIter {
    One(Option<DeferredWake>),
    Many(std::vec::IntoIter<DeferredWake>),
}

impl Iterator for DeferredWakesIter {
    type Item = DeferredWake;
    #[inline]
    fn next(&mut self) -> Option<DeferredWake> {
        match self {
            DeferredWakesIter::One(w) => w.take(),
            DeferredWakesIter::Many(it) => it.next(),
        }
    }
}

impl IntoIterator for DeferredWakes {
    type Item = DeferredWake;
    type IntoIter = DeferredWakesIter;
    #[inline]
    fn into_iter(self) -> DeferredWakesIter {
        match self {
            DeferredWakes::None => DeferredWakesIter::One(None),
            DeferredWakes::One(w) => DeferredWakesIter::One(Some(w)),
            DeferredWakes::Many(v) => DeferredWakesIter::Many(v.into_iter()),
        }
    }
}

/// Wakes every entry, in order.
pub(crate) fn wake_all(wakes: impl IntoIterator<Item = DeferredWake>) {
    for w in wakes {
        w.wake();
    }
}

/// One registered wait, linked into a [`WaitList`]: it lives in the waiter's own
/// stack frame (`Raw::wait`; a box for `Raw::watch`), so registering allocates
/// nothing and copies nothing, and the granter leaves the delivery right there, where
/// the woken waiter collects it without taking the lock.
///
/// Rules, which make the raw pointers in [`WaitList`] sound:
/// * A node does not move while linked, and outlives its link: it leaves the list
///   (granted by someone, or removed by the waiter itself) under the state lock
///   before the waiter returns or finishes unwinding (`Raw::wait`'s `Registration`,
///   `Watch`).
/// * Every field but `granted` and `value` is touched only under the state lock.
/// * A granter unlinks the node, writes `value`, then sets `granted` (Release) and
///   never touches the node again; the waiter reads `value` only after seeing
///   `granted` (Acquire).
pub(crate) struct Node<P, D> {
    prev: Cell<*const Node<P, D>>,
    next: Cell<*const Node<P, D>>,
    linked: Cell<bool>,
    waker: Cell<Waker>,
    guard: Cell<Option<RemoteGuard>>,
    /// What the waiter offers (an item for a channel putter, "wants to write" for an
    /// `RwLock`), readable by the waker; taken when the node is granted or removed.
    data: UnsafeCell<Option<P>>,
    granted: AtomicBool,
    value: UnsafeCell<Option<D>>,
}

impl<P, D> Node<P, D> {
    pub(super) fn new(waker: Waker, guard: Option<RemoteGuard>, data: P) -> Self {
        Node {
            prev: Cell::new(std::ptr::null()),
            next: Cell::new(std::ptr::null()),
            linked: Cell::new(false),
            waker: Cell::new(waker),
            guard: Cell::new(guard),
            data: UnsafeCell::new(Some(data)),
            granted: AtomicBool::new(false),
            value: UnsafeCell::new(None),
        }
    }

    /// The delivery, if the node was granted. Only the node's owner calls it.
    #[inline]
    pub(super) fn take(&self) -> Option<D> {
        if self.granted.load(Ordering::Acquire) {
            // SAFETY: `granted` is set after the granter's last access (see the
            // rules above), and only the owner, the caller, reads.
            unsafe { (*self.value.get()).take() }
        } else {
            None
        }
    }
}

/// A FIFO of waiters, linked through their [`Node`]s. Touched only under the state
/// lock (or in owner mode).
pub(crate) struct WaitList<P = (), D = ()> {
    head: *const Node<P, D>,
    tail: *const Node<P, D>,
    len: usize,
}

// SAFETY: the list is only reached through the primitive's state, under its lock, by
// one thread at a time; what crosses threads through it is `P` (taken by a granter)
// and `D` (delivered to a waiter): both must be Send.
unsafe impl<P: Send, D: Send> Send for WaitList<P, D> {}

impl<P, D> WaitList<P, D> {
    pub(crate) const fn new() -> Self {
        WaitList {
            head: std::ptr::null(),
            tail: std::ptr::null(),
            len: 0,
        }
    }

    /// Whether nobody waits.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// What the first waiter offers.
    pub(crate) fn front(&self) -> Option<&P> {
        // SAFETY: a linked node is alive (rules on `Node`), and its data is touched
        // only under the lock, which the caller's `&self` stands for.
        unsafe { self.head.as_ref().and_then(|n| (*n.data.get()).as_ref()) }
    }

    /// Links `node` at the back.
    ///
    /// # Safety
    /// `node` must follow the rules on [`Node`]: not move, and be unlinked (granted
    /// or removed) under the lock before it is dropped.
    #[inline]
    pub(super) unsafe fn push(&mut self, node: &Node<P, D>) {
        node.prev.set(self.tail);
        node.next.set(std::ptr::null());
        node.linked.set(true);
        let p: *const Node<P, D> = node;
        // SAFETY: a linked node is alive (rules on `Node`).
        match unsafe { self.tail.as_ref() } {
            Some(tail) => tail.next.set(p),
            None => self.head = p,
        }
        self.tail = p;
        self.len += 1;
    }

    /// Unlinks a linked node and takes its data and wake.
    #[inline]
    fn unlink(&mut self, node: &Node<P, D>) -> (P, DeferredWake) {
        let wake = DeferredWake {
            waker: node.waker.get(),
            guard: node.guard.take(),
        };
        (self.unlink_bare(node), wake)
    }

    /// Unlinks a linked node and takes its data.
    #[inline]
    fn unlink_bare(&mut self, node: &Node<P, D>) -> P {
        let (prev, next) = (node.prev.get(), node.next.get());
        // SAFETY: neighbours of a linked node are linked, hence alive.
        match unsafe { prev.as_ref() } {
            Some(p) => p.next.set(next),
            None => self.head = next,
        }
        // SAFETY: as above.
        match unsafe { next.as_ref() } {
            Some(n) => n.prev.set(prev),
            None => self.tail = prev,
        }
        node.linked.set(false);
        self.len -= 1;
        // SAFETY: `data` is touched only under the lock (rules on `Node`).
        unsafe { (*node.data.get()).take() }.expect("a linked node has its data")
    }

    /// Removes the first waiter, delivers `d` to it, and returns its data and what
    /// must be woken once the lock is released.
    #[inline]
    pub(crate) fn grant_front(&mut self, d: D) -> Option<(P, DeferredWake)> {
        // SAFETY: a linked node is alive (rules on `Node`).
        let node = unsafe { self.head.as_ref() }?;
        let taken = self.unlink(node);
        deliver(node, d);
        Some(taken)
    }

    /// Removes the first waiter, delivers `d` to it and wakes it now, under the lock
    /// (which costs nothing on the waker's own hub, and orders no lock before the
    /// state lock elsewhere); returns its data. Cheaper than carrying a [`DeferredWake`]
    /// out.
    #[inline]
    pub(crate) fn grant_front_and_wake(&mut self, d: D) -> Option<P> {
        // SAFETY: a linked node is alive (rules on `Node`).
        let node = unsafe { self.head.as_ref() }?;
        let waker = node.waker.get();
        let guard = node.guard.take();
        let data = self.unlink_bare(node);
        deliver(node, d);
        waker.wake();
        drop(guard);
        Some(data)
    }

    /// Grants every waiter; `f` computes each one's delivery from its data.
    pub(crate) fn grant_all(&mut self, mut f: impl FnMut(P) -> D) -> DeferredWakes {
        let mut wakes = DeferredWakes::default();
        // SAFETY: a linked node is alive (rules on `Node`).
        while let Some(node) = unsafe { self.head.as_ref() } {
            let (data, wake) = self.unlink(node);
            deliver(node, f(data));
            wakes.push(wake);
        }
        wakes
    }

    /// Unlinks `node` if it is still waiting (not granted).
    ///
    /// # Safety
    /// `node` must have been pushed onto this list: if it is still linked, it is
    /// linked here (unlinking it from another list would corrupt both).
    pub(super) unsafe fn remove(&mut self, node: &Node<P, D>) -> Option<(P, DeferredWake)> {
        node.linked.get().then(|| self.unlink(node))
    }

    /// After a spurious wake-up, the node's waker must be the one of the new wait.
    pub(super) fn refresh(&mut self, node: &Node<P, D>, waker: Waker) {
        node.waker.set(waker);
    }

    /// Gives every waiter a `RemoteGuard`: the primitive has just become reachable
    /// from another thread.
    pub(crate) fn guard_all(&mut self) {
        let mut p = self.head;
        // SAFETY: a linked node is alive (rules on `Node`).
        while let Some(node) = unsafe { p.as_ref() } {
            let guard = node.guard.take();
            node.guard.set(Some(
                guard.unwrap_or_else(|| node.waker.get().expect_remote()),
            ));
            p = node.next.get();
        }
    }
}

/// Hands `d` to a waiter whose node the caller has just unlinked, under the lock.
#[inline]
fn deliver<P, D>(node: &Node<P, D>, d: D) {
    // SAFETY: the node was linked until the caller unlinked it under the state lock,
    // so it is alive (rules on `Node`), and nobody else touches `value` before
    // `granted` is set. After the store, the node may be gone: not used again.
    unsafe {
        *node.value.get() = Some(d);
    }
    node.granted.store(true, Ordering::Release);
}
