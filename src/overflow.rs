//! Stack overflow reporting: a fault in the guard page of the running greenlet's
//! stack prints `greenlet '<name>' has overflowed its stack (<size>)` and aborts.
//!
//! A `SIGSEGV`/`SIGBUS` handler (on the thread's alternate signal stack, since the
//! faulting stack is exhausted) compares the fault address with the guard page of the
//! greenlet that runs on this thread. Faults elsewhere go to the handler that was
//! installed before ours (std's, which reports overflows of the thread's own stack),
//! or to the default action. Rust emits stack probes for frames larger than a page,
//! so even one huge frame faults in the guard page instead of jumping over it.

use std::ptr;
use std::sync::OnceLock;

use crate::greenlet::Header;

struct OldActions {
    segv: libc::sigaction,
    bus: libc::sigaction,
}

// SAFETY: plain data written once before the handler is installed, then only read.
unsafe impl Sync for OldActions {}
// SAFETY: as above.
unsafe impl Send for OldActions {}

static OLD: OnceLock<OldActions> = OnceLock::new();

/// Installs the handler (once per process) and makes sure this thread has an
/// alternate signal stack.
pub(crate) fn install() {
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
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: the handler only does async-signal-safe work (reads TLS and memory
        // it owns, write(2), abort(3), sigaction(2)); the struct is fully initialised.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGSEGV, &action, ptr::null_mut());
            libc::sigaction(libc::SIGBUS, &action, ptr::null_mut());
        }
    });
    ensure_altstack();
}

/// Gives the thread an alternate signal stack if it has none (std gives one to the
/// threads it starts; threads started by C code may lack it).
fn ensure_altstack() {
    const SIZE: usize = 64 * 1024;
    // SAFETY: sigaltstack with a null new stack only reads the current setting.
    let mut old: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::sigaltstack(ptr::null(), &mut old) };
    if old.ss_flags & libc::SS_DISABLE == 0 {
        return;
    }
    // SAFETY: a fresh anonymous mapping, handed to sigaltstack and never unmapped
    // (the thread may take a signal until its very end).
    unsafe {
        let mem = libc::mmap(
            ptr::null_mut(),
            SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if mem == libc::MAP_FAILED {
            return;
        }
        let stack = libc::stack_t {
            ss_sp: mem,
            ss_flags: 0,
            ss_size: SIZE,
        };
        libc::sigaltstack(&stack, ptr::null_mut());
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let header = crate::hub::Hub::running_header_for_signal();
    // SAFETY: a non-null pointer is the header of the greenlet running on this
    // thread, kept alive by its hub's slab while it runs.
    if let Some(h) = unsafe { header.as_ref() }
        && h.stack_limit.get() != 0
        && (crate::stack::guard_below(h.stack_limit.get()).0..h.stack_limit.get()).contains(&addr)
    {
        report(h);
        // SAFETY: abort is async-signal-safe.
        unsafe { libc::abort() };
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

/// Writes the report with write(2) only: no allocation, no locks.
fn report(h: &Header) {
    let mut buf = [0u8; 512];
    let mut w = Writer {
        buf: &mut buf,
        len: 0,
    };
    w.put(b"\ngreenlet '");
    match h.name() {
        Some(n) => w.put(n.as_bytes()),
        None => {
            w.put(b"#");
            w.num(h.id.as_u64());
        }
    }
    w.put(b"' has overflowed its stack (");
    let stack_size = h.stack_size();
    if stack_size.is_multiple_of(1024) {
        w.num((stack_size / 1024) as u64);
        w.put(b" KiB)\n");
    } else {
        w.num(stack_size as u64);
        w.put(b" bytes)\n");
    }
    w.put(b"fatal runtime error: greenlet stack overflow; raise it with Builder::stack_size, aborting\n");
    let len = w.len;
    // SAFETY: writing our own initialised buffer to stderr; write is async-signal-safe.
    unsafe { libc::write(2, buf.as_ptr().cast(), len) };
}

struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn num(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&digits[i..]);
    }
}
