//! What the hooks remember about each fd number, process-wide: a generation that
//! every hooked `close`, `dup2` and `dup3` moves on (so that a registration or a
//! kind learnt for an earlier file is seen to be stale), the fd's kind (how a read
//! or write on it can be tried without blocking), and whether a hook has flipped its
//! `O_NONBLOCK` on for a moment (so that another thread does not take that for the
//! user's choice).
//!
//! One `AtomicU64` per fd, in chunks of 4096 mapped (zeroed, with `mmap`, which is
//! async-signal-safe) on first use by a hook in force on a thread with a hub; a hook
//! that only reads, or a `close` before `main` or at a thread's teardown, touches
//! atomics only. Chunks are never unmapped.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::sys::monkey::{self as sys, c::c_int};

const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNK_BYTES: usize = CHUNK * std::mem::size_of::<AtomicU64>();
/// 4096 chunks of 4096: fd numbers below 2^24. Larger ones get no table entry:
/// their calls are treated as of an unknown kind each time, and never flipped.
const CHUNKS: usize = 4096;

static TABLE: [AtomicPtr<AtomicU64>; CHUNKS] = [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS];

/// How a call on an fd is tried without blocking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Not looked at yet (or closed since).
    Unknown,
    /// Calls pass through: a regular file, directory or block device (epoll cannot
    /// wait on them), or stdin, stdout or stderr (see `arch/monkey.md`).
    Pass,
    /// `poll` first, then the real call: a tty, or an fd without `RWF_NOWAIT`.
    PollFirst,
    /// `preadv2`/`pwritev2` with `RWF_NOWAIT`: sockets, pipes, FIFOs, eventfds.
    NoWait,
}

const KIND_MASK: u64 = 0xff;
const FLIP_ONE: u64 = 1 << 8;
const FLIP_MASK: u64 = 0xffff << 8;
/// Facts learnt about a socket, kept until it is closed (or a hooked `setsockopt`
/// changes its timeouts): see [`Fact`].
const FACT_SHIFT: u32 = 24;
const GEN_SHIFT: u32 = 32;

/// A fact about an fd, learnt once with a syscall and kept in its entry.
#[derive(Clone, Copy)]
pub(super) enum Fact {
    /// Looked at: whether it is a TCP socket (`IsTcp` says which).
    TcpKnown = 0,
    /// A TCP stream socket: a short read means it was drained.
    IsTcp = 1,
    /// Looked at, and it has no `SO_RCVTIMEO`.
    NoReadTimeout = 2,
    /// Looked at, and it has no `SO_SNDTIMEO`.
    NoWriteTimeout = 3,
}

fn fact_bit(f: Fact) -> u64 {
    1 << (FACT_SHIFT + f as u32)
}

fn kind_code(k: Kind) -> u64 {
    match k {
        Kind::Unknown => 0,
        Kind::Pass => 1,
        Kind::PollFirst => 2,
        Kind::NoWait => 3,
    }
}

/// A snapshot of an fd's entry.
#[derive(Clone, Copy)]
pub(super) struct Entry(u64);

impl Entry {
    pub(super) fn kind(self) -> Kind {
        match self.0 & KIND_MASK {
            1 => Kind::Pass,
            2 => Kind::PollFirst,
            3 => Kind::NoWait,
            _ => Kind::Unknown,
        }
    }

    /// The fd number's generation: moves on at each hooked close of it.
    pub(super) fn generation(self) -> u32 {
        (self.0 >> GEN_SHIFT) as u32
    }

    fn flipped(self) -> bool {
        self.0 & FLIP_MASK != 0
    }

    pub(super) fn has(self, f: Fact) -> bool {
        self.0 & fact_bit(f) != 0
    }
}

/// Records facts about `fd` (`set`) and forgets others (`clear`), unless it was
/// closed since `seen` was read.
pub(super) fn learn(fd: c_int, seen: Entry, set: &[Fact], clear: &[Fact]) {
    let on = set.iter().fold(0, |m, &f| m | fact_bit(f));
    let off = clear.iter().fold(0, |m, &f| m | fact_bit(f));
    if let Some(s) = slot(fd, true) {
        let _ = s.fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
            (Entry(cur).generation() == seen.generation()).then_some((cur | on) & !off)
        });
    }
}

/// A hooked `setsockopt` changed `fd`'s timeouts: look again at the next wait.
pub(super) fn timeouts_changed(fd: c_int) {
    if let Some(s) = slot(fd, false) {
        let mask = fact_bit(Fact::NoReadTimeout) | fact_bit(Fact::NoWriteTimeout);
        s.fetch_and(!mask, Ordering::AcqRel);
    }
}

/// The entry of `fd`, allocating its chunk if `create`.
fn slot(fd: c_int, create: bool) -> Option<&'static AtomicU64> {
    let fd = usize::try_from(fd).ok()?;
    let (chunk, index) = (fd >> CHUNK_BITS, fd & (CHUNK - 1));
    let cell = TABLE.get(chunk)?;
    let mut p = cell.load(Ordering::Acquire);
    if p.is_null() {
        if !create {
            return None;
        }
        // mmap, not malloc: a hook may run in a signal handler (a self-pipe write).
        let fresh = sys::map_zeroed(CHUNK_BYTES).cast::<AtomicU64>();
        if fresh.is_null() {
            return None;
        }
        match cell.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => p = fresh,
            Err(theirs) => {
                // SAFETY: ours lost the race and was never shared.
                unsafe { sys::unmap(fresh.cast(), CHUNK_BYTES) };
                p = theirs;
            }
        }
    }
    // SAFETY: a published chunk is CHUNK zeroed (valid) atomics that are never
    // unmapped, and `index < CHUNK`.
    Some(unsafe { &*p.add(index) })
}

/// The entry of `fd` now (all zero if it has none).
#[inline]
pub(super) fn get(fd: c_int) -> Entry {
    Entry(slot(fd, false).map_or(0, |s| s.load(Ordering::Acquire)))
}

/// Records `fd`'s kind, unless it was closed since `seen` was read.
pub(super) fn set_kind(fd: c_int, seen: Entry, kind: Kind) {
    if let Some(s) = slot(fd, true) {
        let new = (seen.0 & !KIND_MASK) | kind_code(kind);
        let _ = s.compare_exchange(seen.0, new, Ordering::AcqRel, Ordering::Relaxed);
    }
}

/// The generation of `fd`, making sure it has an entry (so that a later close of
/// it is seen).
pub(super) fn generation_for_registration(fd: c_int) -> u32 {
    slot(fd, true).map_or(0, |s| Entry(s.load(Ordering::Acquire)).generation())
}

/// A hooked call is about to close `fd` (or make it another file): a new
/// generation, kind unknown, no flip. Atomics only.
pub(super) fn closed(fd: c_int) {
    if let Some(s) = slot(fd, false) {
        let _ = s.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
            Some(u64::from(Entry(w).generation().wrapping_add(1)) << GEN_SHIFT)
        });
    }
}

/// A hook turns `O_NONBLOCK` on around one call; see [`flipped_by_us`].
pub(super) fn flip_begin(fd: c_int) {
    if let Some(s) = slot(fd, true) {
        s.fetch_add(FLIP_ONE, Ordering::AcqRel);
    }
}

/// The flip of [`flip_begin`] is undone.
pub(super) fn flip_end(fd: c_int) {
    if let Some(s) = slot(fd, false) {
        let _ = s.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
            Some(if w & FLIP_MASK != 0 { w - FLIP_ONE } else { w })
        });
    }
}

/// Whether a hook (on any thread) has `O_NONBLOCK` flipped on for `fd` right now:
/// then a set `O_NONBLOCK` is not the user's.
pub(super) fn flipped_by_us(fd: c_int) -> bool {
    get(fd).flipped()
}
