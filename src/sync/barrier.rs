//! `Barrier`: wait until `n` contexts have arrived.

use std::fmt;

use super::raw::{Ops, Raw, RawState, WaitList, no_abandon, wake_all};

struct BarrierState {
    n: usize,
    arrived: usize,
    waiters: WaitList,
}

impl RawState for BarrierState {
    fn guard_all(&mut self) {
        self.waiters.guard_all();
    }
}

static WAIT_OPS: Ops<BarrierState, (), ()> = Ops {
    list: |s| &mut s.waiters,
    // One that unwinds before the barrier opened no longer counts as arrived.
    cancel: |_, s| {
        s.arrived -= 1;
        Vec::new()
    },
    abandon: no_abandon,
};

/// Blocks contexts until `n` of them have called [`Barrier::wait`], then lets them
/// all go, and starts over (as std's `Barrier`).
///
/// A waiter killed before the barrier opens is no longer counted.
pub struct Barrier {
    raw: Raw<BarrierState>,
}

/// What [`Barrier::wait`] returns: one waiter of each round is the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// Whether this waiter was the last to arrive (exactly one per round is).
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` contexts (`n` of 0 or 1 never blocks).
    pub const fn new(n: usize) -> Barrier {
        Barrier {
            raw: Raw::new(BarrierState {
                n,
                arrived: 0,
                waiters: WaitList::new(),
            }),
        }
    }

    /// Blocks until `n` contexts have arrived.
    pub fn wait(&self) -> BarrierWaitResult {
        let mut st = self.raw.lock();
        st.arrived += 1;
        if st.arrived >= st.n {
            st.arrived = 0;
            let wakes = st.waiters.grant_all(|()| ());
            drop(st);
            wake_all(wakes);
            return BarrierWaitResult(true);
        }
        let r = self
            .raw
            .wait(st, (), "Barrier::wait", None, &WAIT_OPS, || ());
        debug_assert!(r.is_ok());
        BarrierWaitResult(false)
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Barrier { .. }")
    }
}
