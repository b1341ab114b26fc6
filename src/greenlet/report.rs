//! How greenlets appear in the reports of faults: the panic hook that names the
//! greenlet a panic happened in, and the lookup the stack-overflow report asks for
//! the running greenlet. Both are installed once per process, at the first spawn.

use std::panic;
use std::sync::Once;

use super::error::panic_message;
use super::raw::Header;
use crate::hub::Hub;
use crate::overflow::{self, RunningStack};

/// Installs the panic hook and the overflow lookup, once.
#[inline]
pub(super) fn install() {
    static ONCE: Once = Once::new();
    if !ONCE.is_completed() {
        ONCE.call_once(|| {
            install_panic_hook();
            // SAFETY: `running_stack` reads two thread-local cells and the running
            // greenlet's header, which its hub keeps alive while it runs; it
            // allocates nothing and takes no lock.
            unsafe { overflow::set_running_stack(running_stack) };
        });
    }
}

/// The running greenlet's stack, for the overflow report: reads only, so it is
/// async-signal-safe.
fn running_stack(f: &mut dyn FnMut(RunningStack<'_>)) {
    let task = Hub::running_task_for_signal();
    if task.is_null() {
        return;
    }
    // SAFETY: a non-null pointer is the task running on this thread, kept alive by its
    // hub's slab while it runs; every task is a greenlet's (`raw::create`).
    let h = unsafe { Header::from_task(&*task) };
    f(RunningStack {
        limit: h.task.stack_limit(),
        size: h.stack_size(),
        name: h.name().map(|n| &**n),
        id: h.id.as_u64(),
        spawned_at: h.spawned_at,
    });
}

/// A panic hook that names the greenlet a panic happened in and defers to the
/// previous hook for panics outside greenlets.
fn install_panic_hook() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let who = Hub::try_current()
            .and_then(|hub| hub.current_task())
            // SAFETY: every task is a greenlet's (`raw::create`).
            .map(|t| unsafe { Header::from_task(t) }.who().to_string());
        match who {
            Some(who) => {
                let msg = panic_message(info.payload()).unwrap_or("Box<dyn Any>");
                let location = info
                    .location()
                    .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                let backtrace = std::backtrace::Backtrace::capture();
                let bt = match backtrace.status() {
                    std::backtrace::BacktraceStatus::Captured => format!("\n{backtrace}"),
                    _ => "\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace".to_string(),
                };
                eprintln!(
                    "\n{who} on thread '{}' panicked{location}:\n{msg}{bt}",
                    std::thread::current().name().unwrap_or("<unnamed>")
                );
            }
            None => previous(info),
        }
    }));
}
