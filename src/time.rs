//! Sleeping, yielding and timeouts.

use std::fmt;
use std::time::{Duration, Instant};

use crate::hub::Hub;

pub(crate) use crate::hub::deadline;

/// Blocks the running greenlet (or thread) for at least `d`; other greenlets run
/// meanwhile. `sleep(Duration::ZERO)` is [`yield_now`]. A duration too large to
/// represent sleeps forever (until killed or timed out).
pub fn sleep(d: Duration) {
    if d.is_zero() {
        yield_now();
        return;
    }
    let hub = Hub::current();
    match deadline(d) {
        Some(when) => {
            // Only the deadline wakes this wait; the caller has nothing to re-check.
            hub.park_until("sleep", Some(when));
        }
        None => hub.park("sleep(forever)"),
    }
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
    let Some(when) = deadline(d) else {
        return Ok(f());
    };
    Hub::current()
        .with_deadline(when, f)
        .ok_or(Elapsed { after: d })
}
