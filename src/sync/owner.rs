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

/// Marks an owner tag in a primitive's affinity as *locked-mode*: the primitive was
/// first touched while owner mode was not available (off, or its registration still
/// running), so even its owner takes the mutex, for good, and revoking it needs no
/// barrier. Tags count up from 1 and never reach this bit.
pub(super) const LOCKED: u64 = 1 << 63;

const MODE_UNKNOWN: u8 = 0;
const MODE_ON: u8 = 1;
const MODE_OFF: u8 = 2;
/// Registration is running on a thread of its own (the load-time one did not run).
const MODE_PENDING: u8 = 3;
static OWNER_MODE: AtomicU8 = AtomicU8::new(MODE_UNKNOWN);

/// Whether a primitive touched for the first time now may use owner mode: the heavy
/// barrier is registered. Read once per primitive, at its first touch (the affinity
/// then records the answer: a plain tag or a `LOCKED` one). Acquire: a thread that
/// later reads a plain tag from that affinity also sees `MODE_ON`.
#[inline]
pub(super) fn owner_mode() -> bool {
    match OWNER_MODE.load(Ordering::Acquire) {
        MODE_ON => true,
        MODE_OFF | MODE_PENDING => false,
        _ => probe_owner_mode(),
    }
}

/// Turns owner mode off for the whole process, as on a kernel without `membarrier`,
/// so that tests can run the locked path. Must come before any primitive is used;
/// returns whether it took effect.
pub fn disable_owner_mode() -> bool {
    OWNER_MODE
        .compare_exchange(MODE_UNKNOWN, MODE_OFF, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
}

/// Decides the mode once per process. Normally the registration ran as the program
/// loaded (`sys::membarrier`), and this only records its answer. If it did not, the
/// registration runs on a thread of its own, since with other threads alive it waits
/// for an RCU grace period (5-15 ms): primitives first touched meanwhile are
/// locked-mode, and no call of the crate waits for it.
#[cold]
fn probe_owner_mode() -> bool {
    match membarrier::registered_at_load() {
        None => {
            register_in_background();
        }
        Some(on) => {
            let decided = if on { MODE_ON } else { MODE_OFF };
            let _ = OWNER_MODE.compare_exchange(
                MODE_UNKNOWN,
                decided,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }
    OWNER_MODE.load(Ordering::Acquire) == MODE_ON
}

/// Decides the mode as if the load-time registration had not run: registers on a
/// thread of its own, while primitives first touched meanwhile are locked-mode.
/// Returns false (and does nothing) if the mode was already decided.
pub fn register_in_background() -> bool {
    if OWNER_MODE
        .compare_exchange(
            MODE_UNKNOWN,
            MODE_PENDING,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        return false;
    }
    let spawned = std::thread::Builder::new()
        .name("greenlet-membarrier".into())
        .spawn(|| {
            let on = membarrier::register();
            OWNER_MODE.store(if on { MODE_ON } else { MODE_OFF }, Ordering::Release);
        });
    if spawned.is_err() {
        OWNER_MODE.store(MODE_OFF, Ordering::Release);
    }
    true
}

/// Whether primitives first touched now get owner mode (tests wait for it after
/// `register_in_background`).
pub fn owner_mode_on() -> bool {
    OWNER_MODE.load(Ordering::Acquire) == MODE_ON
}

/// What the registration as the program loaded found (`None`: it did not run).
pub fn registered_at_load() -> Option<bool> {
    membarrier::registered_at_load()
}

/// Makes every thread of the process that is running now execute a full memory
/// barrier before it returns (the heavy half of an asymmetric barrier).
pub(super) fn heavy_barrier() {
    if !membarrier::expedited() {
        // Registered successfully earlier; the kernel does not take that back.
        panic!("greenlet: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after registration");
    }
}
