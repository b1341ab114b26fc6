//! Stack overflow reporting: a fault in the guard page of the running greenlet's
//! stack prints `greenlet '<name>' has overflowed its stack (<size>)` and aborts.
//!
//! The fault handler (`sys::signal`, on the thread's alternate signal stack, since the
//! faulting stack is exhausted) asks [`on_fault`] whether the address lies in the
//! guard page of the greenlet that runs on this thread. Faults elsewhere go to the
//! handler that was installed before ours (std's, which reports overflows of the
//! thread's own stack), or to the default action. Rust emits stack probes for frames
//! larger than a page, so even one huge frame faults in the guard page instead of
//! jumping over it.
//!
//! This layer knows stacks, not greenlets: what runs on this thread is asked of a
//! lookup the greenlet layer registers ([`set_running_stack`]), which the hub's
//! blocking monitor also uses ([`with_running`]).

use std::sync::OnceLock;

use crate::sys::signal;

/// What the report needs to know of the greenlet running on this thread.
pub(crate) struct RunningStack<'a> {
    /// The lowest usable address of its stack; the guard page is the page below.
    pub(crate) limit: usize,
    /// The usable size of its stack, in bytes.
    pub(crate) size: usize,
    pub(crate) name: Option<&'a str>,
    pub(crate) id: u64,
    /// Where it was spawned.
    pub(crate) spawned_at: &'static std::panic::Location<'static>,
}

/// Calls its argument with the running greenlet's stack, if a greenlet runs. Must be
/// async-signal-safe (reads only).
pub(crate) type Lookup = fn(&mut dyn FnMut(RunningStack<'_>));

static LOOKUP: OnceLock<Lookup> = OnceLock::new();

/// Installs the fault handler (once per process) and makes sure this thread has an
/// alternate signal stack. Called for each thread that gets a hub.
pub(crate) fn install() {
    // SAFETY: `on_fault` only reads (through a lookup whose contract says the same)
    // and writes its report with `write_stderr`.
    unsafe { signal::install_fault_handler(on_fault) };
    signal::ensure_altstack();
}

/// Registers how to find the running greenlet's stack (the first call wins).
///
/// # Safety
/// `lookup` runs in the fault handler: it must be async-signal-safe (read memory that
/// stays valid while a greenlet runs; no allocation, no lock, no other call).
pub(crate) unsafe fn set_running_stack(lookup: Lookup) {
    let _ = LOOKUP.set(lookup);
}

/// Calls `f` with the greenlet running on this thread, if a greenlet runs (and the
/// greenlet layer has registered its lookup). Async-signal-safe, like the lookup.
pub(crate) fn with_running(f: &mut dyn FnMut(RunningStack<'_>)) {
    if let Some(lookup) = LOOKUP.get() {
        lookup(f);
    }
}

/// Reports and returns true if `addr` is in the running greenlet's guard page.
fn on_fault(addr: usize) -> bool {
    let Some(lookup) = LOOKUP.get() else {
        return false;
    };
    let mut ours = false;
    lookup(&mut |s| {
        if s.limit != 0 && (crate::stack::guard_below(s.limit).0..s.limit).contains(&addr) {
            report(&s);
            ours = true;
        }
    });
    ours
}

/// Writes the report with one write(2): no allocation, no locks.
fn report(s: &RunningStack<'_>) {
    let mut buf = [0u8; 512];
    let mut w = Writer {
        buf: &mut buf,
        len: 0,
    };
    w.put(b"\ngreenlet '");
    match s.name {
        Some(n) => w.put(n.as_bytes()),
        None => {
            w.put(b"#");
            w.num(s.id);
        }
    }
    w.put(b"' has overflowed its stack (");
    if s.size.is_multiple_of(1024) {
        w.num((s.size / 1024) as u64);
        w.put(b" KiB)\n");
    } else {
        w.num(s.size as u64);
        w.put(b" bytes)\n");
    }
    w.put(b"fatal runtime error: greenlet stack overflow; raise it with Builder::stack_size, aborting\n");
    let len = w.len;
    signal::write_stderr(&buf[..len]);
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
