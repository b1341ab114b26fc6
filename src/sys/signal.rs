//! Signals: the `SIGSEGV`/`SIGBUS` handler that stack-overflow reporting hangs on,
//! the alternate signal stack it runs on, and the async-signal-safe calls it makes.
//!
//! The handler asks one question of the layer above (a plain `fn`, registered once):
//! was this fault one you recognise and have reported? If so the process aborts;
//! if not, the fault goes to the handler that was installed before ours (std's, which
//! reports overflows of a thread's own stack), or gets the default action.

use std::ptr;
use std::sync::{Once, OnceLock};

struct OldActions {
    segv: libc::sigaction,
    bus: libc::sigaction,
}

// SAFETY: plain data written once before the handler is installed, then only read.
unsafe impl Sync for OldActions {}
// SAFETY: as above.
unsafe impl Send for OldActions {}

static OLD: OnceLock<OldActions> = OnceLock::new();

/// The question the handler asks: `true` means "mine, reported: abort".
static ON_FAULT: OnceLock<fn(usize) -> bool> = OnceLock::new();

/// Installs the fault handler, once per process; the first `on_fault` given is the
/// one it calls, with the faulting address, on the alternate signal stack.
///
/// # Safety
/// `on_fault` must be async-signal-safe: read only memory that stays valid, call
/// nothing but [`write_stderr`], allocate nothing, take no lock.
pub(crate) unsafe fn install_fault_handler(on_fault: fn(usize) -> bool) {
    let _ = ON_FAULT.set(on_fault);
    OLD.get_or_init(|| {
        // SAFETY: zeroed sigaction structs are valid "empty" values; sigaction with
        // a null new action only reads the current one.
        unsafe {
            let mut segv: libc::sigaction = std::mem::zeroed();
            let mut bus: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGSEGV, ptr::null(), &mut segv);
            libc::sigaction(libc::SIGBUS, ptr::null(), &mut bus);
            OldActions { segv, bus }
        }
    });
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: the handler only does async-signal-safe work (reads the statics
        // above, calls `on_fault`, whose contract says the same, then abort(3) or
        // sigaction(2)); the struct is fully initialised.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGSEGV, &action, ptr::null_mut());
            libc::sigaction(libc::SIGBUS, &action, ptr::null_mut());
        }
    });
}

/// Gives the calling thread an alternate signal stack if it has none (std gives one
/// to the threads it starts; threads started by C code may lack it), so that the
/// fault handler can run when the faulting stack is exhausted.
pub(crate) fn ensure_altstack() {
    const SIZE: usize = 64 * 1024;
    // SAFETY: sigaltstack with a null new stack only reads the current setting into
    // a zeroed, valid stack_t.
    let old = unsafe {
        let mut old: libc::stack_t = std::mem::zeroed();
        libc::sigaltstack(ptr::null(), &mut old);
        old
    };
    if old.ss_flags & libc::SS_DISABLE == 0 {
        return;
    }
    // Never unmapped: the thread may take a signal until its very end.
    let Ok(mem) = super::mem::map_anonymous(SIZE, true) else {
        return;
    };
    let stack = libc::stack_t {
        ss_sp: mem as *mut libc::c_void,
        ss_flags: 0,
        ss_size: SIZE,
    };
    // SAFETY: a fresh mapping of SIZE bytes that nothing else uses, kept forever.
    unsafe { libc::sigaltstack(&stack, ptr::null_mut()) };
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    if ON_FAULT.get().is_some_and(|on_fault| on_fault(addr)) {
        abort();
    }
    let Some(old) = OLD.get() else { return };
    let old = if sig == libc::SIGBUS {
        &old.bus
    } else {
        &old.segv
    };
    if old.sa_sigaction == libc::SIG_DFL || old.sa_sigaction == libc::SIG_IGN {
        // Restore the default action and return: the fault repeats and kills.
        // SAFETY: installing a saved, valid sigaction.
        unsafe { libc::sigaction(sig, old, ptr::null_mut()) };
    } else if old.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this type.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(old.sa_sigaction) };
        f(sig, info, ctx);
    } else {
        // SAFETY: a handler installed without SA_SIGINFO takes only the signal number.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(old.sa_sigaction) };
        f(sig);
    }
}

/// Writes `bytes` to stderr with one `write(2)`: async-signal-safe. A raw syscall,
/// so that it never lands in the `monkey` feature's `write` (which may park).
pub(crate) fn write_stderr(bytes: &[u8]) {
    // SAFETY: writing an initialised buffer of that length to fd 2.
    unsafe { libc::syscall(libc::SYS_write, 2, bytes.as_ptr(), bytes.len()) };
}

/// Ends the process at once (`abort(3)`): async-signal-safe.
pub(crate) fn abort() -> ! {
    // SAFETY: abort has no preconditions and does not return.
    unsafe { libc::abort() }
}

/// The signal the blocking-hub monitor sends a thread to ask what it runs: `SIGURG`,
/// whose default action is to ignore it and which programs rarely use (Go's runtime
/// preempts goroutines with it for the same reasons).
pub(crate) const PROBE_SIGNAL: i32 = libc::SIGURG;

static ON_PROBE: OnceLock<fn()> = OnceLock::new();
static OLD_PROBE: OnceLock<OldAction> = OnceLock::new();

/// A saved disposition.
struct OldAction(libc::sigaction);

// SAFETY: plain data written once before the handler is installed, then only read.
unsafe impl Sync for OldAction {}
// SAFETY: as above.
unsafe impl Send for OldAction {}

/// Installs, once per process, the handler of [`PROBE_SIGNAL`]: a probe sent by this
/// process to one of its threads (`tgkill`) runs `on_probe` on that thread; any other
/// delivery goes to the handler that was there before (if it was a handler).
///
/// # Safety
/// `on_probe` must be async-signal-safe: read only memory that stays valid, write
/// only atomics, allocate nothing, take no lock.
pub(crate) unsafe fn install_probe_handler(on_probe: fn()) {
    let _ = ON_PROBE.set(on_probe);
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: a zeroed sigaction is a valid empty value; reading the current one
        // with a null new action changes nothing. The handler then installed only does
        // what the contract above allows, plus getpid(2), which is safe there.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(PROBE_SIGNAL, ptr::null(), &mut old);
            let _ = OLD_PROBE.set(OldAction(old));
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = probe_handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(PROBE_SIGNAL, &action, ptr::null_mut());
        }
    });
}

extern "C" fn probe_handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let saved = errno();
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers; getpid has no
    // preconditions.
    let ours = unsafe { (*info).si_code == libc::SI_TKILL && (*info).si_pid() == libc::getpid() };
    if ours {
        if let Some(on_probe) = ON_PROBE.get() {
            on_probe();
        }
    } else if let Some(OldAction(old)) = OLD_PROBE.get()
        && old.sa_sigaction != libc::SIG_DFL
        && old.sa_sigaction != libc::SIG_IGN
    {
        if old.sa_flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this type.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(old.sa_sigaction) };
            f(sig, info, ctx);
        } else {
            // SAFETY: a handler installed without SA_SIGINFO takes only the signal number.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(old.sa_sigaction) };
            f(sig);
        }
    }
    set_errno(saved);
}

fn errno() -> libc::c_int {
    // SAFETY: __errno_location returns this thread's errno, always valid.
    unsafe { *libc::__errno_location() }
}

fn set_errno(v: libc::c_int) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = v };
}
