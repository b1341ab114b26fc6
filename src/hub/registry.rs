//! Every hub alive in the process, for those who look at all of them from one place
//! (the dump, the blocking-hub monitor).

use std::thread::ThreadId;

use super::pulse::Pulse;
use super::waker::HubRef;
use crate::sys;

/// A hub as the registry knows it.
pub(crate) struct HubInfo {
    pub(crate) hub: HubRef,
    /// The hub's own `Pulse`: valid while the entry is in the registry (the hub
    /// unregisters, under the registry's lock, before it is freed).
    pub(crate) pulse: &'static Pulse,
    /// Its thread's name, if it has one.
    pub(crate) thread_name: Option<String>,
    pub(crate) thread_id: ThreadId,
    /// Its thread's kernel id.
    pub(crate) tid: i32,
}

static HUBS: parking_lot::Mutex<Vec<HubInfo>> = parking_lot::Mutex::new(Vec::new());

/// Adds the calling thread's new hub.
pub(super) fn register(hub: HubRef, pulse: &'static Pulse) {
    let thread = std::thread::current();
    HUBS.lock().push(HubInfo {
        hub,
        pulse,
        thread_name: thread.name().map(String::from),
        thread_id: thread.id(),
        tid: sys::thread::gettid(),
    });
}

/// Removes a hub that is exiting, before its memory goes.
pub(super) fn unregister(hub: HubRef) {
    HUBS.lock().retain(|h| h.hub != hub);
}

/// Runs `f` over every live hub, in the order they were made, with the registry
/// locked (so every `pulse` stays valid; `f` must not create or end a hub).
pub(crate) fn with_hubs<R>(f: impl FnOnce(&[HubInfo]) -> R) -> R {
    f(&HUBS.lock())
}
