//! Greenlet ids, and how a greenlet is named in messages.

use std::cell::Cell;
use std::fmt;

/// A process-unique greenlet number. The thread's own stack has one too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GreenletId(u64);

thread_local! {
    /// This thread's share of the ids, `[next, end)`: ids are taken from the
    /// process-wide counter in blocks, so a spawn costs no atomic.
    static IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

impl GreenletId {
    /// A new id, unique in the process.
    #[inline]
    pub(crate) fn next() -> GreenletId {
        IDS.with(|range| {
            let (next, end) = range.get();
            if next == end {
                return Self::refill(range);
            }
            range.set((next + 1, end));
            GreenletId(next)
        })
    }

    #[cold]
    fn refill(range: &Cell<(u64, u64)>) -> GreenletId {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);
        const BLOCK: u64 = 1024;
        let next = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
        range.set((next + 1, next + BLOCK));
        GreenletId(next)
    }

    /// The id whose number is `n` (as other layers carry it).
    pub(crate) fn from_u64(n: u64) -> GreenletId {
        GreenletId(n)
    }

    /// The number itself.
    pub fn as_u64(&self) -> u64 {
        self.0
    }
}

impl fmt::Display for GreenletId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A greenlet as messages name it: `greenlet 'name' (#3)`, or `greenlet #3`.
pub(crate) struct Who<'a> {
    pub(crate) id: GreenletId,
    pub(crate) name: Option<&'a str>,
}

impl fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            Some(n) => write!(f, "greenlet '{n}' ({})", self.id),
            None => write!(f, "greenlet {}", self.id),
        }
    }
}
