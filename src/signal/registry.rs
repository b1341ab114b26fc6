//! The process-wide half of signal delivery: which signals are caught and by how
//! many listeners, the contexts parked waiting for each, and the reader thread that
//! turns the doorbell's bytes into wakes. See `arch/signals.md`.
//!
//! The record of what arrived is the handler's per-signal count
//! (`sigcatch::delivered`), never the doorbell's bytes: a byte only says "look". A
//! waiter registers the count it has already seen; the reader wakes every waiter whose
//! count is behind. Both look at the count under the registry lock, and the handler
//! counts before it rings, so a delivery is either seen by the waiter as it registers
//! or by the reader after it has registered: never by neither.

use std::io;
use std::os::fd::RawFd;
use std::time::Instant;

use parking_lot::Mutex;

use crate::hub::{Hub, Waker};
use crate::sys::sigcatch::{self, NSIG};

/// Everything the registry lock guards.
struct Registry {
    /// Per signal number; empty until the first catch, then `NSIG` long.
    sigs: Vec<Sig>,
    /// Live catches over all signals: the reader thread runs while this is not zero.
    catches: usize,
    /// Whether a reader thread is running (or has been started and not yet decided
    /// to exit; it decides under this lock).
    reader_running: bool,
    /// The next waiter id.
    next_id: u64,
}

/// One signal's state.
#[derive(Default)]
struct Sig {
    /// Live catches of this signal: its disposition is ours while this is not zero.
    catches: usize,
    /// The disposition ours replaced, put back when `catches` drops to zero.
    saved: Option<sigcatch::Saved>,
    /// Parked contexts, each waiting for the count to pass its `since`.
    waiters: Vec<Entry>,
}

struct Entry {
    id: u64,
    since: u64,
    waker: Waker,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    sigs: Vec::new(),
    catches: 0,
    reader_running: false,
    next_id: 0,
});

/// Keeps a signal caught (our handler installed) while it lives, and remembers the
/// delivery count from just before it began: deliveries after that are its own.
#[derive(Debug)]
pub(crate) struct Catch {
    signum: i32,
    start: u64,
}

impl Catch {
    /// Catches `signum`: installs the handler if it is the first catch, starting the
    /// doorbell and its reader thread if needed.
    ///
    /// # Errors
    /// `InvalidInput` for a signal that cannot or must not be caught (see
    /// `sigcatch::check`); the OS error if the pipe, the thread or `sigaction` fails.
    pub(crate) fn new(signum: i32) -> io::Result<Catch> {
        sigcatch::check(signum).map_err(|msg| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("greenlet::signal: {msg}"),
            )
        })?;
        // Before the handler can be installed: a delivery from here on is ours.
        let start = sigcatch::delivered(signum);
        let mut reg = REGISTRY.lock();
        let fd = sigcatch::doorbell()?;
        if !reg.reader_running {
            std::thread::Builder::new()
                .name("greenlet-signals".into())
                .stack_size(64 * 1024)
                .spawn(move || read_loop(fd))?;
            reg.reader_running = true;
        }
        if reg.sigs.is_empty() {
            reg.sigs.resize_with(NSIG, Sig::default);
        }
        let sig = &mut reg.sigs[signum as usize];
        if sig.catches == 0 {
            match sigcatch::catch(signum) {
                Ok(saved) => sig.saved = Some(saved),
                Err(e) => {
                    if reg.catches == 0 {
                        sigcatch::ring_doorbell(); // The reader may go.
                    }
                    return Err(e);
                }
            }
        }
        sig.catches += 1;
        reg.catches += 1;
        Ok(Catch { signum, start })
    }

    /// The signal.
    pub(crate) fn signum(&self) -> i32 {
        self.signum
    }

    /// The delivery count before this catch began.
    pub(crate) fn start(&self) -> u64 {
        self.start
    }
}

impl Drop for Catch {
    fn drop(&mut self) {
        let mut reg = REGISTRY.lock();
        let sig = &mut reg.sigs[self.signum as usize];
        sig.catches -= 1;
        if sig.catches == 0
            && let Some(saved) = sig.saved.take()
        {
            sigcatch::restore(self.signum, &saved);
        }
        reg.catches -= 1;
        if reg.catches == 0 {
            sigcatch::ring_doorbell(); // Nobody listens: the reader exits.
        }
    }
}

/// Parks the running context until the delivery count of one of the `watch`ed
/// signals (`(signum, since)`) passes its `since`, or until `deadline`. Returns the
/// index of the first (in `watch` order) whose count passed, or `None` at the
/// deadline. The caller holds a [`Catch`] of each signal throughout (else nothing
/// counts their deliveries).
///
/// The wait holds a `RemoteGuard`: the wake comes from the reader thread, and the
/// hub's deadlock check must count the wait as one that can still end.
pub(crate) fn wait_any(watch: &[(i32, u64)], deadline: Option<Instant>) -> Option<usize> {
    let hub = Hub::current();
    loop {
        let waker = hub.waker();
        let remote = waker.expect_remote();
        let entries = match Registered::new(watch, waker) {
            Ok(entries) => entries,
            Err(i) => return Some(i),
        };
        let timed_out = hub.park_until("signal::wait", deadline);
        drop(entries);
        drop(remote);
        if let Some(i) = passed(watch) {
            return Some(i);
        }
        if timed_out {
            return None;
        }
    }
}

/// The first watched signal whose count has passed its `since`.
pub(crate) fn passed(watch: &[(i32, u64)]) -> Option<usize> {
    watch
        .iter()
        .position(|&(signum, since)| sigcatch::delivered(signum) > since)
}

/// A waiter's entries, one in each watched signal's list (all with the same waker,
/// which wakes once), removed when dropped (by the waiter, after its wake, its
/// deadline, or while it unwinds from a kill) if the reader has not taken them.
struct Registered {
    /// `(signum, entry id)`.
    entries: Vec<(i32, u64)>,
}

impl Registered {
    /// Adds the entries; `Err(index)` (and no entry) if a count has already passed.
    fn new(watch: &[(i32, u64)], waker: Waker) -> Result<Registered, usize> {
        let mut reg = REGISTRY.lock();
        if let Some(i) = passed(watch) {
            return Err(i);
        }
        let entries = watch
            .iter()
            .map(|&(signum, since)| {
                let id = reg.next_id;
                reg.next_id += 1;
                reg.sigs[signum as usize]
                    .waiters
                    .push(Entry { id, since, waker });
                (signum, id)
            })
            .collect();
        Ok(Registered { entries })
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut reg = REGISTRY.lock();
        for &(signum, id) in &self.entries {
            let waiters = &mut reg.sigs[signum as usize].waiters;
            if let Some(i) = waiters.iter().position(|e| e.id == id) {
                waiters.swap_remove(i);
            }
        }
    }
}

/// How many contexts are registered waiting for `signum` now (a test hook).
pub(crate) fn waiters(signum: i32) -> usize {
    let reg = REGISTRY.lock();
    usize::try_from(signum)
        .ok()
        .and_then(|n| reg.sigs.get(n))
        .map_or(0, |s| s.waiters.len())
}

/// The reader thread: blocks on the doorbell, then wakes every waiter whose signal's
/// count has passed what it saw. Exits when nothing is caught any more (a later
/// catch starts a new one).
fn read_loop(fd: RawFd) {
    let mut buf = [0u8; 128];
    let mut wakes = Vec::new();
    loop {
        if let Err(e) = sigcatch::wait_doorbell(fd, &mut buf) {
            // Only a closed or broken pipe of our own gets here (someone closed an fd
            // they did not own). Every signal wait would hang: say so and stop.
            eprintln!(
                "greenlet: the signal reader cannot read its pipe ({e}); signal waits could \
                 never be woken. Aborting."
            );
            std::process::abort();
        }
        {
            let mut reg = REGISTRY.lock();
            if reg.catches == 0 {
                reg.reader_running = false;
                return;
            }
            for (n, sig) in reg.sigs.iter_mut().enumerate() {
                if sig.waiters.is_empty() {
                    continue;
                }
                let count = sigcatch::delivered(n as i32);
                sig.waiters.retain(|e| {
                    let due = e.since < count;
                    if due {
                        wakes.push(e.waker);
                    }
                    !due
                });
            }
        }
        // After the lock: a wake takes the target hub's inbox lock.
        for w in wakes.drain(..) {
            w.wake();
        }
    }
}
