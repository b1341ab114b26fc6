//! Unmodified blocking code, green: with the `monkey` feature the crate defines
//! libc's blocking entry points (`recv`, `send`, `connect`, `accept4`, `read`,
//! `write`, `poll`, `clock_nanosleep`, `getaddrinfo`, `waitpid`, ...), so that std's
//! `TcpStream`, `thread::sleep`, `Child::wait` and every crate built on them park
//! the calling greenlet (or the thread's own stack, which runs the hub meanwhile)
//! instead of blocking the thread. gevent's `monkey.patch_all()`, done by the
//! linker: there is no patch order, and nothing to call.
//!
//! On a thread without a hub (plain threads, the thread pool's workers), inside the
//! hub's own machinery, and with `GREENLET_MONKEY=0` in the environment, every call
//! goes straight to libc. [`is_active`] says which applies to the caller. What is
//! covered, what cannot be, and how a kill or a timeout ends a hooked call (it
//! fails with `ECANCELED` or `ETIMEDOUT`; it never unwinds through C frames) is in
//! the README ("Porting without changing imports") and `arch/monkey.md`.
//!
//! ```
//! // True in a greenlet when the crate is built with `features = ["monkey"]` (and
//! // `GREENLET_MONKEY=0` is not set); always false without the feature.
//! let active = greenlet::spawn(greenlet::monkey::is_active).join().unwrap();
//! println!("monkey hooks in force: {active}");
//! // A plain thread never has them.
//! assert!(!std::thread::spawn(greenlet::monkey::is_active).join().unwrap());
//! ```

#[cfg(feature = "monkey")]
mod dns;
#[cfg(feature = "monkey")]
mod fd;
#[cfg(feature = "monkey")]
mod fdtable;
#[cfg(feature = "monkey")]
mod poll;
#[cfg(feature = "monkey")]
mod process;
#[cfg(feature = "monkey")]
mod rw;
#[cfg(feature = "monkey")]
mod sleep;
#[cfg(feature = "monkey")]
mod socket;
#[cfg(feature = "monkey")]
mod wait;
#[cfg(feature = "monkey")]
use imp::{active, count_park, interrupt_errno};

// The hooks' C names (weak, see `weak_c_names`): what std and every C library of
// the program call.
#[cfg(feature = "monkey")]
crate::sys::monkey::weak_c_names! {
    recv => socket::recv,
    recvfrom => socket::recvfrom,
    recvmsg => socket::recvmsg,
    send => socket::send,
    sendto => socket::sendto,
    sendmsg => socket::sendmsg,
    connect => socket::connect,
    setsockopt => socket::setsockopt,
    accept => socket::accept,
    accept4 => socket::accept4,
    read => rw::read,
    write => rw::write,
    readv => rw::readv,
    writev => rw::writev,
    poll => poll::poll,
    ppoll => poll::ppoll,
    select => poll::select,
    clock_nanosleep => sleep::clock_nanosleep,
    nanosleep => sleep::nanosleep,
    usleep => sleep::usleep,
    sleep => sleep::sleep,
    close => fd::close,
    dup2 => fd::dup2,
    dup3 => fd::dup3,
    getaddrinfo => dns::getaddrinfo,
    getnameinfo => dns::getnameinfo,
    gethostbyname => dns::gethostbyname,
    waitpid => process::waitpid,
    wait4 => process::wait4,
}

#[cfg(feature = "monkey")]
mod imp {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU8, Ordering};

    use crate::hub::{Hub, Interrupt};
    use crate::sys::monkey::{self as sys, c};

    /// The hub the calling context may park on, if the hooks are in force for it.
    /// A thread-local read first: on a thread that never used the crate this is all
    /// a hook costs before it forwards.
    #[inline]
    pub(crate) fn active() -> Option<&'static Hub> {
        let hub = Hub::try_current()?;
        (enabled() && hub.can_park()).then_some(hub)
    }

    /// `GREENLET_MONKEY=0` is not set (read once, the first time a hook finds a hub,
    /// which is after `main` has begun).
    #[inline]
    fn enabled() -> bool {
        static STATE: AtomicU8 = AtomicU8::new(0);
        match STATE.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => {
                let on = !sys::env_disabled();
                STATE.store(if on { 1 } else { 2 }, Ordering::Relaxed);
                on
            }
        }
    }

    thread_local! {
        static PARKS: Cell<u64> = const { Cell::new(0) };
    }

    /// Counts one park of a hooked call on this thread.
    #[inline]
    pub(crate) fn count_park() {
        let _ = PARKS.try_with(|p| p.set(p.get() + 1));
    }

    pub(crate) fn parks() -> u64 {
        PARKS.try_with(Cell::get).unwrap_or(0)
    }

    /// The errno a hooked call fails with when a kill (`ECANCELED`) or a
    /// `with_timeout` deadline (`ETIMEDOUT`) ends its wait.
    pub(crate) fn interrupt_errno(int: Interrupt) -> c::c_int {
        match int {
            Interrupt::Kill => c::ECANCELED,
            Interrupt::Timeout(_) => c::ETIMEDOUT,
        }
    }
}

/// Whether the `monkey` hooks are in force for the calling context: the feature is
/// on, `GREENLET_MONKEY=0` is not set, this thread has a hub and the caller can
/// park (a greenlet, or the thread's own stack outside the hub's machinery).
pub fn is_active() -> bool {
    #[cfg(feature = "monkey")]
    {
        active().is_some()
    }
    #[cfg(not(feature = "monkey"))]
    {
        false
    }
}

/// How many times hooked calls parked on this thread (for the project's tests).
#[doc(hidden)]
pub fn parks_on_this_thread() -> u64 {
    #[cfg(feature = "monkey")]
    {
        imp::parks()
    }
    #[cfg(not(feature = "monkey"))]
    {
        0
    }
}
