//! Waiting for many greenlets: `joinall`, `JoinAll`, `killall`, and `wait()` for an
//! idle hub.

use std::time::{Duration, Instant};

use crate::greenlet::{Greenlet, JoinError};
use crate::hub::Hub;

/// Waits for every greenlet and returns their results in input order.
///
/// The greenlets run concurrently, so the wait is as long as the slowest one.
/// Passing the same greenlet twice is impossible (handles are not `Clone`); for
/// gevent's `joinall(timeout, count, raise_error)` see [`JoinAll`].
pub fn joinall<T: 'static>(
    greenlets: impl IntoIterator<Item = Greenlet<T>>,
) -> Vec<Result<T, JoinError>> {
    greenlets.into_iter().map(Greenlet::join).collect()
}

/// Kills every greenlet at once, then waits until all have finished unwinding.
pub fn killall<T: 'static>(greenlets: &[Greenlet<T>]) {
    for g in greenlets {
        g.kill_nowait();
    }
    for g in greenlets {
        g.wait();
    }
}

/// gevent's `joinall(greenlets, timeout, count, raise_error)`, as a builder.
///
/// ```
/// use std::time::Duration;
/// let gs: Vec<_> = (0..3u64)
///     .map(|i| greenlet::spawn(move || greenlet::sleep(Duration::from_millis(10 * i))))
///     .collect();
/// let done = greenlet::JoinAll::new().count(1).wait(&gs).unwrap();
/// assert_eq!(done, vec![0]); // the first to finish; the others keep running
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct JoinAll {
    timeout: Option<Duration>,
    count: Option<usize>,
    raise_error: bool,
}

impl JoinAll {
    /// Wait for all, with no timeout, not stopping at errors.
    pub fn new() -> JoinAll {
        JoinAll::default()
    }

    /// Return after at most `d`, whatever has finished by then.
    pub fn timeout(mut self, d: Duration) -> JoinAll {
        self.timeout = Some(d);
        self
    }

    /// Return once `n` greenlets have finished.
    pub fn count(mut self, n: usize) -> JoinAll {
        self.count = Some(n);
        self
    }

    /// Return `Err(index)` as soon as one greenlet has failed (panicked or was
    /// killed): the one that failed first in time.
    pub fn raise_error(mut self, yes: bool) -> JoinAll {
        self.raise_error = yes;
        self
    }

    /// Waits as configured. Returns the indices of the greenlets that have finished,
    /// in the order they finished; none of them is disturbed or consumed, so
    /// `join` them to take their results.
    ///
    /// # Errors
    /// With `raise_error(true)`, the index of the first greenlet that failed.
    pub fn wait<T: 'static>(&self, greenlets: &[Greenlet<T>]) -> Result<Vec<usize>, usize> {
        let hub = Hub::current();
        let deadline = self.timeout.and_then(crate::time::deadline);
        let want = self.count.unwrap_or(greenlets.len()).min(greenlets.len());
        loop {
            let mut done: Vec<usize> = (0..greenlets.len())
                .filter(|&i| greenlets[i].is_finished())
                .collect();
            done.sort_by_key(|&i| greenlets[i].header().finish_order());
            if self.raise_error
                && let Some(&i) = done.iter().find(|&&i| greenlets[i].failed())
            {
                return Err(i);
            }
            if done.len() >= want || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(done);
            }
            let w = hub.waker();
            let joiners: Vec<_> = greenlets
                .iter()
                .filter(|g| !g.is_finished())
                .map(|g| g.header().add_joiner(w))
                .collect();
            hub.park_until("JoinAll::wait", deadline);
            drop(joiners);
        }
    }
}

/// Runs the hub until it has nothing left to do: no greenlet runnable or sleeping,
/// no timer, no IO (gevent's `wait()` with no arguments). Greenlets parked on
/// something nobody will ever set are left parked.
///
/// # Panics
/// Inside a greenlet: only the thread's own stack can wait for the whole hub.
pub fn wait() {
    Hub::current().run_idle(None);
}

/// As [`wait`], giving up after `timeout`; returns whether the hub went idle.
pub fn wait_timeout(timeout: Duration) -> bool {
    Hub::current().run_idle(crate::time::deadline(timeout))
}
