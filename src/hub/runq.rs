//! The hub's run queue: an intrusive FIFO of tasks, plus the root's turn.

use std::cell::Cell;
use std::ptr::NonNull;

use super::task::Task;

/// The run queue: a FIFO linked through the tasks themselves (`Task::link`), plus the
/// root's own link, so that queueing and popping touch no separate buffer.
///
/// Invariant (the hub's `runq` rule): a linked task is in the slab, which keeps it
/// alive, and is linked at most once (it is queued only on a Parked -> Notified wake,
/// by its own yield, or once when spawned or started by its timer). `push` is unsafe
/// because its callers keep this rule.
/// Touched by the hub's thread only, like every part of the hub.
pub(super) struct RunQueue {
    /// The next to run (popped first), `None` when empty.
    head: Cell<Option<NonNull<Link>>>,
    /// The last queued, where `push` links.
    tail: Cell<Option<NonNull<Link>>>,
    /// How many entries are linked (the root's marker included).
    len: Cell<usize>,
    /// The root's place in the queue: its turn ends the loop it runs.
    root: Link,
}

/// A run-queue link: the first field of `Task` (`repr(C)`), so a pointer to it is a
/// pointer to the task.
pub(crate) struct Link {
    /// The entry behind this one while linked (meaningless when not).
    next: Cell<Option<NonNull<Link>>>,
}

impl Link {
    pub(crate) const fn new() -> Link {
        Link {
            next: Cell::new(None),
        }
    }
}

impl RunQueue {
    pub(super) fn new() -> RunQueue {
        RunQueue {
            head: Cell::new(None),
            tail: Cell::new(None),
            len: Cell::new(0),
            root: Link::new(),
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

    /// Appends a task.
    ///
    /// # Safety
    /// The task must be in the hub's slab and not linked already (the invariant
    /// above): the queue keeps a pointer to it until it is popped.
    #[inline(always)]
    pub(super) unsafe fn push(&self, task: &Task) {
        self.link(&task.link);
    }

    /// Appends the root's turn.
    pub(super) fn push_root(&self) {
        self.link(&self.root);
    }

    /// Takes the first entry: `Some(None)` is the root's turn.
    #[inline(always)]
    pub(super) fn pop(&self) -> Option<Option<NonNull<Task>>> {
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
            // `link` is the first field of the `repr(C)` task.
            Some(Some(p.cast::<Task>()))
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
        for t in kept {
            // SAFETY: it was linked, hence alive and in the slab (the invariant
            // above), and it is unlinked now.
            unsafe { self.push(t.as_ref()) };
        }
    }

    pub(super) fn clear(&self) {
        self.head.set(None);
        self.tail.set(None);
        self.len.set(0);
    }
}
