//! The hub's cache of freed greenlet allocations.

use std::cell::RefCell;
use std::ptr::NonNull;

/// Freed greenlet allocations by layout (one per result type in use), so that a
/// spawn after a join reuses memory instead of calling malloc. Bounded per layout.
#[derive(Default)]
pub(crate) struct BlockCache(RefCell<Vec<(std::alloc::Layout, Vec<NonNull<u8>>)>>);

impl BlockCache {
    /// Free blocks kept per layout; more go back to the allocator.
    const MAX: usize = 65536;
    /// Free blocks kept per layout when the hub waits idle (see `trim`).
    const IDLE: usize = 1024;

    #[inline]
    pub(crate) fn take(&self, layout: std::alloc::Layout) -> Option<NonNull<u8>> {
        let mut lists = self.0.borrow_mut();
        lists.iter_mut().find(|(l, _)| *l == layout)?.1.pop()
    }

    /// Whether `trim` has anything to give back.
    #[inline]
    pub(crate) fn needs_trim(&self) -> bool {
        self.0
            .borrow()
            .iter()
            .any(|(_, list)| list.len() > Self::IDLE)
    }

    /// Gives back to the allocator the blocks past `IDLE` per layout: a burst of
    /// greenlets does not keep its peak memory once the hub is idle.
    #[cold]
    pub(crate) fn trim(&self) {
        for (layout, list) in self.0.borrow_mut().iter_mut() {
            while list.len() > Self::IDLE {
                let p = list.pop().expect("longer than IDLE");
                // SAFETY: blocks in the cache came from the global allocator with
                // this layout and hold nothing live.
                unsafe { std::alloc::dealloc(p.as_ptr(), *layout) };
            }
        }
    }

    /// Keeps a free block; false when the cache for its layout is full.
    #[inline]
    pub(crate) fn keep(&self, p: NonNull<u8>, layout: std::alloc::Layout) -> bool {
        let mut lists = self.0.borrow_mut();
        match lists.iter_mut().find(|(l, _)| *l == layout) {
            Some((_, list)) if list.len() < Self::MAX => list.push(p),
            Some(_) => return false,
            None => lists.push((layout, vec![p])),
        }
        true
    }
}

impl Drop for BlockCache {
    fn drop(&mut self) {
        for (layout, list) in self.0.get_mut().drain(..) {
            for p in list {
                // SAFETY: blocks in the cache came from the global allocator with
                // this layout and hold nothing live.
                unsafe { std::alloc::dealloc(p.as_ptr(), layout) };
            }
        }
    }
}
