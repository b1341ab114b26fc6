//! Who is running: `current()`, the id the thread's own stack goes by, and the hook
//! other layers use to drop what they keep per greenlet when it finishes.

use std::cell::Cell;
use std::fmt;
use std::panic;
use std::rc::Rc;
use std::sync::OnceLock;

use super::id::GreenletId;
use super::raw::Header;
use crate::hub::Hub;

/// Who is running: a greenlet, or the thread outside any greenlet.
#[derive(Clone, Debug)]
pub struct Current {
    id: GreenletId,
    name: Option<Rc<str>>,
    greenlet: bool,
}

impl Current {
    /// The greenlet's id; outside a greenlet, an id standing for the thread.
    pub fn id(&self) -> GreenletId {
        self.id
    }

    /// The greenlet's name; outside a greenlet, the thread's name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether this is a greenlet (false for the thread's own stack).
    pub fn is_greenlet(&self) -> bool {
        self.greenlet
    }
}

impl fmt::Display for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.greenlet { "Greenlet" } else { "Thread" };
        match &self.name {
            Some(n) => write!(f, "<{kind} '{n}' {}>", self.id),
            None => write!(f, "<{kind} {}>", self.id),
        }
    }
}

/// The running greenlet, or the thread when called outside one.
pub fn current() -> Current {
    match running_header() {
        Some(h) => Current {
            id: h.id,
            name: h.name().cloned(),
            greenlet: true,
        },
        None => Current {
            id: root_id(),
            name: std::thread::current().name().map(Rc::from),
            greenlet: false,
        },
    }
}

/// The id of the running greenlet, or of the thread outside greenlets.
pub(crate) fn current_id() -> GreenletId {
    id_on(Hub::current())
}

/// `current_id`, with this thread's hub in hand.
#[inline]
pub(super) fn id_on(hub: &Hub) -> GreenletId {
    match hub.current_task() {
        // SAFETY: every task is a greenlet's (`raw::create`).
        Some(task) => unsafe { Header::from_task(task) }.id,
        None => root_id(),
    }
}

/// The running greenlet's header.
fn running_header() -> Option<&'static Header> {
    let task = Hub::current().current_task()?;
    // SAFETY: every task is a greenlet's (`raw::create`).
    Some(unsafe { Header::from_task(task) })
}

/// The id this thread's own stack goes by.
pub(crate) fn root_id_here() -> GreenletId {
    root_id()
}

/// The id the thread's own stack goes by, taken on first use.
#[inline]
fn root_id() -> GreenletId {
    thread_local! { static ROOT: Cell<Option<GreenletId>> = const { Cell::new(None) }; }
    ROOT.with(|r| match r.get() {
        Some(id) => id,
        None => first_root_id(r),
    })
}

#[cold]
fn first_root_id(r: &Cell<Option<GreenletId>>) -> GreenletId {
    let id = GreenletId::next();
    r.set(Some(id));
    id
}

/// Called with the id of each greenlet that finishes, on its own stack, after its
/// function returned: set once by a layer that keeps values per greenlet.
static ON_FINISH: OnceLock<fn(GreenletId)> = OnceLock::new();

/// Registers the finish hook (once per process; a second, different hook panics).
pub(crate) fn on_finish(hook: fn(GreenletId)) {
    let set = ON_FINISH.get_or_init(|| hook);
    assert!(
        std::ptr::fn_addr_eq(*set, hook),
        "greenlet: one finish hook only"
    );
}

/// Runs the finish hook, if any, for a greenlet finishing now. A panic in it is
/// caught: the greenlet has its result already.
#[inline]
pub(super) fn run_finish_hook(id: GreenletId) {
    if let Some(hook) = ON_FINISH.get() {
        let _ = panic::catch_unwind(|| hook(id));
    }
}
