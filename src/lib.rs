#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

// The layers, bottom to top; a module never names one above it (see `arch/README.md`,
// and `tests/layering.rs`, which checks it).
// 1. The platform.
mod sys;
// 2. Stacks.
mod overflow;
mod stack;
// 3. The hub: the wait/wake seam and everything it needs.
mod hub;
// 4. Greenlets: the task.
mod greenlet;
// 5. Blocking operations built on the seam.
mod io;
mod join;
pub mod monkey;
pub mod threadpool;
mod time;
// 6. The typed API (`sync` holds the raw wait machinery of layer 5 too).
pub mod dump;
pub mod fs;
mod hubs;
pub mod local;
pub mod monitor;
pub mod net;
pub mod os;
pub mod pool;
pub mod process;
pub mod queue;
pub mod server;
pub mod signal;
pub mod sync;

pub use crate::dump::dump;
pub use crate::greenlet::{
    Builder, Current, Greenlet, GreenletId, JoinError, current, spawn, spawn_later,
};
pub use crate::hub::{GreenletExit, HubStats};
pub use crate::hubs::{Handle, Hubs, RemoteGreenlet, RunningHubs};
pub use crate::io::{wait_readable, wait_writable};
pub use crate::join::{JoinAll, joinall, killall, wait, wait_timeout};
pub use crate::stack::DEFAULT_STACK_SIZE;
pub use crate::time::{Elapsed, sleep, sleep_until, with_timeout, yield_now};

/// Counts describing this thread's hub: live greenlets, pending timers, runnable
/// greenlets. For tests and diagnostics.
pub fn hub_stats() -> HubStats {
    hub::Hub::current().stats()
}

pub mod wake {
    //! The wait/wake seam, for building your own blocking primitives.
    //!
    //! Every blocking operation of this crate is built on it: take the running
    //! context's [`Waker`] with [`waker`], hand it to whoever will signal you, then
    //! [`park`]. `park` returns once that waker (or a later clone of it) has been woken,
    //! exactly once, or unwinds if the greenlet is killed or a `with_timeout` deadline
    //! passes. A waker woken before `park` makes `park` return at once; a waker kept
    //! after its `park` returned is stale and waking it does nothing.
    //!
    //! A `Waker` is `Send + Sync`: another thread may wake it. While that can still
    //! happen, hold a [`RemoteGuard`] from [`Waker::expect_remote`], so that the hub's
    //! deadlock check knows the wait is not hopeless.
    //!
    //! ```
    //! let w = greenlet::wake::waker();
    //! let _guard = w.expect_remote();
    //! std::thread::spawn(move || w.wake());
    //! greenlet::wake::park("a thread's signal"); // returns once the thread has woken us
    //! ```
    pub use crate::hub::{RemoteGuard, Waker};

    /// The waker for the running context's next (or current) wait.
    #[inline]
    pub fn waker() -> Waker {
        crate::hub::Hub::current().waker()
    }

    /// Blocks until the current waker is woken; `reason` appears in deadlock reports.
    #[inline]
    pub fn park(reason: &'static str) {
        crate::hub::Hub::current().park(reason);
    }
}

#[doc(hidden)]
pub mod __private {
    //! Knobs for the project's own tests. Not part of the API.
    pub use crate::stack::force_mprotect_guards;
    pub use crate::sync::raw::{
        disable_owner_mode, owner_mode_on, register_in_background, registered_at_load,
    };

    /// Whether the hub `w` belongs to is alive and polls with no deadline: nothing on it
    /// is runnable, no timer is pending, so every context on it is parked until a
    /// remote wake (or IO). Lets a test on another thread wait until a waiter is
    /// parked before it wakes it. The flag is set just before the hub's deadlock check
    /// and poll, so `true` means "about to block", not yet "blocked in the poll".
    pub fn hub_waits_for_remote(w: &crate::wake::Waker) -> bool {
        w.hub_waits_for_remote()
    }

    /// How many contexts (greenlets or threads, on any hub) are registered waiting for
    /// `signum` through `greenlet::signal`. A context registers just before it parks,
    /// so once this counts it, a signal sent will wake it. Lets a test send the signal
    /// only once the waiter is there.
    pub fn signal_waiters(signum: i32) -> usize {
        crate::signal::waiters(signum)
    }
}
