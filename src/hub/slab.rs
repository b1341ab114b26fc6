//! The hub's slab: every live task, named by a slot number.

use std::cell::{Cell, Ref, RefCell};

use super::task::TaskRef;

/// Every live task of a hub; the index is its slot. Owner of the tasks: an entry
/// holds a counted reference until the task leaves (see `Hub::remove`).
///
/// Free entries form a list through the entries themselves, last freed first, so
/// that inserting and removing touch one entry and no second vector.
/// Touched by the hub's thread only; a borrow of `entries` is never held across a
/// switch or a wake.
pub(super) struct Slab {
    /// One entry per slot ever used; a freed one is on the free list.
    entries: RefCell<Vec<Entry>>,
    /// The first free entry, or `END`.
    free: Cell<u32>,
}

struct Entry {
    /// The task in this slot, `None` while the slot is free.
    task: Option<TaskRef>,
    /// For a free entry, the next free one, or `END`.
    next_free: u32,
    /// For a free entry, the epoch its next task starts at: one past the last
    /// epoch of the previous occupant, so that a waker kept from that task never
    /// matches the new one (until 2^32 parks wrap it around).
    epoch: u32,
}

/// The end of the free list. Never a slot: there are fewer than `ROOT` = `u32::MAX`.
const END: u32 = u32::MAX;

impl Slab {
    pub(super) fn new() -> Slab {
        Slab {
            entries: RefCell::new(Vec::new()),
            free: Cell::new(END),
        }
    }

    /// Puts a task in a free slot; returns the slot and the epoch the task's
    /// context starts at.
    #[inline]
    pub(super) fn insert(&self, task: TaskRef) -> (u32, u32) {
        let mut entries = self.entries.borrow_mut();
        let slot = self.free.get();
        match entries.get_mut(slot as usize) {
            Some(e) => {
                debug_assert!(e.task.is_none(), "a free slab entry holds no task");
                self.free.set(e.next_free);
                e.task = Some(task);
                (slot, e.epoch)
            }
            None => (Self::push(&mut entries, task), 0),
        }
    }

    #[cold]
    fn push(entries: &mut Vec<Entry>, task: TaskRef) -> u32 {
        // Slots stop below `HUB` = u32::MAX - 1, and `END` is never one.
        let slot = u32::try_from(entries.len())
            .ok()
            .filter(|&s| s < u32::MAX - 1)
            .expect("fewer than 2^32 - 2 tasks");
        entries.push(Entry {
            task: Some(task),
            next_free: END,
            epoch: 0,
        });
        slot
    }

    /// Takes a task out of its slot, freeing the slot.
    #[inline]
    pub(super) fn remove(&self, slot: u32) -> Option<TaskRef> {
        let mut entries = self.entries.borrow_mut();
        let e = entries.get_mut(slot as usize)?;
        let task = e.task.take()?;
        e.epoch = task.ctx.epoch.get().wrapping_add(1);
        e.next_free = self.free.get();
        self.free.set(slot);
        Some(task)
    }

    /// The task in a slot, borrowed: the slab cannot change meanwhile.
    #[inline]
    pub(super) fn get(&self, slot: u32) -> Option<Ref<'_, TaskRef>> {
        Ref::filter_map(self.entries.borrow(), |entries| {
            entries.get(slot as usize)?.task.as_ref()
        })
        .ok()
    }

    /// Every live task, in slot order.
    pub(super) fn tasks(&self) -> Vec<TaskRef> {
        self.entries
            .borrow()
            .iter()
            .filter_map(|e| e.task.clone())
            .collect()
    }

    /// Takes every task out, emptying the slab.
    pub(super) fn drain(&self) -> Vec<TaskRef> {
        self.free.set(END);
        std::mem::take(&mut *self.entries.borrow_mut())
            .into_iter()
            .filter_map(|e| e.task)
            .collect()
    }
}
