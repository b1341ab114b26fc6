//! Owner mode's process-wide parts: the per-thread tag a primitive's affinity
//! records, whether the kernel gives us the heavy barrier owner mode needs, and that
//! barrier (`membarrier`). The protocol itself is `Raw`'s (`raw.rs`, and
//! `arch/sync.md`, "Owner mode").

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::sys::membarrier;

/// Stands for "two or more threads have touched this primitive".
pub(super) const SHARED: u64 = u64::MAX;

/// A small number per thread, never 0; cheaper than `ThreadId`. `SHARED` once the
/// thread's locals are gone (it is exiting): such a thread owns nothing.
#[inline]
pub(super) fn thread_tag() -> u64 {
    thread_local! { static TAG: Cell<u64> = const { Cell::new(0) }; }
    TAG.try_with(|t| {
        let v = t.get();
        if v != 0 { v } else { new_tag(t) }
    })
    .unwrap_or(SHARED)
}

#[cold]
fn new_tag(t: &Cell<u64>) -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let v = NEXT.fetch_add(1, Ordering::Relaxed);
    t.set(v);
    v
}

const MODE_UNKNOWN: u8 = 0;
const MODE_ON: u8 = 1;
const MODE_OFF: u8 = 2;
static OWNER_MODE: AtomicU8 = AtomicU8::new(MODE_UNKNOWN);

/// Whether owner mode is available: it needs the heavy barrier. Decided once per
/// process, the same way by every thread (a kernel capability).
#[inline]
pub(super) fn owner_mode() -> bool {
    match OWNER_MODE.load(Ordering::Relaxed) {
        MODE_ON => true,
        MODE_OFF => false,
        _ => probe_owner_mode(),
    }
}

/// Turns owner mode off for the whole process, as on a kernel without `membarrier`,
/// so that tests can run the locked path. Must come before any primitive is used;
/// returns whether it took effect.
pub fn disable_owner_mode() -> bool {
    OWNER_MODE
        .compare_exchange(MODE_UNKNOWN, MODE_OFF, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
}

#[cold]
fn probe_owner_mode() -> bool {
    let on = membarrier::register();
    OWNER_MODE.store(if on { MODE_ON } else { MODE_OFF }, Ordering::Relaxed);
    on
}

/// Makes every thread of the process that is running now execute a full memory
/// barrier before it returns (the heavy half of an asymmetric barrier).
pub(super) fn heavy_barrier() {
    if !membarrier::expedited() {
        // Registered successfully earlier; the kernel does not take that back.
        panic!("greenlet: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after registration");
    }
}
