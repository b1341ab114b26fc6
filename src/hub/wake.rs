//! The cross-thread half of the wait/wake seam: `Waker` (Copy, Send, Sync), the
//! `RemoteGuard` that keeps a hub's deadlock check quiet while a remote wake may come,
//! and `Shared`, the part of a hub other threads may touch.

use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::Hub;

/// A handle that wakes one wait of one context. `Copy`, `Send` and `Sync`: it names
/// the hub by a `'static` shared part and the context by slot and epoch, so it owns
/// nothing and a stale one is harmless.
#[derive(Clone, Copy, Debug)]
pub struct Waker {
    pub(super) shared: &'static Shared,
    pub(super) incarnation: u32,
    pub(super) slot: u32,
    pub(super) epoch: u32,
}

impl PartialEq for Waker {
    fn eq(&self, other: &Self) -> bool {
        ptr::eq(self.shared, other.shared)
            && self.incarnation == other.incarnation
            && self.slot == other.slot
            && self.epoch == other.epoch
    }
}

impl Waker {
    /// Wakes the wait this waker was made for, from any thread. Waking twice, or
    /// waking a wait that has ended, does nothing.
    #[inline]
    pub fn wake(self) {
        if let Some(hub) = Hub::try_current()
            && ptr::eq(hub.shared, self.shared)
            && hub.incarnation == self.incarnation
        {
            hub.wake_local(self.slot, self.epoch);
        } else {
            self.shared.wake_remote(self);
        }
    }

    /// Whether this waker wakes a context of the calling thread's hub.
    pub fn is_local(&self) -> bool {
        Hub::try_current().is_some_and(|hub| {
            ptr::eq(hub.shared, self.shared) && hub.incarnation == self.incarnation
        })
    }

    /// Tells the target hub that a wake may come from another thread while this guard
    /// lives, so that its deadlock check does not report the wait as hopeless.
    pub fn expect_remote(&self) -> RemoteGuard {
        // Under the lock, so that a guard counts only for the incarnation it was made
        // for: a guard of a dead hub must not skew the count of the hub that reuses
        // its `Shared`.
        let remote = self.shared.remote.lock();
        let live = remote.incarnation == self.incarnation;
        if live {
            self.shared.external.fetch_add(1, Ordering::SeqCst);
        }
        drop(remote);
        RemoteGuard {
            shared: self.shared,
            incarnation: live.then_some(self.incarnation),
        }
    }
}

impl Waker {
    /// Whether this waker's hub is alive and waiting with no deadline (`waiting_forever`,
    /// see `Hub::maintain`): nothing on it is runnable and no timer is pending, so every
    /// context of that hub is parked until a remote wake or IO. A test hook
    /// (`__private::hub_waits_for_remote`), never called by the library.
    pub(crate) fn hub_waits_for_remote(&self) -> bool {
        // Under the lock, so that the flag read belongs to this waker's incarnation: a
        // hub that reuses the `Shared` bumps the incarnation and resets the flag under it.
        let remote = self.shared.remote.lock();
        remote.incarnation == self.incarnation && self.shared.waiting_forever.load(Ordering::SeqCst)
    }
}

/// Keeps a hub's deadlock check quiet while a wake may still come from another thread.
#[derive(Debug)]
pub struct RemoteGuard {
    shared: &'static Shared,
    /// The incarnation it counts in; `None` if that hub was already gone.
    incarnation: Option<u32>,
}

impl Drop for RemoteGuard {
    fn drop(&mut self) {
        let Some(incarnation) = self.incarnation else {
            return;
        };
        let remote = self.shared.remote.lock();
        if remote.incarnation != incarnation {
            return; // Its hub has exited; the count was reset for the next one.
        }
        // The last guard gone while the hub waits with no deadline: wake it so that it
        // re-checks whether anything can still wake its waiters (else it would sleep
        // forever instead of reporting the deadlock). SeqCst pairs with `maintain`.
        if self.shared.external.fetch_sub(1, Ordering::SeqCst) == 1
            && self.shared.waiting_forever.load(Ordering::SeqCst)
            && let Some(waker) = remote.waker.as_ref()
        {
            // A failed eventfd write means the counter is saturated: already due.
            let _ = waker.wake();
        }
    }
}

/// The part of a hub other threads may touch. Never freed: a dead hub's `Shared` goes
/// to a free list and serves a later hub with a new incarnation number, so that a
/// `Waker` can hold a plain `&'static` and still never wake the wrong hub.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Remote wakes and the mio waker that interrupts the hub's poll. Holding this lock
    /// is what keeps the waker alive while a remote thread uses it.
    pub(super) remote: parking_lot::Mutex<Remote>,
    /// Set when `remote.wakes` is non-empty; read by the hub without the lock.
    pub(super) pending: AtomicBool,
    /// Outstanding `RemoteGuard`s: wakes that may come from other threads.
    pub(super) external: AtomicUsize,
    /// Set while the hub polls with no deadline, relying on `external` for progress.
    pub(super) waiting_forever: AtomicBool,
}

#[derive(Debug)]
pub(super) struct Remote {
    pub(super) incarnation: u32,
    pub(super) waker: Option<mio::Waker>,
    pub(super) wakes: Vec<(u32, u32)>,
}

pub(super) static FREE_SHARED: parking_lot::Mutex<Vec<&'static Shared>> =
    parking_lot::Mutex::new(Vec::new());

impl Shared {
    fn wake_remote(&'static self, w: Waker) {
        let mut remote = self.remote.lock();
        if remote.incarnation != w.incarnation || remote.waker.is_none() {
            return; // The hub it was made for has exited.
        }
        remote.wakes.push((w.slot, w.epoch));
        if !self.pending.swap(true, Ordering::AcqRel)
            && let Some(waker) = remote.waker.as_ref()
        {
            // A failed eventfd write means the counter is saturated, so the hub
            // is already due to wake: nothing is lost by ignoring it.
            let _ = waker.wake();
        }
    }
}
