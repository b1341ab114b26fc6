//! Sleeping, yielding and timeouts.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::hub::{Hub, Interrupt, TimerAction};

/// The unwind payload of a `with_timeout` deadline; the number names which one.
/// The token ends the unwinding state when the payload is dropped.
pub(crate) struct TimeoutUnwind {
    pub(crate) id: u64,
    pub(crate) _token: Option<crate::hub::UnwindToken>,
}

/// `now + d`, or `None` when that is too far to represent ("never").
pub(crate) fn deadline(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

/// Blocks the running greenlet (or thread) for at least `d`; other greenlets run
/// meanwhile. `sleep(Duration::ZERO)` is [`yield_now`]. A duration too large to
/// represent sleeps forever (until killed or timed out).
pub fn sleep(d: Duration) {
    if d.is_zero() {
        yield_now();
        return;
    }
    let hub = Hub::current();
    let Some(when) = deadline(d) else {
        hub.park("sleep(forever)");
        return;
    };
    let key = hub.add_timer(when, TimerAction::Wake(hub.waker()));
    let guard = TimerGuard { hub, key };
    hub.park("sleep");
    // A normal return from park means the timer fired and is gone already.
    std::mem::forget(guard);
}

/// Blocks until `when` (no earlier). See [`sleep`].
pub fn sleep_until(when: Instant) {
    sleep(when.saturating_duration_since(Instant::now()));
}

/// Lets every other runnable greenlet run once, then continues: the caller goes to
/// the back of the run queue. Timers and IO are never starved by yielding greenlets.
#[inline(always)]
pub fn yield_now() {
    Hub::current().yield_now();
}

/// Removes a timer when dropped (on unwind, or when its wait ended another way).
struct TimerGuard {
    hub: &'static Hub,
    key: crate::hub::TimerKey,
}

impl Drop for TimerGuard {
    fn drop(&mut self) {
        self.hub.cancel_timer(self.key);
    }
}

/// The error of [`with_timeout`]: the deadline passed before the closure finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed {
    after: Duration,
}

impl Elapsed {
    /// The timeout that elapsed.
    pub fn duration(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "deadline has elapsed (timeout of {:?})", self.after)
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// Runs `f`, interrupting it if it is still running after `d`.
///
/// When the deadline passes, whatever blocking call `f` is in unwinds (its `Drop`s
/// run) and `with_timeout` returns `Err(Elapsed)`. CPU-bound code that never
/// blocks is interrupted at its next blocking call. Nested timeouts report the one
/// that fired: an inner one returns `Err` to its own caller, an outer one unwinds
/// through the inner `with_timeout` to its own. A timeout that did not fire leaves
/// no timer behind.
pub fn with_timeout<T>(d: Duration, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
    let hub = Hub::current();
    let Some(when) = deadline(d) else {
        return Ok(f());
    };
    let id = next_id();
    let slot = hub.current_slot();
    let key = hub.add_timer(when, TimerAction::Interrupt { slot, id });
    let guard = TimerGuard { hub, key };
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    drop(guard);
    // It may have fired after f's last blocking call: then it is pending, undelivered.
    let ctx_interrupt = match hub.current_header() {
        Some(h) => &h.ctx.interrupt,
        None => &hub.root.interrupt,
    };
    if ctx_interrupt.get() == Some(Interrupt::Timeout(id)) {
        ctx_interrupt.set(None);
    }
    match result {
        Ok(v) => Ok(v),
        Err(p) => match p.downcast_ref::<TimeoutUnwind>() {
            Some(t) if t.id == id => Err(Elapsed { after: d }),
            _ => panic::resume_unwind(p),
        },
    }
}

fn next_id() -> u64 {
    use std::cell::Cell;
    thread_local! { static NEXT: Cell<u64> = const { Cell::new(0) }; }
    NEXT.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    })
}
