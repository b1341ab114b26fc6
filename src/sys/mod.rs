//! The bottom layer: every direct call into the C library, every raw syscall and
//! every platform choice of the crate lives here, and nothing here names anything
//! of the crate above it.
//!
//! The backend's contract: Linux (or Android), where the crate relies on epoll
//! (through mio), `accept4` with `SOCK_NONBLOCK`, `MSG_NOSIGNAL`, `membarrier(2)`
//! (owner mode falls back to locks without it), `MADV_GUARD_INSTALL` guard pages
//! (falling back to `mprotect` before Linux 6.13), `/proc/self/task`, a `SIGSEGV`
//! handler on an alternate signal stack, `sigaction` handlers that turn other signals
//! into events through a pipe (`sigcatch`), and pidfds for child processes
//! (`pidfd_open`, Linux 5.3; `waitid(P_PIDFD)`, 5.4). Functions here are thin: they
//! make the call, turn `-1` into an `io::Error`, and say in `# Safety` what the
//! caller must guarantee when misuse could corrupt memory.

#[cfg(not(any(target_os = "linux", target_os = "android")))]
compile_error!(
    "greenlet supports Linux (and Android) only: it relies on epoll, accept4, MSG_NOSIGNAL, \
     membarrier and Linux guard pages; see src/sys/mod.rs for the backend's contract"
);

pub(crate) mod fd;
pub(crate) mod mem;
pub(crate) mod membarrier;
#[cfg(feature = "monkey")]
pub(crate) mod monkey;
pub(crate) mod process;
pub(crate) mod sigcatch;
pub(crate) mod signal;
pub(crate) mod socket;
pub(crate) mod thread;
pub(crate) mod valgrind;

/// The C functions of this folder that the `monkey` feature defines too: with the
/// feature, libc's own (a call through `libc::` would land in the hook, and the
/// runtime must never wait inside its own hooks); without it, libc's as usual.
mod c {
    #[cfg(feature = "monkey")]
    pub(super) use crate::sys::monkey::real::{
        accept4, close, poll, read, send, sendmsg, setsockopt, write,
    };
    #[cfg(not(feature = "monkey"))]
    pub(super) use libc::{accept4, close, poll, read, send, sendmsg, setsockopt, write};
}

/// The errno values the layers above compare errors with.
pub(crate) mod errno {
    pub(crate) use libc::{EAGAIN, EEXIST, EPERM, ESRCH};
}
