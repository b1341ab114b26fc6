//! The hub: one per OS thread, created lazily, running on the thread's own stack.
//!
//! The hub owns every task (greenlet) spawned on its thread, in a slab, so that a
//! task has a small `Copy` identity other threads can name; the run queue; the
//! timers; the mio `Poll` and the reactor's table of IO registrations. It is reached
//! through a thread-local raw pointer, never moved, and freed by a thread-local
//! guard when the thread exits.
//!
//! It owns the one wait/wake seam everything that blocks is built on: `park` (and
//! `park_until`, the one timed wait) blocks the running context, a [`Waker`] makes
//! it runnable again, from any thread; kills and deadlines are interrupts delivered
//! out of the park. It never names what is built on it. See `arch/hub.md`.
//!
//! Here: the hub itself, its creation and teardown. `run.rs`: the loop, `park` and
//! `yield_now`. `ctx.rs`: a context's wait state and the local half of a wake.
//! `waker.rs`: the cross-thread half. `timer.rs`: timers and `park_until`.
//! `interrupt.rs`: interrupts and their payloads. `deadlock.rs`: what may still wake
//! a waiting hub, and the report. `task.rs`: the hub's part of a greenlet.
//! `reactor.rs`: the IO table and its dispatch. `runq.rs`, `slab.rs`, `blocks.rs`:
//! the run queue, the slab and the cache of task allocations.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use crate::stack::StackPool;

mod blocks;
mod ctx;
mod deadlock;
pub(crate) mod inspect;
mod interrupt;
pub(crate) mod monitor;
mod pulse;
mod reactor;
pub(crate) mod registry;
mod run;
mod runq;
mod slab;
mod task;
mod timer;
mod waker;

pub(crate) use blocks::BlockCache;
use ctx::Ctx;
pub(crate) use ctx::ParkState;
pub(crate) use deadlock::UnguardedWait;
pub use interrupt::GreenletExit;
pub(crate) use interrupt::{Interrupt, is_timeout_payload};
use pulse::Pulse;
pub(crate) use reactor::{Direction, Reactor, ReactorShared};
use runq::RunQueue;
use slab::Slab;
pub(crate) use task::{Coro, Task, TaskRef, TaskVTable, release};
pub(crate) use timer::{TimerKey, deadline};
use waker::{FREE_SHARED, Inbox};
pub(crate) use waker::{HubRef, Shared};
pub use waker::{RemoteGuard, Waker};

/// The slot number that stands for the thread's own stack.
pub(crate) const ROOT: u32 = u32::MAX;
/// `current` while the hub's own machinery runs (between greenlets).
const HUB: u32 = u32::MAX - 1;

/// The token of the poll waker other threads wake the hub with.
const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

/// The hub. Every field but `shared` is touched by the hub's thread only (the hub
/// is `!Send`); they are `Cell`s and `RefCell`s, and no borrow is held across a
/// switch into a greenlet, so a greenlet may call back into the hub at any time.
pub(crate) struct Hub {
    /// The part other threads may touch (wakes, remote guards). Never freed.
    pub(crate) shared: &'static Shared,
    /// Which of the hubs that have used `shared` this one is: wakers and guards of
    /// an earlier one are ignored.
    pub(crate) incarnation: u32,
    /// Every live task; the slab index is its slot. Owner of the tasks: a task leaves
    /// when it finishes, or, if killed before it started while queued, when its queue
    /// entry is popped (a tombstone). A freed slot remembers the epoch its next task
    /// starts at (see `Slab`).
    slots: Slab,
    /// Contexts ready to run, FIFO: tasks, and the root's marker (whose turn ends the
    /// loop the root runs). A queued task is in the slab and queued once (see
    /// `RunQueue`).
    runq: RunQueue,
    /// The slot running now: a task's, `ROOT` on the thread's own stack, `HUB` while
    /// the loop's own code runs. Written only by the loop and the root's entry points.
    current: Cell<u32>,
    /// The running task (null outside tasks). Valid while it runs: the slab holds a
    /// count of it until the hub sees it finish.
    current_task: Cell<*const Task>,
    /// The thread's own stack, as a context.
    root: Ctx,
    /// Pending timers by (deadline, sequence). Changed by `timer.rs` only; no borrow
    /// is held while an action runs.
    timers: RefCell<BTreeMap<TimerKey, timer::TimerAction>>,
    /// The sequence number of the next timer.
    timer_seq: Cell<u64>,
    /// The epoll instance; borrowed only for the duration of one poll.
    poll: RefCell<mio::Poll>,
    /// The poll's event buffer, reused.
    events: RefCell<mio::Events>,
    /// The IO registrations and their waiters.
    pub(crate) reactor: Reactor,
    /// Waits registered without a `RemoteGuard` (see `deadlock.rs`), counted by
    /// `UnguardedWait`.
    unguarded_waits: Cell<usize>,
    /// Free greenlet stacks, by size. Borrowed briefly by spawn, start and finish.
    pub(crate) stacks: RefCell<StackPool>,
    /// Freed task allocations, for reuse by the next spawn.
    pub(crate) blocks: BlockCache,
    /// Set while the thread exits and remaining greenlets are unwound.
    shutting_down: Cell<bool>,
    /// What other threads may read of the hub's activity (its resume count, whether
    /// it waits in its poll, its longest block): atomics, written by this thread only.
    pulse: Pulse,
    /// `pulse.resumes` as of the last maintenance: the loop maintains again after
    /// `BUDGET` more resumes (see `run.rs`).
    maintained_at: Cell<u64>,
    /// When the hub was made: the origin of its coarse clock.
    born: Instant,
    /// Milliseconds since `born` as of the last maintenance: a clock a park can read
    /// for free (`Ctx::parked_ms`), early by at most one maintenance interval.
    coarse_ms: Cell<u32>,
    /// When the hub last looked at its timers and IO (or came back from its poll):
    /// the start of the current stretch of running (see `Pulse::longest_block_us`).
    last_look: Cell<Instant>,
    /// Whether each park records a backtrace (`GREENLET_TRACE_PARKS=1`).
    trace_parks: bool,
    /// With `trace_parks`: each context's last park, by slot, with its epoch.
    traces: RefCell<Option<std::collections::HashMap<u32, (u32, std::backtrace::Backtrace)>>>,
}

thread_local! {
    static HUB_PTR: Cell<*const Hub> = const { Cell::new(ptr::null()) };
    static HUB_GUARD: HubGuard = const { HubGuard };
    static HUB_DEAD: Cell<bool> = const { Cell::new(false) };
}

/// Frees the thread's hub when the thread exits.
struct HubGuard;

impl Drop for HubGuard {
    fn drop(&mut self) {
        let p = HUB_PTR.with(|c| c.get());
        if p.is_null() {
            return;
        }
        // SAFETY: a non-null pointer is this thread's live hub.
        if unsafe { (*p).current.get() } != ROOT {
            // The thread is exiting from inside a greenlet or the hub's own machinery
            // (`std::process::exit` runs thread-local destructors right there): the
            // running greenlet's coroutine is borrowed and its stack is the one we
            // stand on. Leave the hub as it is; the process or thread is ending.
            return;
        }
        // SAFETY: the pointer came from Box::into_raw in `Hub::create` and is freed
        // only here, once, after the teardown below has stopped every greenlet.
        unsafe {
            (*p).teardown();
            HUB_PTR.with(|c| c.set(ptr::null()));
            HUB_DEAD.with(|c| c.set(true));
            drop(Box::from_raw(p as *mut Hub));
        }
    }
}

impl Hub {
    /// The calling thread's hub, created on first use.
    #[inline]
    pub(crate) fn current() -> &'static Hub {
        match Self::try_current() {
            Some(hub) => hub,
            None => Self::create(),
        }
    }

    /// The calling thread's hub if it has one.
    #[inline]
    pub(crate) fn try_current() -> Option<&'static Hub> {
        let p = HUB_PTR.try_with(|c| c.get()).unwrap_or(ptr::null());
        // SAFETY: a non-null pointer is a live hub of this thread: it is freed only by
        // the thread-local guard, which nulls the pointer first. The `'static` is a
        // white lie bounded by the thread's life, and `Hub` is !Send, so the reference
        // cannot leave the thread.
        unsafe { p.as_ref() }
    }

    #[cold]
    fn create() -> &'static Hub {
        if HUB_DEAD.try_with(|d| d.get()).unwrap_or(true) {
            panic!("greenlet: this thread's hub has already been destroyed (thread exiting)");
        }
        crate::overflow::install();
        let hub = Box::new(Hub::new().unwrap_or_else(|e| {
            panic!("greenlet: cannot create the hub's event loop (mio::Poll): {e}")
        }));
        let p = Box::into_raw(hub);
        HUB_PTR.with(|c| c.set(p));
        HUB_GUARD.with(|_| {});
        // SAFETY: just created, and freed only by the thread-local guard.
        let hub: &'static Hub = unsafe { &*p };
        // The pulse lives as long as the hub, which unregisters before it is freed.
        registry::register(HubRef::of(hub), &hub.pulse);
        monitor::start_from_env();
        hub
    }

    fn new() -> io::Result<Hub> {
        let poll = mio::Poll::new()?;
        let poll_waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        // The reactor registers fds through its own clone of the registry.
        let reactor = Reactor::new(poll.registry())?;
        let recycled = FREE_SHARED.lock().pop();
        let shared: &'static Shared = recycled.unwrap_or_else(|| {
            Box::leak(Box::new(Shared {
                inbox: parking_lot::Mutex::new(Inbox {
                    incarnation: 0,
                    poll_waker: None,
                    wakes: Vec::new(),
                    jobs: Vec::new(),
                }),
                pending: AtomicBool::new(false),
                remote_guards: AtomicUsize::new(0),
                waiting_forever: AtomicBool::new(false),
            }))
        });
        let incarnation = {
            let mut inbox = shared.inbox.lock();
            inbox.incarnation = inbox.incarnation.wrapping_add(1);
            inbox.poll_waker = Some(poll_waker);
            inbox.wakes.clear();
            inbox.jobs.clear();
            shared.pending.store(false, Ordering::Release);
            shared.remote_guards.store(0, Ordering::SeqCst);
            shared.waiting_forever.store(false, Ordering::Release);
            inbox.incarnation
        };
        Ok(Hub {
            shared,
            incarnation,
            slots: Slab::new(),
            runq: RunQueue::new(),
            current: Cell::new(ROOT),
            current_task: Cell::new(ptr::null()),
            root: Ctx::new(),
            timers: RefCell::new(BTreeMap::new()),
            timer_seq: Cell::new(0),
            poll: RefCell::new(poll),
            events: RefCell::new(mio::Events::with_capacity(1024)),
            reactor,
            unguarded_waits: Cell::new(0),
            stacks: RefCell::new(StackPool::new()),
            blocks: BlockCache::default(),
            shutting_down: Cell::new(false),
            pulse: Pulse::default(),
            maintained_at: Cell::new(0),
            born: Instant::now(),
            coarse_ms: Cell::new(0),
            last_look: Cell::new(Instant::now()),
            trace_parks: inspect::trace_parks(),
            traces: RefCell::new(None),
        })
    }

    /// A waker for the current wait of the running context.
    #[inline]
    pub(crate) fn waker(&self) -> Waker {
        let (slot, ctx) = match self.current_task() {
            Some(t) => (t.slot(), &t.ctx),
            None => (ROOT, &self.root),
        };
        Waker {
            shared: self.shared,
            incarnation: self.incarnation,
            slot,
            epoch: ctx.epoch.get(),
        }
    }

    /// Whether the running context may park now: false inside the hub's own
    /// machinery and while the hub shuts down, where blocking panics. For callers
    /// that must not panic (hooked libc calls), which then block the thread instead.
    #[inline]
    #[cfg_attr(not(feature = "monkey"), allow(dead_code))]
    pub(crate) fn can_park(&self) -> bool {
        self.current.get() != HUB && !self.shutting_down.get()
    }

    /// Whether the hub is unwinding its greenlets because the thread exits.
    #[inline]
    #[cfg_attr(not(feature = "monkey"), allow(dead_code))]
    pub(crate) fn shutting_down(&self) -> bool {
        self.shutting_down.get()
    }

    /// Unwinds every greenlet left when the thread exits.
    fn teardown(&self) {
        registry::unregister(HubRef::of(self));
        self.shutting_down.set(true);
        self.current.set(HUB);
        let tasks: Vec<TaskRef> = self.slots.drain();
        self.runq.clear();
        self.timers.borrow_mut().clear();
        self.abandon_all(&tasks);
        drop(tasks);
        let mut inbox = self.shared.inbox.lock();
        inbox.poll_waker = None;
        inbox.wakes.clear();
        let jobs = std::mem::take(&mut inbox.jobs);
        inbox.incarnation = inbox.incarnation.wrapping_add(1);
        drop(inbox);
        // Jobs sent before the hub closed its inbox never run: dropping them, outside
        // the lock, is how their senders learn it (their captures' `Drop`s).
        drop(jobs);
        FREE_SHARED.lock().push(self.shared);
    }

    /// Counts for tests and diagnostics.
    pub(crate) fn stats(&self) -> HubStats {
        HubStats {
            live: self.pulse.live(),
            timers: self.timers.borrow().len(),
            runnable: self.runq.len(),
        }
    }
}

/// Counts describing a hub, for tests and diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubStats {
    /// Greenlets spawned and not finished.
    pub live: usize,
    /// Pending timers (sleeps, timeouts, `spawn_later` starts).
    pub timers: usize,
    /// Greenlets in the run queue.
    pub runnable: usize,
}
