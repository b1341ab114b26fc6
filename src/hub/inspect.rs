//! Looking inside a hub, on its own thread: its tasks and their wait states, its
//! counters, and (with `GREENLET_TRACE_PARKS=1`) where each parked context parked.
//! For the dump; nothing here is on a hot path but the one check in `park`.

use std::backtrace::Backtrace;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::ctx::Ctx;
use super::task::Task;
use super::{Hub, ParkState, ROOT};

/// One task as a look inside its hub sees it.
pub(crate) struct TaskView<'a> {
    pub(crate) task: &'a Task,
    pub(crate) wait: WaitView,
}

/// Where a context is, for a dump.
pub(crate) enum WaitView {
    /// Running now (it is the context that looks).
    Running,
    /// Queued to run (woken, yielded, or not started yet).
    Runnable,
    /// Parked, since about `for_` ago (never less than the truth).
    Parked {
        reason: &'static str,
        for_: Duration,
        /// Where it parked, with `GREENLET_TRACE_PARKS=1`.
        trace: Option<String>,
    },
}

/// A hub's counters, for a dump.
pub(crate) struct Counts {
    pub(crate) live: usize,
    pub(crate) timers: usize,
    pub(crate) io_waiters: usize,
    pub(crate) runnable: usize,
    pub(crate) longest_block: Duration,
}

/// Whether parks record a backtrace (`GREENLET_TRACE_PARKS=1`), read once.
pub(super) fn trace_parks() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("GREENLET_TRACE_PARKS").is_ok_and(|v| v == "1"))
}

impl Hub {
    /// Records where the running context parks (`GREENLET_TRACE_PARKS=1` only).
    #[cold]
    #[inline(never)]
    pub(super) fn record_park(&self, slot: u32, ctx: &Ctx) {
        let trace = Backtrace::force_capture();
        self.traces
            .borrow_mut()
            .get_or_insert_with(HashMap::new)
            .insert(slot, (ctx.epoch.get(), trace));
    }

    /// Calls `f` with every task of the hub, in slot order, and the root's wait
    /// state (if the root is parked, how long; `None` if it runs: it is the caller).
    pub(crate) fn inspect(&self, mut f: impl FnMut(TaskView<'_>)) -> WaitView {
        let now_ms = self.ms_since_born(Instant::now());
        let current = self.current_task().map(|t| t as *const Task);
        for task in self.slots.tasks() {
            let wait = if current == Some(&*task as *const Task) {
                WaitView::Running
            } else {
                self.wait_view(&task.ctx, task.slot(), now_ms)
            };
            f(TaskView { task: &task, wait });
        }
        if current.is_none() && self.current.get() == ROOT {
            WaitView::Running
        } else {
            self.wait_view(&self.root, ROOT, now_ms)
        }
    }

    fn wait_view(&self, ctx: &Ctx, slot: u32, now_ms: u32) -> WaitView {
        match ctx.state.get() {
            ParkState::Parked => {
                let ms = now_ms.wrapping_sub(ctx.parked_ms.get());
                let trace = self.traces.borrow().as_ref().and_then(|t| {
                    let (epoch, trace) = t.get(&slot)?;
                    (*epoch == ctx.epoch.get()).then(|| without_record_park(&trace.to_string()))
                });
                WaitView::Parked {
                    reason: ctx.reason.get(),
                    for_: Duration::from_millis(u64::from(ms)),
                    trace,
                }
            }
            ParkState::Running | ParkState::Notified => WaitView::Runnable,
        }
    }

    /// The hub's counters.
    pub(crate) fn counts(&self) -> Counts {
        Counts {
            live: self.pulse.live(),
            timers: self.timers.borrow().len(),
            io_waiters: self.reactor.waiters(),
            runnable: self.runq.len(),
            longest_block: self.pulse.longest_block(),
        }
    }
}

/// A park's backtrace without its first frame, `record_park` itself.
fn without_record_park(trace: &str) -> String {
    let mut lines = trace.lines().peekable();
    if lines.peek().is_some_and(|l| l.contains("record_park")) {
        lines.next();
        // Its source line, if the binary has debug info.
        if lines
            .peek()
            .is_some_and(|l| l.trim_start().starts_with("at "))
        {
            lines.next();
        }
    }
    lines.collect::<Vec<_>>().join("\n")
}
