//! Timers, and the one timed wait: `park_until`. Every wait with a deadline (sleep,
//! timed joins, timed lock and queue operations, IO timeouts) parks through it, and
//! its `TimerGuard` is the one thing that cancels a timer.

use std::time::{Duration, Instant};

use super::ctx::Ctx;
use super::interrupt::Interrupt;
use super::{Hub, ROOT};

/// What a timer does when it fires.
pub(super) enum TimerAction {
    /// Ends the wait of `park_until` that set it (the context's wait `epoch`).
    Wake { slot: u32, epoch: u32 },
    /// Interrupts a context's current wait with a timeout (`with_deadline`).
    Interrupt { slot: u32, id: u64 },
    /// Queues a greenlet spawned with `spawn_later` (`start_later`).
    Start(u32),
}

/// `now + d`, or `None` when that is too far to represent ("never").
pub(crate) fn deadline(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

/// A timer's key: its deadline, then the order timers were set in, so that equal
/// deadlines fire in that order.
pub(crate) type TimerKey = (Instant, u64);

impl Hub {
    pub(super) fn add_timer(&self, deadline: Instant, action: TimerAction) -> TimerKey {
        let seq = self.timer_seq.get();
        self.timer_seq.set(seq + 1);
        let key = (deadline, seq);
        self.timers.borrow_mut().insert(key, action);
        key
    }

    /// Cancels a timer; returns whether it was still pending.
    pub(crate) fn cancel_timer(&self, key: TimerKey) -> bool {
        self.timers.borrow_mut().remove(&key).is_some()
    }

    /// Sets a timer that queues the task in `slot` at `deadline`; cancel it (before
    /// it fires) with [`Hub::cancel_timer`].
    pub(crate) fn start_later(&self, deadline: Instant, slot: u32) -> TimerKey {
        self.add_timer(deadline, TimerAction::Start(slot))
    }

    pub(super) fn fire_timers(&self, now: Instant) {
        loop {
            let action = {
                let mut timers = self.timers.borrow_mut();
                match timers.first_entry() {
                    Some(e) if e.key().0 <= now => e.remove(),
                    _ => return,
                }
            };
            match action {
                TimerAction::Wake { slot, epoch } => self.notify_deadline(slot, epoch),
                TimerAction::Interrupt { slot, id } => self.interrupt(slot, Interrupt::Timeout(id)),
                TimerAction::Start(slot) => {
                    if let Some(task) = self.slots.get(slot) {
                        // SAFETY: in the slab, and a task waiting for its start timer
                        // is in no run queue (`start_later`'s contract with the
                        // greenlet layer, which cancels the timer before it frees or
                        // queues the task any other way).
                        unsafe { self.runq.push(&task) };
                    }
                }
            }
        }
    }

    /// A `park_until` deadline has passed: end that wait, and tell its guard.
    fn notify_deadline(&self, slot: u32, epoch: u32) {
        if slot == ROOT {
            if self.root.epoch.get() == epoch {
                self.root.timer_fired.set(true);
            }
        } else if let Some(task) = self.slots.get(slot)
            && task.ctx.epoch.get() == epoch
        {
            task.ctx.timer_fired.set(true);
        }
        self.notify(slot, epoch);
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.timers.borrow().first_key_value().map(|(k, _)| k.0)
    }

    /// Blocks the running context until its current waker fires, or until
    /// `deadline` (none: no limit), or until it is interrupted (it unwinds then).
    /// Returns true if the deadline passed (its timer fired); false if the wait was
    /// ended by the waker. Either way the timer is gone when this returns or unwinds.
    /// The caller re-checks what it waits for, as after any park.
    ///
    /// Without a deadline this is `park`, inlined as `park` is (see `Hub::yield_now`
    /// on why frames between a wait and its switch cost).
    #[inline(always)]
    pub(crate) fn park_until(
        &'static self,
        reason: &'static str,
        deadline: Option<Instant>,
    ) -> bool {
        match deadline {
            None => {
                self.park(reason);
                false
            }
            Some(deadline) => self.park_timed(reason, deadline),
        }
    }

    #[inline(never)]
    fn park_timed(&'static self, reason: &'static str, deadline: Instant) -> bool {
        let ctx = self.current_ctx();
        let key = self.add_timer(
            deadline,
            TimerAction::Wake {
                slot: self.current_slot(),
                epoch: ctx.epoch.get(),
            },
        );
        let guard = TimerGuard::new(self, key, Some(ctx));
        self.park(reason);
        guard.finish()
    }
}

/// Cancels a timer when dropped, unless it has fired: the one guard every timer a
/// wait sets is held by, so that a wait that unwinds (a kill, a timeout) leaves no
/// timer behind.
pub(super) struct TimerGuard {
    /// The hub the timer is in (the calling thread's).
    hub: &'static Hub,
    /// The timer.
    pub(super) key: TimerKey,
    /// For a `park_until` timer, the parked context, whose `timer_fired` says
    /// whether the timer is gone already (then there is nothing to cancel).
    ctx: *const Ctx,
}

impl TimerGuard {
    pub(super) fn new(hub: &'static Hub, key: TimerKey, ctx: Option<&Ctx>) -> TimerGuard {
        TimerGuard {
            hub,
            key,
            ctx: ctx.map_or(std::ptr::null(), |c| c as *const Ctx),
        }
    }

    /// Drops the guard; returns whether its timer had fired.
    #[inline]
    pub(super) fn finish(self) -> bool {
        let fired = self.take_fired();
        if !fired {
            self.hub.cancel_timer(self.key);
        }
        std::mem::forget(self);
        fired
    }

    fn take_fired(&self) -> bool {
        // SAFETY: a `park_until` guard lives in a frame of the context whose `Ctx` it
        // points to, and a context's `Ctx` outlives every frame of it (the root's is
        // the hub's; a greenlet's is in its allocation, which the slab keeps while
        // the greenlet has frames, unwinding at teardown included).
        unsafe { self.ctx.as_ref() }.is_some_and(|ctx| ctx.timer_fired.replace(false))
    }
}

impl Drop for TimerGuard {
    fn drop(&mut self) {
        if !self.take_fired() {
            self.hub.cancel_timer(self.key);
        }
    }
}
