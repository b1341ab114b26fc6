//! `membarrier(2)`: the heavy half of the asymmetric barrier owner mode needs (see
//! `sync/owner.rs`), and its registration as the program loads.
//!
//! Registering (`MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED`) is cheap while the process
//! has one thread, but once it has several the kernel waits for an RCU grace period
//! (`synchronize_rcu`): 5-15 ms measured here with four idle threads. So the crate
//! registers from an ELF constructor, before `main` and before any thread exists, and
//! `registered_at_load` tells owner mode whether that worked.

use std::sync::atomic::{AtomicU8, Ordering};

const CMD_QUERY: libc::c_long = 0;
const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

fn call(cmd: libc::c_long) -> libc::c_long {
    // SAFETY: membarrier takes two integers and touches no memory of ours.
    unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_long) }
}

/// Registers the process for expedited private barriers; false if the kernel
/// cannot (older than 4.14, or membarrier filtered out by a sandbox). Slow (an RCU
/// grace period) if the process has other threads.
pub(crate) fn register() -> bool {
    let both = CMD_PRIVATE_EXPEDITED | CMD_REGISTER_PRIVATE_EXPEDITED;
    let supported = call(CMD_QUERY);
    supported >= 0 && supported & both == both && call(CMD_REGISTER_PRIVATE_EXPEDITED) == 0
}

/// Makes every thread of the process that runs now execute a full memory barrier
/// before this returns. Returns false if the kernel refused (not registered).
pub(crate) fn expedited() -> bool {
    call(CMD_PRIVATE_EXPEDITED) == 0
}

const AT_LOAD_NOT_RUN: u8 = 0;
const AT_LOAD_ON: u8 = 1;
const AT_LOAD_OFF: u8 = 2;
static AT_LOAD: AtomicU8 = AtomicU8::new(AT_LOAD_NOT_RUN);

/// What the load-time registration found: `Some(true)` registered, `Some(false)` the
/// kernel cannot, `None` the constructor did not run (a loader that skips
/// `.init_array`; then owner mode registers in the background instead).
pub(crate) fn registered_at_load() -> Option<bool> {
    match AT_LOAD.load(Ordering::Acquire) {
        AT_LOAD_ON => Some(true),
        AT_LOAD_OFF => Some(false),
        _ => None,
    }
}

extern "C" fn register_at_load() {
    let on = register();
    AT_LOAD.store(if on { AT_LOAD_ON } else { AT_LOAD_OFF }, Ordering::Release);
}

/// Run by the dynamic loader (or the static binary's start code) before `main`, while
/// the process is normally single-threaded: two syscalls, about a microsecond.
#[used]
// SAFETY: `.init_array` holds pointers to `extern "C" fn()` run once at load;
// `register_at_load` is one, touches only an atomic and makes two syscalls, and
// needs nothing of std that is not ready before `main`.
#[unsafe(link_section = ".init_array")]
static REGISTER_AT_LOAD: extern "C" fn() = register_at_load;
