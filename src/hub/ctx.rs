//! The wait state every context (a greenlet, or the thread's own stack) carries: the
//! part of the wait/wake seam a `Waker` acts on, and the interrupt a kill or a
//! timeout leaves for it. See `arch/hub.md`.

use std::cell::Cell;

/// Why a parked context was interrupted: delivered by unwinding out of `park`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interrupt {
    Kill,
    Timeout(u64),
}

/// A pending interrupt, packed into one word (0: none, 1: a kill, `id + 2`: the
/// timeout `id`) where an `Option<Interrupt>` takes two: every greenlet has one, and
/// a greenlet's memory is kept within three cache lines (see `Header`). The API is
/// `Cell<Option<Interrupt>>`'s.
pub(crate) struct InterruptCell(Cell<u64>);

impl InterruptCell {
    const NONE: u64 = 0;
    const KILL: u64 = 1;

    pub(crate) const fn new() -> Self {
        InterruptCell(Cell::new(Self::NONE))
    }

    #[inline(always)]
    pub(crate) fn is_some(&self) -> bool {
        self.0.get() != Self::NONE
    }

    #[inline]
    pub(crate) fn get(&self) -> Option<Interrupt> {
        match self.0.get() {
            Self::NONE => None,
            Self::KILL => Some(Interrupt::Kill),
            n => Some(Interrupt::Timeout(n - 2)),
        }
    }

    #[inline]
    pub(crate) fn set(&self, int: Option<Interrupt>) {
        self.0.set(match int {
            None => Self::NONE,
            Some(Interrupt::Kill) => Self::KILL,
            // Timeout ids count up from 0 (`time::next_id`) and never come near 2^64.
            Some(Interrupt::Timeout(id)) => id.checked_add(2).expect("fewer than 2^64 timeouts"),
        });
    }

    #[inline]
    pub(crate) fn take(&self) -> Option<Interrupt> {
        let int = self.get();
        self.0.set(Self::NONE);
        int
    }
}

/// The run state of one context (a greenlet or the root).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Running right now, or suspended in the run queue.
    Running,
    /// Its current waker fired before it parked: `park` returns at once.
    Notified,
    /// Parked; only a waker with the current epoch (or an interrupt) makes it runnable.
    Parked,
}

/// The wait state every context has: the part of the seam a waker acts on.
pub(crate) struct Ctx {
    /// Bumped each time a park ends, so that wakers minted for an earlier wait are
    /// stale and ignored: a wake is delivered once, to the wait it was made for.
    pub(crate) epoch: Cell<u32>,
    pub(crate) state: Cell<State>,
    pub(crate) interrupt: InterruptCell,
    /// What the context waits for, for the deadlock report.
    pub(crate) reason: Cell<&'static str>,
    /// Non-zero while the context unwinds with an interrupt's payload (the number
    /// names the delivery; the payload's `Drop` clears it). Meanwhile further
    /// interrupts stay pending: delivering one inside a destructor that blocks during
    /// that unwinding would be a panic during cleanup, which aborts the process.
    pub(crate) unwinding: Cell<u64>,
}

impl Ctx {
    pub(crate) const fn new() -> Self {
        Ctx {
            epoch: Cell::new(0),
            state: Cell::new(State::Running),
            interrupt: InterruptCell::new(),
            reason: Cell::new(""),
            unwinding: Cell::new(0),
        }
    }

    /// An interrupt is pending and may be delivered now.
    #[inline(always)]
    pub(crate) fn interrupt_due(&self) -> bool {
        self.interrupt.is_some() && self.unwinding.get() == 0
    }

    /// Records an interrupt; a kill is never replaced by a timeout, and an earlier
    /// timeout is not replaced by a later one (the one that fired first is reported).
    pub(crate) fn set_interrupt(&self, int: Interrupt) {
        match (self.interrupt.get(), int) {
            (Some(Interrupt::Kill), _) => {}
            (Some(Interrupt::Timeout(_)), Interrupt::Timeout(_)) => {}
            _ => self.interrupt.set(Some(int)),
        }
    }
}

/// Makes the context runnable if `epoch` is its current wait's, calling `enqueue`
/// if it was parked (a wake before the park only marks it notified).
#[inline]
pub(super) fn wake_ctx(ctx: &Ctx, epoch: u32, enqueue: impl FnOnce()) {
    if ctx.epoch.get() != epoch {
        return;
    }
    match ctx.state.get() {
        State::Parked => {
            ctx.state.set(State::Notified);
            enqueue();
        }
        State::Running => ctx.state.set(State::Notified),
        State::Notified => {}
    }
}
