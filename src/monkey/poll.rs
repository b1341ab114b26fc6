//! `poll`, `ppoll` and `select`, over any number of fds. The answer always comes
//! from the real call with a zero timeout, so `revents` (or the fd sets) are
//! exactly the kernel's; the hook only waits, on the hub, until one of the fds may
//! be ready or the timeout passes.

use std::time::{Duration, Instant};

use super::wait::{self, Stop};
use super::{active, interrupt_errno};
use crate::hub::{Direction, Hub};
use crate::sys::monkey::c::{
    FD_SETSIZE, POLLIN, POLLOUT, POLLPRI, POLLRDHUP, c_int, fd_set, nfds_t, pollfd, sigset_t,
    timespec, timeval,
};
use crate::sys::monkey::{self as sys, real};

/// The directions to wait in for a pollfd's `events`.
fn directions(fd: c_int, events: i16, out: &mut Vec<(c_int, Direction)>) {
    if fd < 0 {
        return;
    }
    if events & POLLOUT != 0 {
        out.push((fd, Direction::Write));
    }
    // Errors and hang-ups are reported whatever was asked: wait to read for those.
    if events & (POLLIN | POLLPRI | POLLRDHUP) != 0 || events & POLLOUT == 0 {
        out.push((fd, Direction::Read));
    }
}

/// Waits until `check` (a zero-timeout real call) reports something, or `deadline`.
/// `check` returns the call's result; 0 means nothing ready. On the deadline the
/// last check's 0 is the answer.
fn wait_loop(
    hub: &'static Hub,
    fds: &[(c_int, Direction)],
    deadline: Option<Instant>,
    reason: &'static str,
    mut check: impl FnMut() -> c_int,
) -> c_int {
    loop {
        let r = check();
        if r != 0 || deadline.is_some_and(|d| Instant::now() >= d) {
            return r;
        }
        let stop = if fds.is_empty() {
            // Nothing to wait on: a plain timed sleep (poll with no fds, say).
            super::count_park();
            hub.park_until_reporting(reason, deadline)
                .err()
                .map(Stop::Interrupted)
        } else {
            wait::wait_fds(hub, fds, deadline, reason).err()
        };
        match stop {
            None | Some(Stop::Closed) => {}
            Some(Stop::Interrupted(int)) => {
                sys::set_errno(interrupt_errno(int));
                return -1;
            }
            // Every fd is of a kind epoll refuses: the real call never waits on those.
            Some(Stop::NotPollable) => return check(),
        }
    }
}

fn deadline_ms(timeout: c_int) -> Option<Instant> {
    (timeout >= 0)
        .then(|| Instant::now().checked_add(Duration::from_millis(timeout as u64)))
        .flatten()
}

/// `poll(2)`, green.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn poll(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int {
    let Some(hub) = active().filter(|_| timeout != 0) else {
        // SAFETY: the caller's contract.
        return unsafe { real::poll(fds, n, timeout) };
    };
    // SAFETY: the caller's contract.
    unsafe { green_poll(hub, fds, n, deadline_ms(timeout)) }
}

/// # Safety
///
/// `fds` points to `n` pollfds.
unsafe fn green_poll(
    hub: &'static Hub,
    fds: *mut pollfd,
    n: nfds_t,
    deadline: Option<Instant>,
) -> c_int {
    // SAFETY: the caller's contract, each time.
    let check = || unsafe { real::poll(fds, n, 0) };
    let first = check();
    if first != 0 {
        return first;
    }
    let mut dirs = Vec::new();
    for i in 0..n as usize {
        // SAFETY: `i < n`, within the caller's array.
        let p = unsafe { *fds.add(i) };
        directions(p.fd, p.events, &mut dirs);
    }
    wait_loop(hub, &dirs, deadline, "poll (monkey)", check)
}

/// `ppoll(2)`, green when no signal mask is given (one cannot be applied to a wait
/// on the hub atomically; with a mask the real call waits).
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn ppoll(
    fds: *mut pollfd,
    n: nfds_t,
    timeout: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    // SAFETY: a non-null timeout is valid (the caller's contract).
    let t = unsafe { timeout.as_ref() }.copied();
    let zero = t.is_some_and(|t| t.tv_sec == 0 && t.tv_nsec == 0);
    let valid = t.is_none_or(|t| t.tv_sec >= 0 && (0..1_000_000_000).contains(&t.tv_nsec));
    let Some(hub) = active().filter(|_| mask.is_null() && !zero && valid) else {
        // SAFETY: the caller's contract.
        return unsafe { real::ppoll(fds, n, timeout, mask) };
    };
    let deadline = t
        .and_then(|t| Instant::now().checked_add(Duration::new(t.tv_sec as u64, t.tv_nsec as u32)));
    // SAFETY: the caller's contract.
    unsafe { green_poll(hub, fds, n, deadline) }
}

/// `select(2)`, green; the timeout left is written back, as Linux does.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn select(
    nfds: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    timeout: *mut timeval,
) -> c_int {
    // SAFETY: a non-null timeout is valid (the caller's contract).
    let t = unsafe { timeout.as_ref() }.copied();
    let zero = t.is_some_and(|t| t.tv_sec == 0 && t.tv_usec == 0);
    let valid = t.is_none_or(|t| t.tv_sec >= 0 && (0..1_000_000).contains(&t.tv_usec));
    let sane = (0..=FD_SETSIZE as c_int).contains(&nfds);
    let Some(hub) = active().filter(|_| !zero && valid && sane) else {
        // SAFETY: the caller's contract.
        return unsafe { real::select(nfds, r, w, e, timeout) };
    };
    let deadline = t.and_then(|t| {
        Instant::now().checked_add(Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000))
    });
    // SAFETY: non-null sets are valid (the caller's contract); copied by value.
    let (r0, w0, e0) = unsafe {
        (
            r.as_ref().copied(),
            w.as_ref().copied(),
            e.as_ref().copied(),
        )
    };
    let mut dirs = Vec::new();
    for fd in 0..nfds {
        let is = |s: &Option<fd_set>| s.as_ref().is_some_and(|s| sys::fd_isset(fd, s));
        if is(&r0) || is(&e0) {
            dirs.push((fd, Direction::Read));
        }
        if is(&w0) {
            dirs.push((fd, Direction::Write));
        }
    }
    let check = || {
        let (mut r1, mut w1, mut e1) = (r0, w0, e0);
        let mut zero = timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        let p = |s: &mut Option<fd_set>| s.as_mut().map_or(std::ptr::null_mut(), |s| s as *mut _);
        // SAFETY: copies of the caller's sets, and a zero timeout.
        let n = unsafe { real::select(nfds, p(&mut r1), p(&mut w1), p(&mut e1), &mut zero) };
        if n != 0 {
            // SAFETY: the caller's sets are valid where non-null.
            unsafe {
                for (dst, src) in [(r, r1), (w, w1), (e, e1)] {
                    if let (Some(d), Some(s)) = (dst.as_mut(), src) {
                        *d = s;
                    }
                }
            }
        }
        n
    };
    let n = wait_loop(hub, &dirs, deadline, "select (monkey)", check);
    if n == 0 {
        // The timeout passed: every set comes back empty.
        // SAFETY: the caller's sets are valid where non-null.
        unsafe {
            for s in [r, w, e] {
                if let Some(s) = s.as_mut() {
                    sys::fd_zero(s);
                }
            }
        }
    }
    // SAFETY: a non-null timeout is valid for writes (the caller's contract).
    if let Some(tv) = unsafe { timeout.as_mut() } {
        let left = deadline.map_or(Duration::ZERO, |d| {
            d.saturating_duration_since(Instant::now())
        });
        tv.tv_sec = left.as_secs() as _;
        tv.tv_usec = left.subsec_micros() as _;
    }
    n
}
