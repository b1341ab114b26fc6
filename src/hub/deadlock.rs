//! The deadlock accounting: what may still wake a waiting hub (remote guards,
//! unguarded waits, IO, timers), and the report when nothing can.
//!
//! A deadlock is reported only when it is certain: the root waits, nothing is
//! runnable, no timer is pending, no IO is registered, no other thread holds a
//! `RemoteGuard`, and no wait without a guard could be ended by another thread.

use std::sync::atomic::Ordering;

use super::Hub;
use super::ParkState;
use crate::sys;

/// A wait registered without a `RemoteGuard` (on a primitive no other thread has
/// touched yet), counted while it lives; see [`Hub::nothing_can_wake`].
pub(crate) struct UnguardedWait {
    hub: &'static Hub,
}

impl UnguardedWait {
    /// Counts one such wait on `hub` (the calling thread's) until dropped.
    #[inline]
    pub(crate) fn new(hub: &'static Hub) -> UnguardedWait {
        hub.unguarded_waits.set(hub.unguarded_waits.get() + 1);
        UnguardedWait { hub }
    }
}

impl Drop for UnguardedWait {
    #[inline]
    fn drop(&mut self) {
        let n = &self.hub.unguarded_waits;
        n.set(n.get() - 1);
    }
}

impl Hub {
    /// Called by the loop when nothing is runnable and no timer is pending: whether
    /// nothing at all can make progress again. Sets `waiting_forever` on the way (the
    /// loop clears it after its poll).
    ///
    /// Order matters. A remote waker pushes its wake before dropping its guard, so
    /// once `remote_guards` reads zero a late wake shows in `pending`. And
    /// `waiting_forever` is set before `remote_guards` is read, so a guard dropped
    /// after the read sees it and pokes the poll.
    pub(super) fn nothing_can_wake(&self) -> bool {
        self.shared.waiting_forever.store(true, Ordering::SeqCst);
        let stuck = self.reactor.waiters() == 0
            && self.shared.remote_guards.load(Ordering::SeqCst) == 0
            && !self.shared.pending.load(Ordering::SeqCst)
            && !self.unguarded_waits_may_end();
        if stuck {
            self.shared.waiting_forever.store(false, Ordering::Relaxed);
        }
        stuck
    }

    /// Whether some wait of this hub might still be ended by another OS thread
    /// although it holds no `RemoteGuard`.
    ///
    /// A primitive only this thread has touched gives its waiters no guard, so that a
    /// deadlock on it is reported. But another thread may hold a reference it has
    /// not used yet (an `Arc` moved into a thread that will `set` later), and a false
    /// report kills a correct program. So the report is made only when certain: when
    /// this process has no other thread. With other threads, the hub waits for a
    /// remote wake instead (a purely local deadlock then hangs, as in Go once cgo
    /// threads exist).
    fn unguarded_waits_may_end(&self) -> bool {
        self.unguarded_waits.get() > 0 && sys::thread::other_threads_exist()
    }

    /// Nothing can ever wake the root: panic with what everyone waits for.
    #[cold]
    pub(super) fn deadlock(&self) -> ! {
        let mut msg = format!(
            "greenlet: deadlock: the thread '{}' is blocked ({}) and nothing can ever wake it: \
             no greenlet is runnable, no timer is pending, no IO is registered and no other \
             thread holds a waker.",
            std::thread::current().name().unwrap_or("<unnamed>"),
            self.root.reason.get(),
        );
        let parked: Vec<_> = self
            .slots
            .tasks()
            .into_iter()
            .filter(|t| t.ctx.state.get() == ParkState::Parked)
            .collect();
        if parked.is_empty() {
            msg.push_str(" No greenlet is parked.");
        } else {
            msg.push_str(" Parked greenlets:");
            for t in parked.iter().take(20) {
                msg.push_str(&format!(
                    "\n  {} waits on {}",
                    t.describe(),
                    t.ctx.reason.get()
                ));
            }
            if parked.len() > 20 {
                msg.push_str(&format!("\n  ... and {} more", parked.len() - 20));
            }
        }
        drop(parked);
        panic!("{msg}");
    }
}
