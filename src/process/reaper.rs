//! The reaper: reaps the children whose `Child` was dropped before they were, so that
//! none is left a zombie.
//!
//! One OS thread for the process, named `greenlet-reaper`, started when the first
//! orphan arrives and gone when it has reaped all it was given (so a program that
//! waits for its children never has it). Its root takes orphans (their pidfds) off a
//! queue and spawns a greenlet for each, which parks on the pidfd in the thread's
//! own reactor and reaps the child through it (`waitid(P_PIDFD)`: exactly that
//! process, never another child of ours). Each greenlet reports back on the same
//! queue, so the root knows when none is left.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::Mutex;

use crate::greenlet::Builder;
use crate::queue::Queue;
use crate::sys;

enum Msg {
    /// The pidfd of a child nobody will wait for.
    Orphan(OwnedFd),
    /// A reaping greenlet has finished.
    Reaped,
}

struct Reaper {
    queue: Queue<Msg>,
    /// Whether the thread runs. Taken by `adopt` around its put and by the thread
    /// around its decision to exit, so that an orphan is never queued with no
    /// thread to take it.
    running: Mutex<bool>,
}

static REAPER: OnceLock<Reaper> = OnceLock::new();

/// Hands the child behind `pidfd` (an unreaped child of ours whose handle is gone)
/// to the reaper. Never blocks.
pub(super) fn adopt(pidfd: OwnedFd) {
    let r = REAPER.get_or_init(|| Reaper {
        queue: Queue::new(),
        running: Mutex::new(false),
    });
    let mut running = r.running.lock();
    // An unbounded queue that is never closed takes every put at once.
    let _ = r.queue.put(Msg::Orphan(pidfd));
    if !*running {
        let started = std::thread::Builder::new()
            .name("greenlet-reaper".into())
            .spawn(move || run(r));
        match started {
            Ok(_) => *running = true,
            // The orphan stays queued for the next `adopt` to retry; until then it
            // would be a zombie once it exits, as with std.
            Err(e) => eprintln!("greenlet::process: cannot start the reaper thread: {e}"),
        }
    }
}

fn run(r: &'static Reaper) {
    let mut live = 0usize;
    loop {
        match r.queue.get() {
            Ok(Msg::Orphan(pidfd)) => {
                let spawned = Builder::new().name("reaper").spawn(move || {
                    reap(&pidfd);
                    let _ = r.queue.put(Msg::Reaped);
                });
                match spawned {
                    Ok(_) => live += 1,
                    Err(e) => eprintln!(
                        "greenlet::process: cannot reap a child (no greenlet: {e}); it is left \
                         a zombie once it exits, as with std"
                    ),
                }
            }
            Ok(Msg::Reaped) => live -= 1,
            Err(_) => return, // Never closed.
        }
        if live == 0 {
            let mut running = r.running.lock();
            if r.queue.is_empty() {
                *running = false;
                return;
            }
        }
    }
}

/// Waits for the child's exit on its pidfd and reaps it.
fn reap(pidfd: &OwnedFd) {
    let mut woken = false;
    loop {
        match sys::process::reap_pidfd(pidfd.as_fd()) {
            // Reaped; or not ours to reap any more (`SIGCHLD` ignored, say).
            Ok(true) | Err(_) => return,
            Ok(false) => {}
        }
        if woken {
            // Readable and not reapable is not expected (the kernel sets the exit
            // state before it wakes pidfd pollers); should it happen, this pause
            // keeps the loop from spinning.
            crate::time::sleep(Duration::from_millis(1));
        }
        match crate::io::wait_readable(pidfd.as_raw_fd(), None) {
            Ok(()) => woken = true,
            Err(e) => report_and_pause(&e),
        }
    }
}

#[cold]
fn report_and_pause(e: &io::Error) {
    eprintln!("greenlet::process: the reaper cannot wait on a pidfd: {e}; retrying");
    crate::time::sleep(Duration::from_millis(100));
}
