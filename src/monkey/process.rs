//! `waitpid` and `wait4`. For one child, its pidfd becomes readable when it exits,
//! and the hub waits on that; for "any child" (or stop/continue events, which a
//! pidfd does not signal) the hook asks with `WNOHANG` on a short backoff timer.
//! Either way the status is taken by the caller's own `WNOHANG` call, never by
//! another thread, so a kill or a deadline (`ECANCELED`, `ETIMEDOUT`) loses nothing.

use std::time::{Duration, Instant};

use super::wait::{self, Stop};
use super::{active, count_park, interrupt_errno};
use crate::hub::{Direction, Hub};
use crate::sys::monkey::c::{EBADF, WCONTINUED, WNOHANG, WUNTRACED, c_int, pid_t, rusage};
use crate::sys::monkey::{self as sys, real};

/// Waits for `poll()` (a `WNOHANG` call) to return non-zero.
fn green_wait(hub: &'static Hub, pid: pid_t, options: c_int, poll: impl Fn() -> pid_t) -> pid_t {
    let pidfd = if pid > 0 && options & (WUNTRACED | WCONTINUED) == 0 {
        sys::pidfd_open(pid)
    } else {
        -1
    };
    let mut backoff = Duration::from_millis(1);
    let r = loop {
        let r = poll();
        if r != 0 {
            break r;
        }
        let stop = if pidfd >= 0 {
            wait::wait_fd(hub, pidfd, Direction::Read, None, "waitpid (monkey)").err()
        } else {
            count_park();
            let until = Instant::now().checked_add(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(50));
            hub.park_until_reporting("waitpid (monkey)", until)
                .err()
                .map(Stop::Interrupted)
        };
        match stop {
            None | Some(Stop::NotPollable) => {}
            Some(Stop::Closed) => {
                sys::set_errno(EBADF);
                break -1;
            }
            Some(Stop::Interrupted(int)) => {
                sys::set_errno(interrupt_errno(int));
                break -1;
            }
        }
    };
    if pidfd >= 0 {
        let e = sys::errno();
        wait::forget(Some(hub), pidfd);
        // SAFETY: our own pidfd, closed once.
        unsafe { real::close(pidfd) };
        sys::set_errno(e);
    }
    r
}

/// `waitpid(2)`, green.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn waitpid(pid: pid_t, status: *mut c_int, options: c_int) -> pid_t {
    let Some(hub) = active().filter(|_| options & WNOHANG == 0) else {
        // SAFETY: the caller's contract.
        return unsafe { real::waitpid(pid, status, options) };
    };
    // SAFETY: the caller's contract.
    green_wait(hub, pid, options, || unsafe {
        real::waitpid(pid, status, options | WNOHANG)
    })
}

/// `wait4(2)`, green.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn wait4(
    pid: pid_t,
    status: *mut c_int,
    options: c_int,
    usage: *mut rusage,
) -> pid_t {
    let Some(hub) = active().filter(|_| options & WNOHANG == 0) else {
        // SAFETY: the caller's contract.
        return unsafe { real::wait4(pid, status, options, usage) };
    };
    // SAFETY: the caller's contract.
    green_wait(hub, pid, options, || unsafe {
        real::wait4(pid, status, options | WNOHANG, usage)
    })
}
