//! Signals as greenlet events (gevent's `gevent.signal_handler`).
//!
//! The process's real handler does only async-signal-safe work: it counts the
//! delivery and writes a byte to a pipe. A thread of the crate reads the pipe and
//! wakes the greenlets (or threads) waiting for that signal, on every hub. So the
//! code that reacts to a signal is ordinary greenlet code: it may lock, allocate,
//! log and block.
//!
//! - [`wait`] parks until the signal arrives; [`wait_timeout`] gives up after a
//!   while.
//! - [`handler`] runs a function in a new greenlet on the calling thread's hub,
//!   once per delivery, until the returned [`SignalHandler`] is dropped.
//! - [`listen`] gives a [`Listener`], which sees every delivery from its creation on,
//!   including those that arrive while nobody is waiting on it: for loops that wait
//!   for the same signal again and again. [`listen_any`] listens for several signals
//!   at once and says which one came.
//!
//! ```
//! use greenlet::signal::{self, SIGUSR1};
//!
//! let mut usr1 = signal::listen(SIGUSR1).unwrap();
//! // SAFETY: raise has no preconditions; SIGUSR1 is caught by `usr1` now.
//! unsafe { libc::raise(SIGUSR1) };
//! usr1.recv(); // the delivery came after `listen`, so it is this listener's
//! ```
//!
//! # Semantics
//!
//! - **Every waiter wakes.** A delivery wakes every [`wait`] and [`Listener`] of that
//!   signal on every hub, and runs every [`handler`] of it once.
//! - **A wait sees deliveries after it began**, as in gevent: a signal that arrived
//!   before [`wait`] was called does not end it. A [`Listener`] counts from
//!   [`listen`]; each [`Listener::recv`] takes one delivery.
//! - **A delivery** is one run of the process's handler. The kernel merges a standard
//!   signal sent again while the first is still pending into one delivery; real-time
//!   signals (`sigrtmin()..=sigrtmax()`) queue, one delivery per send.
//! - **The disposition.** While anything waits, listens or handles a signal, the
//!   crate's handler is its disposition. When the last of them goes, the disposition
//!   that was there before (the default action, ignore, or another handler) is put
//!   back, unless someone replaced the crate's handler meanwhile. So between two
//!   [`wait`] calls a signal gets its old disposition (for SIGTERM, the end of the
//!   process); keep a [`Listener`] or a [`SignalHandler`] to cover the gaps.
//! - **Not a deadlock.** A signal wait can always still end: the hub's deadlock check
//!   counts it as a live wake source, so a thread whose only wait is for a signal
//!   blocks until it comes instead of reporting a deadlock (gevent's false
//!   `LoopExit`). For the same reason a hub with a [`SignalHandler`] is never idle:
//!   [`crate::wait`] does not return while it lives.
//! - **Refused signals.** SIGKILL and SIGSTOP cannot be caught; SIGSEGV and SIGBUS
//!   belong to the stack-overflow detection; SIGILL and SIGFPE are synchronous faults
//!   a returning handler would re-run forever; 32 and 33 belong to the C library.
//!   [`listen`] and [`handler`] return `InvalidInput` for them, [`wait`] panics.
//! - A signal blocked (`pthread_sigmask`) in every thread is never delivered: it stays
//!   pending and no waiter wakes.
//!
//! How it is built: `arch/signals.md`.

use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::Duration;

mod registry;

use registry::Catch;

use crate::greenlet::{Builder, Greenlet};
use crate::sys::sigcatch;

pub use crate::sys::sigcatch::{
    SIGALRM, SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGTSTP, SIGUSR1,
    SIGUSR2, SIGWINCH,
};

/// The first real-time signal applications may use (`SIGRTMIN`; the C library keeps
/// the ones below it).
pub fn sigrtmin() -> i32 {
    sigcatch::sigrtmin()
}

/// The last real-time signal (`SIGRTMAX`).
pub fn sigrtmax() -> i32 {
    sigcatch::sigrtmax()
}

/// Parks the running greenlet (or thread) until the process receives `signum`; other
/// greenlets run meanwhile. Only deliveries after the call began count.
///
/// # Panics
/// If `signum` cannot be caught (see the module's "Refused signals"), or if the
/// crate's signal reader cannot be set up; [`listen`] is the form that returns the
/// error.
pub fn wait(signum: i32) {
    wait_inner(signum, None);
}

/// As [`wait`], giving up after `timeout`: returns whether the signal came.
///
/// # Panics
/// As [`wait`].
pub fn wait_timeout(signum: i32, timeout: Duration) -> bool {
    wait_inner(signum, Some(timeout))
}

fn wait_inner(signum: i32, timeout: Option<Duration>) -> bool {
    let mut l = listen(signum).unwrap_or_else(|e| panic!("{e}"));
    match timeout {
        None => {
            l.recv();
            true
        }
        Some(t) => l.recv_timeout(t).is_some(),
    }
}

/// Starts listening for `signum`: the returned [`Listener`] sees every delivery from
/// now on, one [`recv`](Listener::recv) each, even those that arrive while nobody is
/// waiting on it. The signal stays caught while the listener lives.
///
/// # Errors
/// `InvalidInput` for a signal that cannot be caught (see the module's "Refused
/// signals"); the OS error if the pipe, the reader thread or `sigaction` fails.
pub fn listen(signum: i32) -> io::Result<Listener> {
    listen_any(&[signum])
}

/// As [`listen`], for several signals at once: [`Listener::recv`] takes a delivery
/// of any of them and says which (Go's `signal.Notify(c, sigs...)`). So
/// `listen_any(&[SIGTERM, SIGINT])?.recv()` waits for the first of the two.
/// Repeated signals count once.
///
/// # Errors
/// As [`listen`], for the first signal that fails; `InvalidInput` for an empty list.
pub fn listen_any(signums: &[i32]) -> io::Result<Listener> {
    if signums.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "greenlet::signal: listen_any needs at least one signal",
        ));
    }
    let mut watched: Vec<Watched> = Vec::with_capacity(signums.len());
    for &signum in signums {
        if watched.iter().all(|w| w.catch.signum() != signum) {
            let catch = Catch::new(signum)?;
            let seen = catch.start();
            watched.push(Watched { catch, seen });
        }
    }
    Ok(Listener { watched })
}

/// The deliveries of one or more signals since [`listen`] (or [`listen_any`]), taken
/// one at a time. `Send`: it may be moved to another thread and waited on from any
/// hub.
#[derive(Debug)]
pub struct Listener {
    watched: Vec<Watched>,
}

#[derive(Debug)]
struct Watched {
    /// Keeps the signal caught.
    catch: Catch,
    /// Deliveries taken so far, as a count of the signal's deliveries.
    seen: u64,
}

impl Listener {
    /// The signals listened for.
    pub fn signals(&self) -> impl Iterator<Item = i32> + '_ {
        self.watched.iter().map(|w| w.catch.signum())
    }

    /// Takes one delivery, parking until there is one; returns its signal. With
    /// several signals pending, the first in the listener's order goes first.
    pub fn recv(&mut self) -> i32 {
        self.take(registry::wait_any(&self.watch(), None))
            .expect("a signal wait with no deadline ends only with a delivery")
    }

    /// Takes one delivery, parking for at most `timeout`; returns its signal, or
    /// `None` if none came.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = crate::time::deadline(timeout);
        self.take(registry::wait_any(&self.watch(), deadline))
    }

    /// Takes one delivery if there is one, without parking.
    pub fn try_recv(&mut self) -> Option<i32> {
        self.take(registry::passed(&self.watch()))
    }

    fn watch(&self) -> Vec<(i32, u64)> {
        self.watched
            .iter()
            .map(|w| (w.catch.signum(), w.seen))
            .collect()
    }

    fn take(&mut self, i: Option<usize>) -> Option<i32> {
        let w = &mut self.watched[i?];
        w.seen += 1;
        Some(w.catch.signum())
    }
}

/// Runs `f` in a new greenlet on the calling thread's hub each time the process
/// receives `signum`, until the returned guard is dropped. `f` may block (it runs in
/// a greenlet, not in the async-signal context); a delivery that comes while an
/// earlier run is still going gets its own greenlet. A panic in `f` is reported like
/// any greenlet's and the handler goes on. Deliveries after this call count.
///
/// gevent's `gevent.signal_handler(signum, f)`.
///
/// # Errors
/// As [`listen`]; or the error of spawning the handler's greenlet.
pub fn handler(signum: i32, f: impl Fn() + 'static) -> io::Result<SignalHandler> {
    let catch = Catch::new(signum)?;
    let mut seen = catch.start();
    let f = Rc::new(f);
    let name = sigcatch::name(signum);
    let looper = Builder::new()
        .name(format!("{name} handler loop"))
        .spawn(move || {
            loop {
                let count = sigcatch::delivered(signum);
                while seen < count {
                    seen += 1;
                    let f = f.clone();
                    // Named, so that a panic in `f` is reported with its signal.
                    Builder::new()
                        .name(format!("{name} handler"))
                        .spawn(move || f())
                        .unwrap_or_else(|e| panic!("greenlet: {name} handler: {e}"));
                }
                registry::wait_any(&[(signum, seen)], None);
            }
        })?;
    Ok(SignalHandler { looper, catch })
}

/// A handler installed by [`handler`]. Dropping it (or [`cancel`](Self::cancel))
/// stops it: no run starts after that (runs already started go on), and the signal's
/// previous disposition is back if nothing else waits for the signal. Lives on the
/// thread that installed it (`!Send`).
pub struct SignalHandler {
    /// The greenlet that waits for deliveries and spawns a run for each.
    looper: Greenlet<()>,
    /// Keeps the signal caught; dropped after the looper is killed.
    catch: Catch,
}

impl SignalHandler {
    /// The signal handled.
    pub fn signum(&self) -> i32 {
        self.catch.signum()
    }

    /// Stops the handler (the same as dropping it; gevent's `cancel()`).
    pub fn cancel(self) {}
}

impl Drop for SignalHandler {
    fn drop(&mut self) {
        // Unwinds the looper at its next run: it spawns nothing more. Its wait entry
        // goes as it unwinds; the catch (the disposition) goes right after this.
        self.looper.kill_nowait();
    }
}

impl fmt::Debug for SignalHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalHandler")
            .field("signal", &sigcatch::name(self.signum()))
            .finish()
    }
}

/// How many contexts are parked waiting for `signum` now (the `__private` test hook).
pub(crate) fn waiters(signum: i32) -> usize {
    registry::waiters(signum)
}
