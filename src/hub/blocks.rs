//! The hub's cache of freed task (greenlet) allocations.

use std::alloc::Layout;
use std::cell::RefCell;
use std::ptr::NonNull;

/// Freed greenlet allocations, for reuse by the next spawn instead of calling malloc
/// (glibc's per-size cache holds 7 blocks, so a burst of greenlets fell to its slow
/// path, a quarter of a spawn + join).
///
/// Blocks come in size classes of one cache line (64 bytes) each, up to 4 KiB, and are
/// aligned to a cache line: a greenlet's header starts a line, and the class of a
/// layout is one shift, with no search (a search by layout cost 90 instructions per
/// spawn + join). A block of a class is always allocated with that class's layout
/// ([`BlockCache::block_layout`]), so any block of a class can serve any layout of it.
/// Larger or more aligned layouts go to the allocator directly.
pub(crate) struct BlockCache {
    /// Free blocks per class, most recently freed last. Unbounded, like the stack
    /// pool: a burst keeps its blocks until the hub is about to wait idle (`trim`).
    lists: RefCell<[Vec<NonNull<u8>>; CLASSES]>,
}

/// The size of a class step and the alignment of every cached block: a cache line.
const LINE: usize = 64;
/// Size classes: 64, 128, ... 4096 bytes.
const CLASSES: usize = 64;

impl Default for BlockCache {
    fn default() -> Self {
        BlockCache {
            lists: RefCell::new(std::array::from_fn(|_| Vec::new())),
        }
    }
}

impl BlockCache {
    /// Free blocks kept per class when the hub waits idle (see `trim`).
    const IDLE: usize = 1024;

    /// The class of a layout, if its blocks are cached. Constant-folded: greenlet
    /// layouts are known at compile time.
    #[inline(always)]
    fn class(layout: Layout) -> Option<usize> {
        let class = layout.size().saturating_sub(1) / LINE;
        (layout.align() <= LINE && class < CLASSES).then_some(class)
    }

    /// The layout a block for `layout` really has: its class's, or `layout` itself
    /// when it is not cached.
    #[inline(always)]
    pub(crate) fn block_layout(layout: Layout) -> Layout {
        match Self::class(layout) {
            // SAFETY: LINE is a power of two and the size is at most CLASSES * LINE,
            // far from overflowing isize when rounded up to LINE.
            Some(c) => unsafe { Layout::from_size_align_unchecked((c + 1) * LINE, LINE) },
            None => layout,
        }
    }

    /// A block for `layout`: a cached one, else from the allocator.
    #[inline]
    pub(crate) fn alloc(&self, layout: Layout) -> NonNull<u8> {
        if let Some(c) = Self::class(layout)
            && let Some(p) = self.lists.borrow_mut()[c].pop()
        {
            return p;
        }
        alloc_block(Self::block_layout(layout))
    }

    /// Keeps a block that `alloc(layout)` returned, for reuse.
    ///
    /// # Safety
    /// `p` must come from `alloc(layout)` (of any hub) or be allocated with
    /// `block_layout(layout)`, with nothing live in it.
    #[inline]
    pub(crate) unsafe fn free(&self, p: NonNull<u8>, layout: Layout) {
        match Self::class(layout) {
            Some(c) => self.lists.borrow_mut()[c].push(p),
            // SAFETY: by the contract, allocated with `block_layout(layout)`, which
            // is `layout` for a layout that has no class.
            None => unsafe { std::alloc::dealloc(p.as_ptr(), layout) },
        }
    }

    /// Whether `trim` has anything to give back.
    #[inline]
    pub(crate) fn needs_trim(&self) -> bool {
        self.lists.borrow().iter().any(|l| l.len() > Self::IDLE)
    }

    /// Gives back to the allocator the blocks past `IDLE` per class (the least
    /// recently freed): a burst of greenlets does not keep its peak memory once the
    /// hub is idle.
    #[cold]
    pub(crate) fn trim(&self) {
        for (c, list) in self.lists.borrow_mut().iter_mut().enumerate() {
            if list.len() <= Self::IDLE {
                continue;
            }
            let surplus = list.len() - Self::IDLE;
            for p in list.drain(..surplus) {
                // SAFETY: blocks of class `c` were allocated with its layout and hold
                // nothing live.
                unsafe { std::alloc::dealloc(p.as_ptr(), class_layout(c)) };
            }
            list.shrink_to_fit();
        }
    }
}

fn class_layout(c: usize) -> Layout {
    Layout::from_size_align((c + 1) * LINE, LINE).expect("a valid class layout")
}

#[cold]
fn alloc_block(layout: Layout) -> NonNull<u8> {
    // SAFETY: greenlet allocations are never zero-sized (their header is not).
    let p = unsafe { std::alloc::alloc(layout) };
    NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

impl Drop for BlockCache {
    fn drop(&mut self) {
        for (c, list) in self.lists.get_mut().iter_mut().enumerate() {
            for p in list.drain(..) {
                // SAFETY: blocks of class `c` were allocated with its layout and hold
                // nothing live.
                unsafe { std::alloc::dealloc(p.as_ptr(), class_layout(c)) };
            }
        }
    }
}
