//! What other threads may read of a hub's activity.

use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};

/// A hub's activity as other threads see it (the blocking-hub monitor, dumps): a
/// field of the hub, written by its thread only with relaxed stores, and read by
/// other threads through the registry (`registry.rs`), which holds a reference to it
/// only while the hub lives.
#[derive(Debug, Default)]
pub(crate) struct Pulse {
    /// Bumped at every resume of a task: the one store a switch costs. Unchanged over
    /// a while, with the hub not in its poll, means one context has run all along.
    pub(crate) resumes: AtomicU64,
    /// Set while the hub waits in its poll for something to happen (it is idle).
    pub(crate) polling: AtomicBool,
    /// Tasks spawned and not finished (`hub_stats().live`).
    live: AtomicUsize,
    /// The longest the hub has gone, so far, between two looks at its timers and IO
    /// while running: the longest a greenlet (or the root) kept it, in microseconds.
    pub(crate) longest_block_us: AtomicU64,
    /// The monitor's question to the thread (a number it bumps, then signals) and the
    /// answer the thread writes in its signal handler (see `monitor.rs`).
    pub(crate) probe: Probe,
}

/// What the hub's thread was running when the monitor asked, written by its probe
/// handler: the fields, then `answered` (Release) set to the number asked.
#[derive(Debug)]
pub(crate) struct Probe {
    pub(crate) asked: AtomicU64,
    pub(crate) answered: AtomicU64,
    /// The running greenlet's id, 0 for the thread's own stack.
    pub(crate) id: AtomicU64,
    /// Its spawn site (null for the root).
    pub(crate) site: AtomicPtr<Location<'static>>,
    /// Its name, cut to `NAME` bytes (`name_len` of them are valid).
    pub(crate) name: [AtomicU8; NAME],
    pub(crate) name_len: AtomicU8,
}

/// How much of a greenlet's name a probe answer carries.
pub(crate) const NAME: usize = 48;

impl Default for Probe {
    fn default() -> Probe {
        Probe {
            asked: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            id: AtomicU64::new(0),
            site: AtomicPtr::new(std::ptr::null_mut()),
            name: std::array::from_fn(|_| AtomicU8::new(0)),
            name_len: AtomicU8::new(0),
        }
    }
}

impl Pulse {
    /// The resume count.
    pub(crate) fn resumes(&self) -> u64 {
        self.resumes.load(Ordering::Relaxed)
    }

    /// Whether the hub waits in its poll.
    pub(crate) fn polling(&self) -> bool {
        self.polling.load(Ordering::Relaxed)
    }

    /// Tasks spawned and not finished.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// By the hub's thread only: a plain read-modify-write.
    #[inline]
    pub(super) fn add_live(&self, delta: isize) {
        let n = self.live.load(Ordering::Relaxed);
        self.live
            .store(n.wrapping_add_signed(delta), Ordering::Relaxed);
    }

    /// The longest block so far.
    pub(crate) fn longest_block(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.longest_block_us.load(Ordering::Relaxed))
    }
}
