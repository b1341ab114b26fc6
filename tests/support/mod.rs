//! Helpers shared by the core behaviour tests: an order log, drop counters, a
//! "not early, not absurdly late" timing check, the run's slowdown factor, child
//! processes (`child`), waiting from another thread until a hub is parked
//! (`parked`), and what `/proc` says about a process (`procs`).

#![allow(dead_code)]

pub mod child;
pub mod parked;
pub mod procs;
pub mod watchdog;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How late a timed operation may be before the test calls it broken, natively (see
/// [`slack`]). Generous: the machine is shared and noisy; the lower bound is the
/// strict one.
pub const SLACK: Duration = Duration::from_millis(500);

/// How many times slower than native this run may be: `GREENLET_TEST_SLOWDOWN`, 1 if
/// unset. `.ci/valgrind` sets it, since memcheck runs code tens of times slower (and
/// translates it the first time it runs). It stretches upper bounds only (how late a
/// wake-up may come, how long a child may take: see [`late`]), never lower bounds:
/// no slowdown makes waking early right.
pub fn slowdown() -> u32 {
    static FACTOR: OnceLock<u32> = OnceLock::new();
    *FACTOR.get_or_init(|| match std::env::var("GREENLET_TEST_SLOWDOWN") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|&n| n >= 1)
            .unwrap_or_else(|| panic!("GREENLET_TEST_SLOWDOWN={v:?}: want a whole number >= 1")),
        Err(_) => 1,
    })
}

/// An upper bound on how long something may take, stretched by [`slowdown`].
pub fn late(bound: Duration) -> Duration {
    bound * slowdown()
}

/// [`SLACK`], stretched by [`slowdown`].
pub fn slack() -> Duration {
    late(SLACK)
}

/// A long time: anything that waits this long in a test is a failure.
pub const FOREVER: Duration = Duration::from_secs(60);

/// An order log shared by the greenlets of one hub.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn new() -> Log {
        Log::default()
    }

    pub fn push(&self, event: impl Into<String>) {
        self.0.borrow_mut().push(event.into());
    }

    /// A copy of the events so far.
    pub fn get(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    /// Logs `event` when the returned guard is dropped (normally or by unwinding).
    pub fn on_drop(&self, event: &str) -> LogOnDrop {
        LogOnDrop {
            log: self.clone(),
            event: event.to_string(),
        }
    }
}

/// Pushes its event into a [`Log`] when dropped.
pub struct LogOnDrop {
    log: Log,
    event: String,
}

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        self.log.push(std::mem::take(&mut self.event));
    }
}

/// Counts how many times its guards were dropped.
#[derive(Clone, Default)]
pub struct Drops(Rc<Cell<usize>>);

impl Drops {
    pub fn new() -> Drops {
        Drops::default()
    }

    pub fn guard(&self) -> DropGuard {
        DropGuard(self.0.clone())
    }

    pub fn count(&self) -> usize {
        self.0.get()
    }
}

/// Adds one to its [`Drops`] when dropped.
pub struct DropGuard(Rc<Cell<usize>>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Asserts that at least `min` and less than `min + slack()` passed since `start`.
#[track_caller]
pub fn assert_took(start: Instant, min: Duration) -> Duration {
    let took = start.elapsed();
    assert!(
        took >= min,
        "returned early: took {took:?}, must take at least {min:?}"
    );
    assert!(
        took < min + slack(),
        "absurdly late: took {took:?}, expected about {min:?}"
    );
    took
}

/// Asserts that less than `slack()` passed since `start` (the call did not wait for a
/// long timer it should have cut short).
#[track_caller]
pub fn assert_prompt(start: Instant) {
    let took = start.elapsed();
    assert!(took < slack(), "took {took:?}, expected to return promptly");
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
