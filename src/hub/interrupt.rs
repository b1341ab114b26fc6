//! Interrupts: a kill or a `with_timeout` deadline, recorded on a context and
//! delivered by unwinding out of its next (or current) park, with the payloads they
//! unwind with. See `arch/kill.md`.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::time::Instant;

use super::ctx::Ctx;
use super::timer::{TimerAction, TimerGuard};
use super::waker::Shared;
use super::{Hub, ParkState};

/// Why a parked context was interrupted: delivered by unwinding out of `park`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interrupt {
    Kill,
    /// The `with_timeout` call with this id has reached its deadline.
    Timeout(u64),
}

/// A pending interrupt, packed into one word (0: none, 1: a kill, `id + 2`: the
/// timeout `id`; the top bit: *reported*, see [`Hub::park_until_reporting`]) where an
/// `Option<Interrupt>` takes two: every greenlet has one, and a greenlet's memory is
/// kept within three cache lines (see `arch/hub.md`). The API is
/// `Cell<Option<Interrupt>>`'s.
pub(crate) struct InterruptCell(Cell<u64>);

impl InterruptCell {
    const NONE: u64 = 0;
    const KILL: u64 = 1;
    /// Set while the pending interrupt has been reported to a wait that cannot
    /// unwind (and not delivered yet). Cleared by every `set`.
    const REPORTED: u64 = 1 << 63;

    pub(crate) const fn new() -> Self {
        InterruptCell(Cell::new(Self::NONE))
    }

    #[inline(always)]
    pub(crate) fn is_some(&self) -> bool {
        self.0.get() != Self::NONE
    }

    #[inline]
    pub(crate) fn get(&self) -> Option<Interrupt> {
        match self.0.get() & !Self::REPORTED {
            Self::NONE => None,
            Self::KILL => Some(Interrupt::Kill),
            n => Some(Interrupt::Timeout(n - 2)),
        }
    }

    /// Whether the pending interrupt was reported to a wait that cannot unwind.
    fn reported(&self) -> bool {
        self.0.get() & Self::REPORTED != 0
    }

    fn mark_reported(&self) {
        if self.is_some() {
            self.0.set(self.0.get() | Self::REPORTED);
        }
    }

    #[inline]
    pub(crate) fn set(&self, int: Option<Interrupt>) {
        self.0.set(match int {
            None => Self::NONE,
            Some(Interrupt::Kill) => Self::KILL,
            // Timeout ids count up from 0 (`next_timeout_id`) and never come near 2^64.
            Some(Interrupt::Timeout(id)) => id
                .checked_add(2)
                .filter(|n| n & Self::REPORTED == 0)
                .expect("fewer than 2^63 timeouts"),
        });
    }

    #[inline]
    pub(crate) fn take(&self) -> Option<Interrupt> {
        let int = self.get();
        self.0.set(Self::NONE);
        int
    }

    /// Records an interrupt; a kill is never replaced by a timeout, and an earlier
    /// timeout is not replaced by a later one (the one that fired first is reported).
    fn record(&self, int: Interrupt) {
        match (self.get(), int) {
            (Some(Interrupt::Kill), _) => {}
            (Some(Interrupt::Timeout(_)), Interrupt::Timeout(_)) => {}
            _ => self.set(Some(int)),
        }
    }
}

/// The payload a killed greenlet unwinds with (gevent's `GreenletExit`).
///
/// Code that catches unwinds with `std::panic::catch_unwind` inside a greenlet can
/// recognise a kill with `payload.is::<GreenletExit>()`. Catching it and going on makes
/// the greenlet "undead": it keeps running, `kill` keeps waiting for it to finish, and
/// `join` reports how it really ended.
#[derive(Debug)]
pub struct GreenletExit {
    /// Dropping the payload ends the kill's unwinding (see `Ctx::unwinding`).
    _token: Option<UnwindToken>,
}

impl GreenletExit {
    /// A payload not tied to a delivered kill.
    pub(crate) fn new() -> Self {
        GreenletExit { _token: None }
    }
}

/// The payload a `with_timeout` deadline unwinds with; `id` names which call's.
pub(crate) struct TimeoutPayload {
    id: u64,
    /// Dropping the payload ends the timeout's unwinding.
    _token: UnwindToken,
}

/// Carried by an interrupt's payload: dropping the payload ends the context's
/// "unwinding from an interrupt" state, so that later interrupts are delivered
/// again (to a greenlet that caught the unwind, say). `Send`, as payloads must be;
/// dropped on another thread, or after its hub exited, it does nothing.
#[derive(Debug)]
pub(crate) struct UnwindToken {
    shared: &'static Shared,
    incarnation: u32,
    slot: u32,
    seq: u32,
}

impl Drop for UnwindToken {
    fn drop(&mut self) {
        if let Some(hub) = Hub::try_current()
            && ptr::eq(hub.shared, self.shared)
            && hub.incarnation == self.incarnation
        {
            hub.end_unwinding(self.slot, self.seq);
        }
    }
}

impl Hub {
    /// Delivers an interrupt to a context and wakes it if it is parked.
    pub(crate) fn interrupt(&self, slot: u32, int: Interrupt) {
        let Some(ctx) = self.ctx(slot) else { return };
        ctx.interrupt.record(int);
        if ctx.interrupt_due() {
            // Whatever its epoch: the interrupt ends the wait it is in.
            let epoch = ctx.epoch.get();
            drop(ctx);
            self.notify(slot, epoch);
        }
    }

    /// Ends an interrupt's unwinding: called when its payload is dropped.
    fn end_unwinding(&self, slot: u32, seq: u32) {
        if let Some(ctx) = self.ctx(slot)
            && ctx.unwinding.get() == seq
        {
            ctx.unwinding.set(0);
        }
    }

    /// Unwinds the running context with the pending interrupt's payload.
    #[cold]
    #[inline(never)]
    pub(super) fn deliver(&self, ctx: &Ctx, slot: u32) -> ! {
        debug_assert_eq!(ctx.state.get(), ParkState::Running);
        let int = ctx.interrupt.take().expect("an interrupt is due");
        let seq = next_seq();
        ctx.unwinding.set(seq);
        let token = UnwindToken {
            shared: self.shared,
            incarnation: self.incarnation,
            slot,
            seq,
        };
        match int {
            Interrupt::Kill => panic::resume_unwind(Box::new(GreenletExit {
                _token: Some(token),
            })),
            Interrupt::Timeout(id) => {
                panic::resume_unwind(Box::new(TimeoutPayload { id, _token: token }))
            }
        }
    }

    /// Runs `f`, interrupting whatever blocking call it is in once `deadline` has
    /// passed: `Some` with its value, or `None` if that deadline's interrupt unwound
    /// out of it. Any other unwind (a kill, a panic, an outer deadline) passes on. A
    /// deadline that did not fire leaves no timer behind, and one that fired after
    /// `f`'s last blocking call is dropped undelivered.
    pub(crate) fn with_deadline<T>(
        &'static self,
        deadline: Instant,
        f: impl FnOnce() -> T,
    ) -> Option<T> {
        let id = next_timeout_id();
        let slot = self.current_slot();
        let key = self.add_timer(deadline, TimerAction::Interrupt { slot, id });
        let guard = TimerGuard::new(self, key, None);
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        drop(guard);
        let interrupt = &self.current_ctx().interrupt;
        let mut reported = false;
        if interrupt.get() == Some(Interrupt::Timeout(id)) {
            reported = interrupt.reported();
            interrupt.set(None);
        }
        match result {
            // The deadline fired inside a wait that could not unwind (it failed
            // with an error instead, see `park_until_reporting`): `f` returned
            // after its deadline, and what it returned is that error's outcome.
            Ok(v) if reported => {
                drop(v);
                None
            }
            Ok(v) => Some(v),
            Err(p) => match p.downcast_ref::<TimeoutPayload>() {
                Some(t) if t.id == id => None,
                _ => panic::resume_unwind(p),
            },
        }
    }
}

impl Hub {
    /// `park_until` for a wait that must not unwind, because a C frame stands between
    /// it and the code that would catch the unwind (a hooked libc call, see
    /// `arch/monkey.md`): a kill or a `with_timeout` deadline is *returned*
    /// (`Err`) instead of delivered, and stays pending, marked reported, so that the
    /// context's next ordinary wait unwinds at once and `with_deadline` knows its
    /// deadline cut `f` short. `Ok` is `park_until`'s answer (true if the deadline
    /// passed).
    ///
    /// An interrupt already pending when this is called is reported again, after one
    /// yield, so that a caller that retries in a loop lets the hub run others.
    /// Any other unwind out of the park (the deadlock report, on the root) passes on.
    pub(crate) fn park_until_reporting(
        &'static self,
        reason: &'static str,
        deadline: Option<Instant>,
    ) -> Result<bool, Interrupt> {
        let ctx = self.current_ctx();
        if ctx.interrupt_due() {
            let held = ctx.interrupt.take().expect("an interrupt is due");
            let yielded = panic::catch_unwind(AssertUnwindSafe(|| self.yield_now()));
            let arrived = match yielded {
                Ok(()) => ctx.interrupt.take(),
                Err(p) => Some(self.rearm_payload(p)),
            };
            // A kill that came meanwhile wins; otherwise the interrupt we held.
            let int = match arrived {
                Some(Interrupt::Kill) => Interrupt::Kill,
                _ => held,
            };
            ctx.interrupt.set(Some(int));
            ctx.interrupt.mark_reported();
            return Err(int);
        }
        match panic::catch_unwind(AssertUnwindSafe(|| self.park_until(reason, deadline))) {
            Ok(fired) => Ok(fired),
            Err(p) => {
                let int = self.rearm_payload(p);
                ctx.interrupt.record(int);
                ctx.interrupt.mark_reported();
                Err(ctx.interrupt.get().unwrap_or(int))
            }
        }
    }

    /// The interrupt an unwind payload delivered (dropping the payload ends its
    /// unwinding); any other payload resumes unwinding.
    fn rearm_payload(&self, p: Box<dyn std::any::Any + Send>) -> Interrupt {
        if p.is::<GreenletExit>() {
            return Interrupt::Kill;
        }
        match p.downcast::<TimeoutPayload>() {
            Ok(t) => Interrupt::Timeout(t.id),
            Err(p) => panic::resume_unwind(p),
        }
    }
}

/// Whether an unwind payload is a `with_timeout` deadline's (one that escaped its
/// call, if a greenlet's function ends with it).
pub(crate) fn is_timeout_payload(payload: &(dyn std::any::Any + Send)) -> bool {
    payload.is::<TimeoutPayload>()
}

/// A non-zero number naming one delivery (wrapping; compared for equality only).
fn next_seq() -> u32 {
    thread_local! { static SEQ: Cell<u32> = const { Cell::new(0) }; }
    SEQ.with(|s| {
        let n = s.get().wrapping_add(1).max(1);
        s.set(n);
        n
    })
}

fn next_timeout_id() -> u64 {
    thread_local! { static NEXT: Cell<u64> = const { Cell::new(0) }; }
    NEXT.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    })
}
