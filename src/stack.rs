//! Greenlet stacks: carved from large arenas, guarded, pooled per hub.
//!
//! ```text
//!  arena (one mmap, MAP_NORESERVE, one VMA however many stacks it holds)
//!  +-------+-----------------+-------+-----------------+-------+----
//!  | guard |  stack 0        | guard |  stack 1        | guard | ...
//!  +-------+-----------------+-------+-----------------+-------+----
//!  low                     ^ base 0                  ^ base 1
//!  (stacks grow down, towards their guard page)
//! ```
//!
//! Guard pages are installed with `madvise(MADV_GUARD_INSTALL)` (Linux 6.13+), which
//! marks the page as faulting without splitting the VMA, so a million guarded stacks
//! cost a few hundred mappings. On older kernels we fall back to `mprotect`, which
//! splits the VMA: two mappings per stack, so `vm.max_map_count` (65,530 by default)
//! caps the number of live stacks near 32,000, and running out is reported as an
//! `io::Error` that names that limit.
//!
//! A stack freed by a finished greenlet goes back to its hub's pool and is reused by
//! the next spawn (about 20 ns instead of about 10 µs for mmap + munmap). Returning a
//! stack costs nothing more: the pool is trimmed only when the hub is about to wait
//! idle, when free stacks past [`HOT_POOL`] have their memory released with
//! `MADV_DONTNEED`, in merged runs of neighbouring stacks (guard pages installed with
//! `MADV_GUARD_INSTALL` survive it). So a burst of greenlets does not pin its peak RSS
//! forever, and a busy hub never pays a syscall per finished greenlet.

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};

use corosensei::stack::{Stack, StackPointer};

use crate::sys::mem::{self, page_size};
use crate::sys::valgrind;

/// The default usable stack size of a greenlet: 256 KiB. See `arch/stacks.md`.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// The smallest stack size `Builder::stack_size` accepts; smaller requests are raised to it.
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// Free stacks a hub keeps with their memory resident; more are released to the OS.
const HOT_POOL: usize = 1024;

/// Target size of one arena mapping.
const ARENA_BYTES: usize = 64 * 1024 * 1024;

/// Which guard mechanism this process uses: 0 unknown, 1 madvise, 2 mprotect.
static GUARD_MODE: AtomicU8 = AtomicU8::new(0);

/// Forces the `mprotect` fallback, so that tests cover both paths.
pub fn force_mprotect_guards() {
    GUARD_MODE.store(2, Ordering::Relaxed);
}

/// Installs a guard page at `addr`, remembering which mechanism works here.
///
/// # Safety
/// `addr` must be a page of an arena of this module that no stack uses yet.
unsafe fn install_guard(addr: usize) -> io::Result<()> {
    let prefer_madvise = GUARD_MODE.load(Ordering::Relaxed) != 2;
    // SAFETY: by the caller's contract the page is ours and unused.
    let how = unsafe { mem::install_guard(addr, prefer_madvise) }?;
    GUARD_MODE.store(
        match how {
            mem::Guard::Madvise => 1,
            mem::Guard::Mprotect => 2,
        },
        Ordering::Relaxed,
    );
    Ok(())
}

/// One guarded stack: `[limit, base)` is usable, the page below `limit` is the guard.
pub struct PooledStack {
    base: usize,
    /// Usable size in bytes (without the guard page).
    size: usize,
}

// SAFETY: every PooledStack is at least MIN_STACK_SIZE (>= corosensei's 4 KiB minimum)
// bytes of read-write memory with a guard page directly below `limit()`, both aligned
// to the page size (hence to STACK_ALIGNMENT), and owned exclusively by this value.
unsafe impl Stack for PooledStack {
    #[inline]
    fn base(&self) -> StackPointer {
        StackPointer::new(self.base).expect("stack base is never null")
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.base - self.size).expect("stack limit is never null")
    }
}

impl PooledStack {
    /// The lowest usable address; the guard page is the page below it.
    #[inline]
    pub fn limit_addr(&self) -> usize {
        self.base - self.size
    }
}

/// The guard page's address range, `[low, high)`, of a stack whose lowest usable
/// address is `limit`, for the overflow handler (reads only: safe in signal context
/// once the page size is known, which it is once a stack exists).
pub fn guard_below(limit: usize) -> (usize, usize) {
    (limit - page_size(), limit)
}

/// An arena: a large mapping carved into `slots` stacks of one size.
struct Arena {
    start: usize,
    len: usize,
    next: usize,
    slots: usize,
}

/// A per-hub pool of stacks of one size class each.
pub struct StackPool {
    page: usize,
    classes: Vec<SizeClass>,
}

struct SizeClass {
    size: usize,
    /// Free stacks whose memory may be resident, most recently used last.
    free: Vec<PooledStack>,
    /// Free stacks whose memory was released.
    cold: Vec<PooledStack>,
    /// Stacks promised to spawned greenlets that have not started yet. Invariant:
    /// `free.len() + cold.len() >= reserved`, so a greenlet's first run always finds
    /// its stack, and running out is reported by `spawn`.
    reserved: usize,
    arena: Option<Arena>,
    arenas: Vec<(usize, usize)>,
    /// Under valgrind, the ids of this class's stacks, registered when carved and
    /// deregistered when their arenas are unmapped; empty otherwise.
    valgrind_stacks: Vec<valgrind::StackId>,
}

impl StackPool {
    pub fn new() -> Self {
        StackPool {
            page: page_size(),
            classes: Vec::new(),
        }
    }

    /// Rounds a requested size to what `get` hands out.
    #[inline]
    pub fn round(&self, size: usize) -> usize {
        // The page size is a power of two: a mask, not a division (a `div` here was a
        // third of `reserve`, on every spawn).
        let size = size.max(MIN_STACK_SIZE);
        size.saturating_add(self.page - 1) & !(self.page - 1)
    }

    #[inline(always)]
    fn class(&mut self, size: usize) -> &mut SizeClass {
        // Most programs use one stack size: try the first class before searching.
        if self.classes.first().is_some_and(|c| c.size == size) {
            return &mut self.classes[0];
        }
        self.other_class(size)
    }

    #[inline(never)]
    fn other_class(&mut self, size: usize) -> &mut SizeClass {
        match self.classes.iter().position(|c| c.size == size) {
            Some(i) => &mut self.classes[i],
            None => {
                self.classes.push(SizeClass {
                    size,
                    free: Vec::new(),
                    cold: Vec::new(),
                    reserved: 0,
                    arena: None,
                    arenas: Vec::new(),
                    valgrind_stacks: Vec::new(),
                });
                self.classes.last_mut().expect("just pushed")
            }
        }
    }

    /// Promises a stack of at least `size` usable bytes to a greenlet that will start
    /// later, carving one if the pool could not keep the promise; returns the size
    /// the stack will have. Touches no stack memory.
    #[inline]
    pub fn reserve(&mut self, size: usize) -> io::Result<usize> {
        let size = self.round(size);
        let page = self.page;
        let class = self.class(size);
        if class.free.len() + class.cold.len() <= class.reserved {
            class.carve_free(page)?;
        }
        class.reserved += 1;
        Ok(size)
    }

    /// Takes the stack promised by `reserve(size)` (size as `reserve` returned it):
    /// the most recently used one, so run-to-completion greenlets keep reusing a
    /// stack that is hot in the cache.
    #[inline]
    pub fn take_reserved(&mut self, size: usize) -> PooledStack {
        let class = self.class(size);
        class.reserved -= 1;
        match class.free.pop() {
            Some(stack) => stack,
            None => class.take_cold(),
        }
    }

    /// Withdraws a promise: the greenlet was killed before it started.
    pub fn unreserve(&mut self, size: usize) {
        self.class(size).reserved -= 1;
    }

    /// Returns a stack to the pool.
    #[inline]
    pub fn put(&mut self, stack: PooledStack) {
        // The stack's class exists: the stack was carved for it.
        self.class(stack.size).free.push(stack);
    }

    /// Whether `trim` has anything to release.
    #[inline]
    pub fn needs_trim(&self) -> bool {
        self.classes.iter().any(|c| c.free.len() > HOT_POOL)
    }

    /// Releases the memory of the free stacks past `HOT_POOL` (the least recently
    /// used), merging neighbouring stacks into one `madvise` call.
    #[cold]
    pub fn trim(&mut self) {
        let page = self.page;
        for class in &mut self.classes {
            if class.free.len() <= HOT_POOL {
                continue;
            }
            let surplus = class.free.len() - HOT_POOL;
            let mut released: Vec<PooledStack> = class.free.drain(..surplus).collect();
            released.sort_unstable_by_key(|s| s.base);
            let mut run: Option<(usize, usize)> = None; // [low, high)
            for stack in &released {
                let low = stack.base - stack.size - page; // its guard page
                run = match run {
                    Some((start, end)) if end == low => Some((start, stack.base)),
                    Some(r) => {
                        release(r);
                        Some((low, stack.base))
                    }
                    None => Some((low, stack.base)),
                };
            }
            if let Some(r) = run {
                release(r);
            }
            class.cold.append(&mut released);
        }
    }
}

/// Releases the memory of `[low, high)`: free stacks and the guard pages between them.
fn release((low, high): (usize, usize)) {
    // SAFETY: the range covers free stacks of one arena that we own, with their guard
    // pages; no coroutine runs on them and nothing lives in them. Guards survive.
    unsafe { mem::release(low, high) };
}

impl SizeClass {
    /// Carves a stack into the free list.
    #[cold]
    #[inline(never)]
    fn carve_free(&mut self, page: usize) -> io::Result<()> {
        let stack = self.carve(page)?;
        self.free.push(stack);
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn take_cold(&mut self) -> PooledStack {
        self.cold
            .pop()
            .expect("greenlet: stack pool invariant broken: a reserved stack is missing")
    }

    #[cold]
    fn carve(&mut self, page: usize) -> io::Result<PooledStack> {
        let stride = self.size + page;
        if self.arena.as_ref().is_none_or(|a| a.next == a.slots) {
            let slots = (ARENA_BYTES / stride).max(1);
            let len = slots * stride;
            let addr = mem::map_anonymous(len, false).map_err(|e| limit_error(e, self.size))?;
            self.arenas.push((addr, len));
            self.arena = Some(Arena {
                start: addr,
                len,
                next: 0,
                slots,
            });
        }
        let arena = self.arena.as_mut().expect("arena was just ensured");
        debug_assert!(arena.next * stride < arena.len);
        let guard = arena.start + arena.next * stride;
        // SAFETY: the page starts the next unused slot of the arena.
        unsafe { install_guard(guard) }.map_err(|e| limit_error(e, self.size))?;
        arena.next += 1;
        let stack = PooledStack {
            base: guard + stride,
            size: self.size,
        };
        // Without this, valgrind takes a switch between this stack and one less than
        // 2 MB away for a huge push or pop and marks live frames undefined. Here, not
        // at spawn: carving is cold, and a stack keeps its registration while pooled.
        if valgrind::running_on_valgrind() != 0 {
            let id = valgrind::stack_register(stack.limit_addr(), stack.base);
            self.valgrind_stacks.push(id);
        }
        Ok(stack)
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        for class in &mut self.classes {
            // Before the memory goes: a later mapping at these addresses (a thread's
            // stack, say) must not be taken for a greenlet stack.
            for id in class.valgrind_stacks.drain(..) {
                valgrind::stack_deregister(id);
            }
            for &(start, len) in &class.arenas {
                // SAFETY: the hub drops its pool only after every greenlet has finished
                // or been unwound, so no stack in these arenas is in use.
                unsafe { mem::unmap(start, len) };
            }
        }
    }
}

/// Wraps an allocation failure in an error that names the limit and the remedy.
fn limit_error(err: io::Error, size: usize) -> io::Error {
    let mode = if GUARD_MODE.load(Ordering::Relaxed) == 2 {
        "mprotect guard pages (two mappings per stack; vm.max_map_count caps them)"
    } else {
        "arena stacks with MADV_GUARD_INSTALL guard pages"
    };
    io::Error::new(
        err.kind(),
        format!(
            "greenlet: cannot allocate a {} KiB greenlet stack: {err}. The process hit a memory \
             limit (address space, RLIMIT_AS, or vm.max_map_count; stacks use {mode}). Remedy: \
             run fewer greenlets at once, lower Builder::stack_size, or raise the limit \
             (ulimit -v, sysctl vm.max_map_count)",
            size / 1024
        ),
    )
}
