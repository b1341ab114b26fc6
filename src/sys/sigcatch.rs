//! Catching signals as events (for `crate::signal`): a `sigaction` handler that does
//! two async-signal-safe things, counts the delivery and writes one byte to a
//! process-wide pipe (the *doorbell*), and the calls the layer above makes around it:
//! which signals may be caught, their names, installing and restoring dispositions,
//! reading the doorbell.
//!
//! Why a handler and a pipe, not `signalfd`: a signalfd only sees signals that are
//! blocked, and a mask is per thread. A library cannot block a signal in threads it
//! did not start (those started before it keep their masks, and the kernel delivers
//! a process-directed signal to any thread that has it unblocked, with its default
//! action: for SIGTERM or SIGUSR1, the end of the process); a blocked mask also
//! survives `execve`, so children would start with SIGTERM blocked. A handler works
//! whatever the masks: it runs on whichever thread the kernel picks. See
//! `arch/signals.md`.

use std::io;
use std::os::fd::RawFd;
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// One more than the largest signal number on Linux (`SIGRTMAX` is 64).
pub(crate) const NSIG: usize = 65;

// The signals programs most often wait for, for `crate::signal` to re-export (so
// that its users need no libc of their own).
/// Hangup: the terminal went away, or (by convention) "reload your configuration".
pub const SIGHUP: i32 = libc::SIGHUP;
/// Interrupt from the keyboard (Ctrl-C).
pub const SIGINT: i32 = libc::SIGINT;
/// Quit from the keyboard (Ctrl-\\).
pub const SIGQUIT: i32 = libc::SIGQUIT;
/// User-defined signal 1.
pub const SIGUSR1: i32 = libc::SIGUSR1;
/// User-defined signal 2.
pub const SIGUSR2: i32 = libc::SIGUSR2;
/// A write to a pipe or socket with no reader (ignored by Rust programs by default).
pub const SIGPIPE: i32 = libc::SIGPIPE;
/// An `alarm(2)` timer expired.
pub const SIGALRM: i32 = libc::SIGALRM;
/// Termination request: what `kill` and service managers send to stop a process.
pub const SIGTERM: i32 = libc::SIGTERM;
/// A child process stopped or ended.
pub const SIGCHLD: i32 = libc::SIGCHLD;
/// Continue, after a stop.
pub const SIGCONT: i32 = libc::SIGCONT;
/// Stop from the terminal (Ctrl-Z).
pub const SIGTSTP: i32 = libc::SIGTSTP;
/// The terminal window changed size.
pub const SIGWINCH: i32 = libc::SIGWINCH;

/// Deliveries of each signal since the process started, counted by the handler
/// while it is installed for that signal. Only ever increased.
static DELIVERED: [AtomicU64; NSIG] = [const { AtomicU64::new(0) }; NSIG];

/// The doorbell's write end (non-blocking, never closed), or -1 before it exists.
static DOORBELL_WRITE: AtomicI32 = AtomicI32::new(-1);

/// The doorbell's read end (blocking, never closed), once made.
static DOORBELL_READ: parking_lot::Mutex<Option<RawFd>> = parking_lot::Mutex::new(None);

/// The first real-time signal applications may use (the C library keeps the ones
/// below it for its threads).
pub(crate) fn sigrtmin() -> i32 {
    libc::SIGRTMIN()
}

/// The last real-time signal.
pub(crate) fn sigrtmax() -> i32 {
    libc::SIGRTMAX()
}

/// Why `signum` cannot be caught as an event, or `Ok`.
pub(crate) fn check(signum: i32) -> Result<(), String> {
    let name = name(signum);
    match signum {
        libc::SIGKILL | libc::SIGSTOP => Err(format!(
            "{name} cannot be caught: the kernel never runs a handler for SIGKILL or SIGSTOP"
        )),
        libc::SIGSEGV | libc::SIGBUS => Err(format!(
            "{name} is reserved: greenlet's stack-overflow detection handles it"
        )),
        libc::SIGILL | libc::SIGFPE => Err(format!(
            "{name} is a synchronous fault: a handler that returns re-runs the faulting \
             instruction, so it cannot be turned into an event"
        )),
        n if n < 1 || n > sigrtmax() || n as usize >= NSIG => Err(format!(
            "{signum} is not a signal number (1 to {})",
            sigrtmax()
        )),
        n if n > 31 && n < sigrtmin() => Err(format!(
            "signal {n} is reserved by the C library for its threads (real-time signals \
             start at SIGRTMIN = {})",
            sigrtmin()
        )),
        _ => Ok(()),
    }
}

/// The signal's name for messages: `SIGUSR1`, `SIGRTMIN+3`, or its number.
pub(crate) fn name(signum: i32) -> String {
    const NAMES: [&str; 32] = [
        "",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    if (1..32).contains(&signum) {
        NAMES[signum as usize].to_string()
    } else if signum >= sigrtmin() && signum <= sigrtmax() {
        format!("SIGRTMIN+{}", signum - sigrtmin())
    } else {
        format!("signal {signum}")
    }
}

/// How many times the handler has run for `signum` (a valid signal number).
pub(crate) fn delivered(signum: i32) -> u64 {
    DELIVERED[signum as usize].load(Ordering::SeqCst)
}

/// The doorbell's read end, made on first use: a pipe the handler writes one byte to
/// per delivery. Both ends are close-on-exec and stay open for the life of the
/// process, so the handler never writes to an fd that was closed or reused.
pub(crate) fn doorbell() -> io::Result<RawFd> {
    let mut read = DOORBELL_READ.lock();
    if let Some(fd) = *read {
        return Ok(fd);
    }
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // The handler's writes must never block: a full pipe already rings.
    if let Err(e) = super::fd::set_nonblocking(fds[1]) {
        // SAFETY: two fds this function just made and gave to nobody.
        unsafe {
            super::c::close(fds[0]);
            super::c::close(fds[1]);
        }
        return Err(e);
    }
    DOORBELL_WRITE.store(fds[1], Ordering::SeqCst);
    *read = Some(fds[0]);
    Ok(fds[0])
}

/// Blocks until the doorbell has bytes, and reads them into `buf` (retrying on
/// `EINTR`): how many were read.
pub(crate) fn wait_doorbell(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: reading into a valid, exclusively borrowed buffer of that length.
        let n = unsafe { super::c::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            return Ok(n as usize);
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the signal doorbell's write end was closed",
            ));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Writes a zero byte (no signal) to the doorbell, so that its reader looks at the
/// state again. A full pipe is fine: the reader has bytes to read anyway.
pub(crate) fn ring_doorbell() {
    let fd = DOORBELL_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: writing one byte from a valid buffer to our own pipe.
        unsafe { super::c::write(fd, [0u8].as_ptr().cast(), 1) };
    }
}

/// A disposition that was in place before ours, to put back.
pub(crate) struct Saved(libc::sigaction);

// SAFETY: plain data (a handler address, flags, a mask), only ever handed back to
// sigaction(2).
unsafe impl Send for Saved {}

/// Installs the counting handler for `signum` (which [`check`] accepted) and returns
/// the disposition it replaced. The doorbell must exist ([`doorbell`]).
pub(crate) fn catch(signum: i32) -> io::Result<Saved> {
    // SAFETY: zeroed sigaction structs are valid empty values; the handler only does
    // async-signal-safe work (an atomic add, write(2), and errno saved and restored).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
        // SA_RESTART: other threads' blocking calls resume instead of failing with
        // EINTR. SA_ONSTACK: a greenlet near the end of its stack must not fault
        // because a signal came.
        action.sa_flags = libc::SA_RESTART | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signum, &action, &mut old) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Saved(old))
    }
}

/// Puts back the disposition `catch` replaced, unless someone has installed another
/// one since (theirs is left alone).
pub(crate) fn restore(signum: i32, saved: &Saved) {
    if is_caught(signum) {
        // SAFETY: installing a disposition sigaction(2) itself returned.
        unsafe { libc::sigaction(signum, &saved.0, ptr::null_mut()) };
    }
}

/// Whether the counting handler is the disposition of `signum` now.
pub(crate) fn is_caught(signum: i32) -> bool {
    // SAFETY: a null new action only reads the current one into a zeroed struct.
    let cur = unsafe {
        let mut cur: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signum, ptr::null(), &mut cur);
        cur
    };
    cur.sa_sigaction == on_signal as *const () as libc::sighandler_t
}

extern "C" fn on_signal(signum: libc::c_int) {
    let errno = errno_location();
    // SAFETY: errno is a valid thread-local int; write(2) below may change it, and
    // the interrupted code must find it as it was.
    let saved = unsafe { *errno };
    if let Some(count) = usize::try_from(signum).ok().and_then(|n| DELIVERED.get(n)) {
        count.fetch_add(1, Ordering::SeqCst);
    }
    let fd = DOORBELL_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = signum as u8;
        // SAFETY: one byte from a valid local to our own non-blocking pipe. A full
        // pipe (EAGAIN) loses nothing: the count is the record, the byte a doorbell.
        // The raw syscall: async-signal-safe, and never the `monkey` feature's hook.
        unsafe { libc::syscall(libc::SYS_write, fd, &byte as *const u8, 1usize) };
    }
    // SAFETY: as above.
    unsafe { *errno = saved };
}

#[cfg(target_os = "android")]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: no preconditions; returns the calling thread's errno.
    unsafe { libc::__errno() }
}

#[cfg(not(target_os = "android"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: no preconditions; returns the calling thread's errno.
    unsafe { libc::__errno_location() }
}
