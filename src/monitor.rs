//! The blocking-hub monitor (gevent's `GEVENT_MONITOR_THREAD_ENABLE`): one thread for
//! the whole process watches every hub, and when a greenlet (or a thread's own stack)
//! has kept its hub longer than `max_blocking` without giving way, it prints, once per
//! episode, to stderr, which hub, which greenlet (name, id, spawn site) and for how
//! long; [`on_block`] sends the same facts to your own code.
//!
//! ```no_run
//! use std::time::Duration;
//! greenlet::monitor::start(Duration::from_millis(100));
//! greenlet::monitor::on_block(|report| {
//!     eprintln!("blocked {:?} by {:?}", report.blocked_for, report.greenlet);
//! });
//! ```
//!
//! `GREENLET_MONITOR=100ms` in the environment starts it at the first use of the
//! crate. A hub that waits in its poll (idle) is never reported, nor one with no
//! greenlet alive. The report names the running greenlet by asking its thread with a
//! `SIGURG` (whose default action is to ignore it); it carries no backtrace, which a
//! signal handler cannot take soundly (see `arch/hub.md`, "The monitor").

use std::panic::Location;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;

use crate::GreenletId;
use crate::hub::monitor as raw;

/// Starts the monitor with `max_blocking` as its threshold (once per process; a later
/// call changes the threshold). gevent's default is 100 ms.
pub fn start(max_blocking: Duration) {
    raw::start(max_blocking);
}

/// Calls `f` on the monitor's thread for each blocked episode it reports (after its
/// line on stderr). `f` should be quick: the monitor samples again after it.
pub fn on_block(f: impl Fn(&BlockReport) + Send + Sync + 'static) {
    raw::on_block(Arc::new(move |b: &raw::RawBlock| f(&BlockReport::from(b))));
}

/// One episode of a blocked hub.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BlockReport {
    /// The hub's thread's name.
    pub thread_name: Option<String>,
    /// The hub's thread.
    pub thread_id: ThreadId,
    /// The greenlet that ran; `None` for the thread's own stack (or if the thread
    /// did not answer the monitor's probe: then `answered` is false).
    pub greenlet: Option<GreenletId>,
    /// Its name, if it has one (cut to 48 bytes).
    pub name: Option<String>,
    /// Where it was spawned.
    pub spawned_at: Option<&'static Location<'static>>,
    /// Whether the blocked thread answered the probe (so `greenlet` is known).
    pub answered: bool,
    /// How long the hub had gone without a switch when it was reported.
    pub blocked_for: Duration,
    /// The threshold it passed.
    pub max_blocking: Duration,
}

impl From<&raw::RawBlock> for BlockReport {
    fn from(b: &raw::RawBlock) -> BlockReport {
        BlockReport {
            thread_name: b.thread_name.clone(),
            thread_id: b.thread_id,
            greenlet: b.greenlet.map(GreenletId::from_u64),
            name: b.name.clone(),
            spawned_at: b.spawned_at,
            answered: b.answered,
            blocked_for: b.blocked_for,
            max_blocking: b.threshold,
        }
    }
}

impl std::fmt::Display for BlockReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let raw = raw::RawBlock {
            thread_name: self.thread_name.clone(),
            thread_id: self.thread_id,
            tid: 0,
            greenlet: self.greenlet.map(|g| g.as_u64()),
            name: self.name.clone(),
            spawned_at: self.spawned_at,
            answered: self.answered,
            blocked_for: self.blocked_for,
            threshold: self.max_blocking,
        };
        f.write_str(&raw::describe(&raw))
    }
}
