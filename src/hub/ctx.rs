//! The wait state every context (a greenlet, or the thread's own stack) carries: the
//! part of the wait/wake seam a `Waker` acts on, and how a wake reaches it.

use std::cell::{Cell, Ref};

use super::interrupt::InterruptCell;
use super::task::TaskRef;
use super::{Hub, ROOT};

/// Where a context is in its current wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParkState {
    /// Running right now, or suspended in the run queue.
    Running,
    /// Its current waker fired before it parked: `park` returns at once.
    Notified,
    /// Parked; only a waker with the current epoch (or an interrupt) makes it runnable.
    Parked,
}

/// The wait state every context has: the part of the seam a waker acts on. Touched
/// only by the hub's thread.
pub(crate) struct Ctx {
    /// Bumped each time a park ends, so that wakers minted for an earlier wait are
    /// stale and ignored: a wake is delivered once, to the wait it was made for.
    pub(crate) epoch: Cell<u32>,
    /// Non-zero while the context unwinds with an interrupt's payload (the number
    /// names the delivery; the payload's `Drop` clears it). Meanwhile further
    /// interrupts stay pending: delivering one inside a destructor that blocks during
    /// that unwinding would be a panic during cleanup, which aborts the process.
    /// (Compared for equality only; it wraps after 2^32 deliveries on one thread.)
    pub(crate) unwinding: Cell<u32>,
    /// When its current park began, on the hub's coarse clock (see
    /// `Hub::coarse_ms`): for the dump's "parked for".
    pub(crate) parked_ms: Cell<u32>,
    pub(crate) state: Cell<ParkState>,
    /// Set when the timer of the current `park_until` fired (the timer is gone);
    /// read and cleared by that `park_until`'s timer guard.
    pub(crate) timer_fired: Cell<bool>,
    /// A kill or timeout to deliver at the next (or current) park.
    pub(crate) interrupt: InterruptCell,
    /// What the context waits for, for the deadlock report.
    pub(crate) reason: Cell<&'static str>,
}

impl Ctx {
    pub(crate) const fn new() -> Self {
        Ctx {
            epoch: Cell::new(0),
            unwinding: Cell::new(0),
            parked_ms: Cell::new(0),
            state: Cell::new(ParkState::Running),
            timer_fired: Cell::new(false),
            interrupt: InterruptCell::new(),
            reason: Cell::new(""),
        }
    }

    /// An interrupt is pending and may be delivered now.
    #[inline(always)]
    pub(crate) fn interrupt_due(&self) -> bool {
        self.interrupt.is_some() && self.unwinding.get() == 0
    }

    /// Makes the context runnable if `epoch` is its current wait's, calling `enqueue`
    /// if it was parked (a wake before the park only marks it notified). Returns
    /// whether `epoch` was current.
    #[inline]
    pub(crate) fn notify(&self, epoch: u32, enqueue: impl FnOnce()) -> bool {
        if self.epoch.get() != epoch {
            return false;
        }
        match self.state.get() {
            ParkState::Parked => {
                self.state.set(ParkState::Notified);
                enqueue();
            }
            ParkState::Running => self.state.set(ParkState::Notified),
            ParkState::Notified => {}
        }
        true
    }
}

/// A context of the hub, found by slot: the root's `Ctx`, or a task kept alive by a
/// counted reference while it is looked at (the slab is not borrowed meanwhile).
pub(super) enum CtxRef<'a> {
    Root(&'a Ctx),
    Task(TaskRef),
}

impl std::ops::Deref for CtxRef<'_> {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        match self {
            CtxRef::Root(ctx) => ctx,
            CtxRef::Task(task) => &task.ctx,
        }
    }
}

impl Hub {
    /// The context in `slot`, if it still exists.
    #[inline]
    pub(super) fn ctx(&self, slot: u32) -> Option<CtxRef<'_>> {
        if slot == ROOT {
            return Some(CtxRef::Root(&self.root));
        }
        let task: Ref<'_, TaskRef> = self.slots.get(slot)?;
        Some(CtxRef::Task(task.clone()))
    }

    /// The local half of a wake: makes the context in `slot` runnable if `epoch` is
    /// its current wait's. A freed slot, or a stale epoch, does nothing.
    #[inline]
    pub(super) fn notify(&self, slot: u32, epoch: u32) {
        if slot == ROOT {
            self.root.notify(epoch, || self.runq.push_root());
            return;
        }
        let Some(task) = self.slots.get(slot) else {
            return;
        };
        // SAFETY: the task is in the slab, and the notify only enqueues it on the
        // Parked -> Notified transition, so it is not linked yet.
        task.ctx.notify(epoch, || unsafe { self.runq.push(&task) });
    }
}
