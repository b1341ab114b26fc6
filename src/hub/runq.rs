//! The hub's run queue: an intrusive FIFO of greenlet headers, plus the root's turn.

use std::cell::Cell;
use std::ptr::NonNull;

use crate::greenlet::Header;

/// The run queue: a FIFO linked through the greenlets' headers (`Header::link`), plus
/// the root's own link, so that queueing and popping touch no separate buffer.
///
/// Invariant (the hub's `runq` rule): a linked greenlet is in the slab, which keeps it
/// alive, and is linked at most once (it is queued only on a Parked -> Notified wake,
/// by its own yield, or once when spawned or started by its timer).
pub(super) struct RunQueue {
    head: Cell<Option<NonNull<Link>>>,
    tail: Cell<Option<NonNull<Link>>>,
    len: Cell<usize>,
    /// The root's place in the queue: its turn ends the loop it runs.
    root: Link,
}

/// A run-queue link: the first field of `Header` (`repr(C)`), so a pointer to it is
/// a pointer to the greenlet's header.
#[derive(Default)]
pub(crate) struct Link {
    next: Cell<Option<NonNull<Link>>>,
}

impl RunQueue {
    pub(super) fn new() -> RunQueue {
        RunQueue {
            head: Cell::new(None),
            tail: Cell::new(None),
            len: Cell::new(0),
            root: Link::default(),
        }
    }

    #[inline(always)]
    fn link(&self, link: &Link) {
        link.next.set(None);
        let p = NonNull::from(link);
        match self.tail.get() {
            // SAFETY: a linked node is alive (the invariant above).
            Some(tail) => unsafe { tail.as_ref() }.next.set(Some(p)),
            None => self.head.set(Some(p)),
        }
        self.tail.set(Some(p));
        self.len.set(self.len.get() + 1);
    }

    /// Appends a greenlet.
    #[inline(always)]
    pub(super) fn push(&self, header: &Header) {
        self.link(&header.link);
    }

    /// Appends the root's turn.
    pub(super) fn push_root(&self) {
        self.link(&self.root);
    }

    /// Takes the first entry: `Some(None)` is the root's turn.
    #[inline(always)]
    pub(super) fn pop(&self) -> Option<Option<NonNull<Header>>> {
        let p = self.head.get()?;
        // SAFETY: a linked node is alive (the invariant above).
        let next = unsafe { p.as_ref() }.next.get();
        self.head.set(next);
        if next.is_none() {
            self.tail.set(None);
        }
        self.len.set(self.len.get() - 1);
        if std::ptr::eq(p.as_ptr(), &self.root) {
            Some(None)
        } else {
            // `link` is the first field of the `repr(C)` header.
            Some(Some(p.cast::<Header>()))
        }
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.head.get().is_none()
    }

    pub(super) fn len(&self) -> usize {
        self.len.get()
    }

    /// Unlinks the root's turn if it is queued (a loop left by a panic).
    pub(super) fn remove_root(&self) {
        let mut kept = Vec::with_capacity(self.len());
        while let Some(entry) = self.pop() {
            if let Some(h) = entry {
                kept.push(h);
            }
        }
        for h in kept {
            // SAFETY: it was linked, hence alive (the invariant above).
            self.push(unsafe { h.as_ref() });
        }
    }

    pub(super) fn clear(&self) {
        self.head.set(None);
        self.tail.set(None);
        self.len.set(0);
    }
}
