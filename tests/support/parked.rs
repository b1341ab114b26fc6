//! Waiting, on another OS thread, until everything on a hub is parked, so that a
//! cross-thread wake is known to find its waiter parked and the hub blocked in its
//! poll. Tests must not order such a wake with a sleep: a sleep makes the "woken
//! while parked" path likely, this makes it certain.

use std::time::{Duration, Instant};

use greenlet::wake::Waker;

/// How long a thread waits for a hub to park before the test calls it broken
/// (stretched by `slowdown()`).
pub const PARK_TIMEOUT: Duration = Duration::from_secs(10);

/// A hub as seen from other threads. Made on the hub's thread; `Copy + Send`.
#[derive(Clone, Copy, Debug)]
pub struct HubProbe {
    /// Any waker of the hub: the hook reads hub-wide state through it.
    waker: Waker,
    /// The hub thread's kernel thread id (Linux), to see it asleep in its poll.
    tid: i32,
}

impl HubProbe {
    /// The calling thread's hub (created if it has none yet).
    pub fn here() -> HubProbe {
        HubProbe {
            waker: greenlet::wake::waker(),
            tid: current_tid(),
        }
    }

    /// Whether every context on the hub is parked and the hub is blocked with no
    /// deadline. Two observations: the hub polls with no deadline
    /// (`__private::hub_waits_for_remote`: nothing runnable, no timer), and, on Linux,
    /// its thread is asleep in `epoll_wait` (`/proc/self/task/TID/syscall`), which it
    /// enters only after its deadlock check found the wait not hopeless.
    pub fn parked(&self) -> bool {
        greenlet::__private::hub_waits_for_remote(&self.waker) && asleep_in_poll(self.tid)
    }

    /// Waits until [`parked`](Self::parked); `Err` with a message if that takes
    /// longer than [`PARK_TIMEOUT`].
    pub fn wait_parked(&self) -> Result<(), String> {
        let start = Instant::now();
        let timeout = super::late(PARK_TIMEOUT);
        let mut spins = 0u32;
        while !self.parked() {
            if start.elapsed() > timeout {
                return Err(format!(
                    "the hub never parked: after {timeout:?} it still had something \
                     to run, a timer, or was not asleep in its poll"
                ));
            }
            spins += 1;
            if spins < 1000 {
                std::thread::yield_now();
            } else {
                // A polling interval, not an ordering: the exit condition is the state.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(())
    }

    /// Runs `wake` once the hub is parked and returns its result. If the hub does not
    /// park in time, runs `wake` anyway, so that the waiter does not hang the test, and
    /// then panics with the reason (the waiter's thread sees it on `join`).
    #[track_caller]
    pub fn wake_once_parked<R>(&self, wake: impl FnOnce() -> R) -> R {
        let parked = self.wait_parked();
        let r = wake();
        if let Err(e) = parked {
            panic!("{e}");
        }
        r
    }
}

#[cfg(target_os = "linux")]
fn current_tid() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

#[cfg(not(target_os = "linux"))]
fn current_tid() -> i32 {
    0
}

/// Whether thread `tid` of this process sleeps in an epoll wait. `/proc` names the
/// syscall only while the thread is blocked in it ("running" otherwise). Where the
/// file cannot be read, this cannot tell and says yes: the hook alone decides.
#[cfg(target_os = "linux")]
fn asleep_in_poll(tid: i32) -> bool {
    let Ok(s) = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")) else {
        return true;
    };
    let Some(Ok(nr)) = s.split_whitespace().next().map(str::parse::<libc::c_long>) else {
        return false; // "running"
    };
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    if nr == libc::SYS_epoll_wait {
        return true;
    }
    nr == libc::SYS_epoll_pwait || nr == libc::SYS_epoll_pwait2
}

#[cfg(not(target_os = "linux"))]
fn asleep_in_poll(_tid: i32) -> bool {
    true
}
