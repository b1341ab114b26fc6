//! The sleeps: `clock_nanosleep` (std's `thread::sleep`), `nanosleep`, `usleep`,
//! `sleep`. They park on a hub timer. A kill or a `with_timeout` deadline ends the
//! sleep early and it returns as if it had slept in full (std's `thread::sleep`
//! takes any other answer but `EINTR` for a bug, and retries `EINTR`): the
//! interrupt stays pending, for the greenlet's next wait or for `with_timeout`.

use std::time::{Duration, Instant};

use super::{active, count_park};
use crate::hub::Hub;
use crate::sys::monkey::c::{
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME, EINVAL, TIMER_ABSTIME, c_int, c_uint,
    clockid_t, timespec, useconds_t,
};
use crate::sys::monkey::{self as sys, real};

/// Sleeps on the hub until `deadline` (or an interrupt).
fn sleep_until(hub: &'static Hub, deadline: Option<Instant>) {
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
        count_park();
        // Only the timer wakes this wait; a spurious end loops.
        match hub.park_until_reporting("std::thread::sleep (monkey)", deadline) {
            Ok(true) | Err(_) => return,
            Ok(false) => {}
        }
    }
}

/// A valid timespec as a duration.
fn duration(t: &timespec) -> Option<Duration> {
    (t.tv_sec >= 0 && (0..1_000_000_000).contains(&t.tv_nsec))
        .then(|| Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
}

/// `clock_nanosleep(3)`, green on the realtime, monotonic and boot-time clocks
/// (others, such as CPU-time clocks, go to libc). Returns an error number, as it
/// does.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    let green = matches!(clock, CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME);
    // SAFETY: a non-null `req` is valid (the caller's contract).
    let r = unsafe { req.as_ref() };
    let Some((hub, r)) = active().filter(|_| green).zip(r) else {
        // SAFETY: the caller's contract.
        return unsafe { real::clock_nanosleep(clock, flags, req, rem) };
    };
    let Some(d) = duration(r) else {
        return EINVAL;
    };
    let deadline = if flags & TIMER_ABSTIME != 0 {
        let Some(now) = sys::clock_now(clock) else {
            return EINVAL;
        };
        Instant::now().checked_add(d.saturating_sub(now))
    } else {
        Instant::now().checked_add(d)
    };
    sleep_until(hub, deadline);
    0
}

/// `nanosleep(2)`, green.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    // SAFETY: a non-null `req` is valid (the caller's contract).
    let r = unsafe { req.as_ref() };
    let Some((hub, r)) = active().zip(r) else {
        // SAFETY: the caller's contract.
        return unsafe { real::nanosleep(req, rem) };
    };
    let Some(d) = duration(r) else {
        sys::set_errno(EINVAL);
        return -1;
    };
    sleep_until(hub, Instant::now().checked_add(d));
    0
}

/// `usleep(3)`, green.
///
/// # Safety
///
/// The C function's contract (none).
pub(super) unsafe extern "C" fn usleep(us: useconds_t) -> c_int {
    let Some(hub) = active() else {
        // SAFETY: usleep takes an integer.
        return unsafe { real::usleep(us) };
    };
    sleep_until(
        hub,
        Instant::now().checked_add(Duration::from_micros(u64::from(us))),
    );
    0
}

/// `sleep(3)`, green; returns 0 (no seconds left).
///
/// # Safety
///
/// The C function's contract (none).
pub(super) unsafe extern "C" fn sleep(secs: c_uint) -> c_uint {
    let Some(hub) = active() else {
        // SAFETY: sleep takes an integer.
        return unsafe { real::sleep(secs) };
    };
    sleep_until(
        hub,
        Instant::now().checked_add(Duration::from_secs(u64::from(secs))),
    );
    0
}
