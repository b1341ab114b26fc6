//! The cross-thread half of the wait/wake seam: `Waker` (Copy, Send, Sync), the
//! `RemoteGuard` that keeps a hub's deadlock check quiet while a remote wake may come,
//! and `Shared`, the part of a hub other threads may touch, with its inbox of wakes.

use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::Hub;

/// A handle that wakes one wait of one context. `Copy`, `Send` and `Sync`: it names
/// the hub by a `'static` shared part and the context by slot and epoch, so it owns
/// nothing and a stale one is harmless.
#[derive(Clone, Copy, Debug)]
pub struct Waker {
    /// Which hub: the part of it other threads may touch.
    pub(super) shared: &'static Shared,
    /// Which of the hubs that used `shared`.
    pub(super) incarnation: u32,
    /// Which context: a slab index, or `ROOT`.
    pub(super) slot: u32,
    /// Which wait of that context.
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
            hub.notify(self.slot, self.epoch);
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
        let inbox = self.shared.inbox.lock();
        let live = inbox.incarnation == self.incarnation;
        if live {
            self.shared.remote_guards.fetch_add(1, Ordering::SeqCst);
        }
        drop(inbox);
        RemoteGuard {
            shared: self.shared,
            incarnation: live.then_some(self.incarnation),
        }
    }
}

impl Waker {
    /// Whether this waker's hub is alive and waiting with no deadline (`waiting_forever`,
    /// see `Hub::nothing_can_wake`): nothing on it is runnable and no timer is pending,
    /// so every context of that hub is parked until a remote wake or IO. A test hook
    /// (`__private::hub_waits_for_remote`), never called by the library.
    pub(crate) fn hub_waits_for_remote(&self) -> bool {
        // Under the lock, so that the flag read belongs to this waker's incarnation: a
        // hub that reuses the `Shared` bumps the incarnation and resets the flag under it.
        let inbox = self.shared.inbox.lock();
        inbox.incarnation == self.incarnation && self.shared.waiting_forever.load(Ordering::SeqCst)
    }
}

/// Keeps a hub's deadlock check quiet while a wake may still come from another thread.
#[derive(Debug)]
pub struct RemoteGuard {
    /// The hub it counts in (`Shared::remote_guards`).
    shared: &'static Shared,
    /// The incarnation it counts in; `None` if that hub was already gone.
    incarnation: Option<u32>,
}

impl Drop for RemoteGuard {
    fn drop(&mut self) {
        let Some(incarnation) = self.incarnation else {
            return;
        };
        let inbox = self.shared.inbox.lock();
        if inbox.incarnation != incarnation {
            return; // Its hub has exited; the count was reset for the next one.
        }
        // The last guard gone while the hub waits with no deadline: wake it so that it
        // re-checks whether anything can still wake its waiters (else it would sleep
        // forever instead of reporting the deadlock). SeqCst pairs with
        // `Hub::nothing_can_wake`.
        if self.shared.remote_guards.fetch_sub(1, Ordering::SeqCst) == 1
            && self.shared.waiting_forever.load(Ordering::SeqCst)
            && let Some(waker) = inbox.poll_waker.as_ref()
        {
            // A failed eventfd write means the counter is saturated: already due.
            let _ = waker.wake();
        }
    }
}

/// The part of a hub other threads may touch. Never freed: a dead hub's `Shared` goes
/// to a free list and serves a later hub with a new incarnation number, so that a
/// `Waker` can hold a plain `&'static` and still never wake the wrong hub.
///
/// Every field is touched by any thread; each says its rule.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Wakes sent from other threads, and the mio waker that interrupts the hub's
    /// poll. Holding this lock is what keeps the poll waker alive while a remote
    /// thread uses it.
    pub(super) inbox: parking_lot::Mutex<Inbox>,
    /// Set (under the inbox lock) when `inbox.wakes` or `inbox.jobs` is non-empty; read
    /// and cleared by the hub, which reads it without the lock first.
    pub(super) pending: AtomicBool,
    /// Outstanding `RemoteGuard`s of this incarnation: wakes that may still come from
    /// other threads. Changed under the inbox lock; read by the hub's deadlock check.
    pub(super) remote_guards: AtomicUsize,
    /// Set by the hub while it polls with no deadline, relying on `remote_guards`
    /// for progress; read by the guard that brings that count to zero.
    pub(super) waiting_forever: AtomicBool,
}

/// A hub's inbox, behind `Shared::inbox`.
pub(super) struct Inbox {
    /// Which hub uses the `Shared` now; wakers and guards of an earlier one are stale.
    pub(super) incarnation: u32,
    /// Wakes the hub's poll; `None` once the hub has exited.
    pub(super) poll_waker: Option<mio::Waker>,
    /// `(slot, epoch)` of each remote wake, in arrival order; taken by the hub.
    pub(super) wakes: Vec<(u32, u32)>,
    /// Work sent with `HubRef::send`, in arrival order; taken by the hub, which runs
    /// it after the wakes that came with it.
    pub(super) jobs: Vec<Job>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("incarnation", &self.incarnation)
            .field("wakes", &self.wakes.len())
            .field("jobs", &self.jobs.len())
            .finish_non_exhaustive()
    }
}

/// Work for a hub, sent from any thread: it runs on the hub's thread, inside the
/// hub's own machinery, so it must not block (spawning is what it is for).
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// A hub as any thread names it: `Copy`, `Send` and `Sync`, like a `Waker` for the
/// hub itself. It owns nothing; once its hub has exited, sending to it fails.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HubRef {
    shared: &'static Shared,
    incarnation: u32,
}

impl PartialEq for HubRef {
    fn eq(&self, other: &Self) -> bool {
        ptr::eq(self.shared, other.shared) && self.incarnation == other.incarnation
    }
}

impl Eq for HubRef {}

impl HubRef {
    /// The calling thread's hub, created if need be.
    pub(crate) fn current() -> HubRef {
        HubRef::of(Hub::current())
    }

    /// A key that tells hubs apart (for maps of them).
    pub(crate) fn key(&self) -> (usize, u64) {
        (
            self.shared as *const Shared as usize,
            u64::from(self.incarnation),
        )
    }

    pub(super) fn of(hub: &Hub) -> HubRef {
        HubRef {
            shared: hub.shared,
            incarnation: hub.incarnation,
        }
    }

    /// Whether this is the calling thread's hub.
    pub(crate) fn is_current(&self) -> bool {
        Hub::try_current().is_some_and(|hub| {
            ptr::eq(hub.shared, self.shared) && hub.incarnation == self.incarnation
        })
    }

    /// Whether the hub still runs (it may exit right after this says yes).
    pub(crate) fn is_alive(&self) -> bool {
        let inbox = self.shared.inbox.lock();
        inbox.incarnation == self.incarnation && inbox.poll_waker.is_some()
    }

    /// Queues `job` to run on the hub's thread the next time the hub takes its inbox
    /// (at once if it waits in its poll). `Err(job)` if the hub has exited. A job
    /// queued on a hub that exits before it takes its inbox is dropped there, on the
    /// exiting thread, without running.
    pub(crate) fn send(&self, job: Job) -> Result<(), Job> {
        let mut inbox = self.shared.inbox.lock();
        if inbox.incarnation != self.incarnation || inbox.poll_waker.is_none() {
            return Err(job);
        }
        inbox.jobs.push(job);
        if !self.shared.pending.swap(true, Ordering::AcqRel)
            && let Some(waker) = inbox.poll_waker.as_ref()
        {
            // A failed eventfd write means the counter is saturated: already due.
            let _ = waker.wake();
        }
        Ok(())
    }
}

pub(super) static FREE_SHARED: parking_lot::Mutex<Vec<&'static Shared>> =
    parking_lot::Mutex::new(Vec::new());

impl Shared {
    fn wake_remote(&'static self, w: Waker) {
        let mut inbox = self.inbox.lock();
        if inbox.incarnation != w.incarnation || inbox.poll_waker.is_none() {
            return; // The hub it was made for has exited.
        }
        inbox.wakes.push((w.slot, w.epoch));
        if !self.pending.swap(true, Ordering::AcqRel)
            && let Some(waker) = inbox.poll_waker.as_ref()
        {
            // A failed eventfd write means the counter is saturated, so the hub
            // is already due to wake: nothing is lost by ignoring it.
            let _ = waker.wake();
        }
    }
}
