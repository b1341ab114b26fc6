//! Greenlets that have finished while their handles live, kept for dumps (which list
//! them as "finished, not joined"). Off until asked for ([`keep_finished`]): keeping
//! them costs a map insert per finish and a removal per handle drop.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use super::handle::GreenletRef;
use super::id::GreenletId;
use super::raw::Header;

static KEEPING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// This thread's finished greenlets whose handles live, by id.
    static FINISHED: RefCell<HashMap<GreenletId, GreenletRef>> = RefCell::new(HashMap::new());
}

/// From now on, every thread keeps its finished, unjoined greenlets for dumps.
pub(crate) fn keep_finished() {
    KEEPING.store(true, Ordering::Relaxed);
}

#[inline]
pub(super) fn keeping() -> bool {
    KEEPING.load(Ordering::Relaxed)
}

/// Keeps a greenlet that has just finished (its handle still lives).
#[cold]
pub(super) fn keep(h: &Header) {
    let r = GreenletRef::of(h);
    let _ = FINISHED.try_with(|f| f.borrow_mut().insert(h.id, r));
}

/// Forgets a kept greenlet: its handle is going.
#[cold]
pub(super) fn forget(id: GreenletId) {
    // Dropped outside the borrow: the last reference may free the greenlet.
    let r = FINISHED
        .try_with(|f| f.borrow_mut().remove(&id))
        .ok()
        .flatten();
    drop(r);
}

/// Calls `f` with each kept greenlet of this thread.
pub(crate) fn for_each(mut f: impl FnMut(&Header)) {
    let kept: Vec<GreenletRef> = FINISHED
        .try_with(|m| m.borrow().values().cloned().collect())
        .unwrap_or_default();
    for g in &kept {
        f(g.header());
    }
}
