//! What a dump says of a greenlet: the facts of its header, owned, for other layers.

use std::panic::Location;

use super::id::GreenletId;
use super::lifecycle::Lifecycle;
use super::raw::Header;
use crate::hub::Task;

/// A greenlet's identity and where it is in its life.
#[derive(Clone, Debug)]
pub(crate) struct Facts {
    pub(crate) id: GreenletId,
    pub(crate) name: Option<String>,
    pub(crate) spawned_at: &'static Location<'static>,
    pub(crate) parent: GreenletId,
    pub(crate) lifecycle: Lifecycle,
}

fn facts(h: &Header) -> Facts {
    Facts {
        id: h.id,
        name: h.name().map(|n| n.to_string()),
        spawned_at: h.spawned_at,
        parent: h.parent,
        lifecycle: h.lifecycle(),
    }
}

/// The facts of the greenlet a task belongs to.
pub(crate) fn facts_of(task: &Task) -> Facts {
    // SAFETY: every task is a greenlet's (`raw::create`).
    facts(unsafe { Header::from_task(task) })
}

/// Calls `f` with the facts of each of this thread's finished greenlets whose handles
/// live (kept only once `keep_finished` was called).
pub(crate) fn for_each_finished(mut f: impl FnMut(Facts)) {
    super::finished::for_each(|h| f(facts(h)));
}
