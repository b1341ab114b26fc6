//! The hub: one per OS thread, created lazily, running on the thread's own stack.
//!
//! The hub owns every greenlet spawned on its thread (in a slab, so that a greenlet
//! has a small `Copy` identity that other threads can name), the run queue, the
//! timers and the mio `Poll`. It is reached through a thread-local raw pointer, never
//! moved, and freed by a thread-local guard when the thread exits.
//!
//! Code that blocks goes through [`park`]: a greenlet suspends back to whoever resumed
//! it (the hub loop); code on the thread's own stack (the *root*) runs the hub loop
//! until it has been woken. Everything that wakes goes through [`Waker::wake`]. That
//! pair is the one wait/wake seam: see `arch/hub.md`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::greenlet::{GreenletId, Header, TaskRef};
use crate::stack::StackPool;

mod blocks;
mod ctx;
mod runq;
mod slab;
mod wake;

pub(crate) use blocks::BlockCache;
use ctx::wake_ctx;
pub(crate) use ctx::{Ctx, Interrupt, State};
pub(crate) use runq::Link;
use runq::RunQueue;
use slab::Slab;
pub(crate) use wake::Shared;
use wake::{FREE_SHARED, Remote};
pub use wake::{RemoteGuard, Waker};

/// The slot number that stands for the thread's own stack.
pub(crate) const ROOT: u32 = u32::MAX;
/// `current` while the hub's own machinery runs (between greenlets).
const HUB: u32 = u32::MAX - 1;

/// How many greenlets run between two looks at the clock, the inbox and the poller
/// while the run queue stays non-empty.
const BUDGET: u32 = 64;

const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

/// What a timer does when it fires.
pub(crate) enum TimerAction {
    /// Wake one wait.
    Wake(Waker),
    /// Interrupt a context's current wait with a timeout.
    Interrupt { slot: u32, id: u64 },
    /// Start a greenlet spawned with `spawn_later`.
    Start(u32),
}

pub(crate) type TimerKey = (Instant, u64);

/// The hub. Fields are `Cell`/`RefCell`: only this thread touches them, and no
/// borrow is ever held across a switch into a greenlet.
pub(crate) struct Hub {
    pub(crate) shared: &'static Shared,
    pub(crate) incarnation: u32,
    /// Every live greenlet of this hub; the slab index is its slot. Owner: the hub.
    /// A freed slot remembers the epoch its next greenlet starts at (see `Slab`).
    slots: Slab,
    /// Contexts ready to run, FIFO: a greenlet, or `None` for the root (whose turn
    /// ends the loop it runs). Invariant: a queued greenlet is in the slab (its Rc
    /// keeps the pointer valid): greenlets leave the slab only when they finish,
    /// which never happens while queued, or when killed before starting, in which
    /// case the slot is kept (a tombstone) until its queue entry is popped.
    runq: RunQueue,
    /// The slot running now, `ROOT` on the thread's own stack, `HUB` in the loop.
    current: Cell<u32>,
    /// The header of the running greenlet (null outside greenlets). Valid while it
    /// runs: the slab holds its `Rc` until the hub sees it finish.
    current_header: Cell<*const Header>,
    /// The thread's own stack, as a context.
    pub(crate) root: Ctx,
    pub(crate) root_id: GreenletId,
    timers: RefCell<BTreeMap<TimerKey, TimerAction>>,
    timer_seq: Cell<u64>,
    poll: RefCell<mio::Poll>,
    events: RefCell<mio::Events>,
    /// IO registrations and their waiters (owned by `reactor/`; events are handed
    /// to it by `poll_io`).
    pub(crate) reactor: crate::reactor::Reactor,
    /// Registered IO sources that keep the hub alive (used by `net`).
    pub(crate) io_refs: Cell<usize>,
    /// Greenlets spawned and not finished.
    live: Cell<usize>,
    pub(crate) stacks: RefCell<StackPool>,
    /// Freed greenlet allocations, for reuse by the next spawn.
    pub(crate) blocks: BlockCache,
    /// Set while the thread exits and remaining greenlets are unwound.
    shutting_down: Cell<bool>,
    since_maintenance: Cell<u32>,
    /// Counts finished greenlets, to order them for `JoinAll`.
    finish_seq: Cell<u64>,
    /// This hub's share of the greenlet ids, `[next, end)` (see `GreenletId`).
    ids: Cell<(u64, u64)>,
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
        // SAFETY: the pointer came from Box::into_raw in `Hub::current` and is freed
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
        crate::greenlet::install_panic_hook();
        let hub = Box::new(Hub::new().unwrap_or_else(|e| {
            panic!("greenlet: cannot create the hub's event loop (mio::Poll): {e}")
        }));
        let p = Box::into_raw(hub);
        HUB_PTR.with(|c| c.set(p));
        HUB_GUARD.with(|_| {});
        // SAFETY: just created, and freed only by the thread-local guard.
        unsafe { &*p }
    }

    fn new() -> io::Result<Hub> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        // The reactor registers fds through its own clone of the registry.
        let reactor = crate::reactor::Reactor::new(poll.registry())?;
        let recycled = FREE_SHARED.lock().pop();
        let shared: &'static Shared = recycled.unwrap_or_else(|| {
            Box::leak(Box::new(Shared {
                remote: parking_lot::Mutex::new(Remote {
                    incarnation: 0,
                    waker: None,
                    wakes: Vec::new(),
                }),
                pending: AtomicBool::new(false),
                external: AtomicUsize::new(0),
                waiting_forever: AtomicBool::new(false),
            }))
        });
        let incarnation = {
            let mut remote = shared.remote.lock();
            remote.incarnation = remote.incarnation.wrapping_add(1);
            remote.waker = Some(waker);
            remote.wakes.clear();
            shared.pending.store(false, Ordering::Release);
            shared.external.store(0, Ordering::SeqCst);
            shared.waiting_forever.store(false, Ordering::Release);
            remote.incarnation
        };
        let ids = Cell::new((0, 0));
        Ok(Hub {
            root_id: GreenletId::next_from(&ids),
            ids,
            shared,
            incarnation,
            slots: Slab::new(),
            runq: RunQueue::new(),
            current: Cell::new(ROOT),
            current_header: Cell::new(ptr::null()),
            root: Ctx::new(),
            timers: RefCell::new(BTreeMap::new()),
            timer_seq: Cell::new(0),
            poll: RefCell::new(poll),
            reactor,
            events: RefCell::new(mio::Events::with_capacity(1024)),
            io_refs: Cell::new(0),
            live: Cell::new(0),
            stacks: RefCell::new(StackPool::new()),
            blocks: BlockCache::default(),
            shutting_down: Cell::new(false),
            since_maintenance: Cell::new(0),
            finish_seq: Cell::new(0),
        })
    }

    // ---- contexts -------------------------------------------------------------

    /// The header of the running greenlet, or `None` on the thread's own stack.
    #[inline]
    pub(crate) fn current_header(&self) -> Option<&Header> {
        // SAFETY: see the field's rule: non-null only while that greenlet runs, and
        // its Rc is held by the slab until the hub sees it finish.
        unsafe { self.current_header.get().as_ref() }
    }

    #[inline]
    fn ctx(&self, slot: u32) -> Option<Ctx_<'_>> {
        if slot == ROOT {
            return Some(Ctx_::Root(&self.root));
        }
        let task = self.slots.get(slot)?.clone();
        Some(Ctx_::Task(task))
    }

    /// A waker for the current wait of the running context.
    #[inline]
    pub(crate) fn waker(&self) -> Waker {
        let (slot, ctx) = match self.current_header() {
            Some(h) => (h.slot.get(), &h.ctx),
            None => (ROOT, &self.root),
        };
        Waker {
            shared: self.shared,
            incarnation: self.incarnation,
            slot,
            epoch: ctx.epoch.get(),
        }
    }

    /// The slot of the running context (`ROOT` on the thread's stack).
    pub(crate) fn current_slot(&self) -> u32 {
        match self.current_header() {
            Some(h) => h.slot.get(),
            None => ROOT,
        }
    }

    #[inline]
    fn wake_local(&self, slot: u32, epoch: u32) {
        if slot == ROOT {
            wake_ctx(&self.root, epoch, || self.runq.push_root());
            return;
        }
        let Some(task) = self.slots.get(slot) else {
            return;
        };
        let ctx = &task.header().ctx;
        wake_ctx(ctx, epoch, || self.runq.push(task.header()));
    }

    /// Makes a context runnable whatever its epoch: used to deliver interrupts.
    pub(crate) fn force_wake(&self, slot: u32) {
        match self.ctx(slot) {
            Some(Ctx_::Root(ctx)) => self.wake_local(ROOT, ctx.epoch.get()),
            Some(Ctx_::Task(task)) => self.wake_local(slot, task.header().ctx.epoch.get()),
            None => {}
        }
    }

    /// Delivers an interrupt to a context and wakes it if it is parked.
    pub(crate) fn interrupt(&self, slot: u32, int: Interrupt) {
        let due = match self.ctx(slot) {
            Some(Ctx_::Root(ctx)) => {
                ctx.set_interrupt(int);
                ctx.interrupt_due()
            }
            Some(Ctx_::Task(task)) => {
                let ctx = &task.header().ctx;
                ctx.set_interrupt(int);
                ctx.interrupt_due()
            }
            None => return,
        };
        if due {
            self.force_wake(slot);
        }
    }

    /// Ends an interrupt's unwinding: called when its payload is dropped.
    fn end_unwinding(&self, slot: u32, seq: u64) {
        let clear = |ctx: &Ctx| {
            if ctx.unwinding.get() == seq {
                ctx.unwinding.set(0);
            }
        };
        match self.ctx(slot) {
            Some(Ctx_::Root(ctx)) => clear(ctx),
            Some(Ctx_::Task(task)) => clear(&task.header().ctx),
            None => {}
        }
    }

    // ---- greenlets --------------------------------------------------------------

    /// Puts a new greenlet in the slab; it runs when `schedule` is called for it.
    #[inline]
    pub(crate) fn insert(&self, task: TaskRef) -> u32 {
        let header: *const Header = task.header();
        let (slot, epoch) = self.slots.insert(task);
        // SAFETY: the slab now holds the reference `task` was, so the header lives.
        let header = unsafe { &*header };
        header.ctx.epoch.set(epoch);
        header.slot.set(slot);
        self.live.set(self.live.get() + 1);
        slot
    }

    /// A new greenlet id.
    #[inline]
    pub(crate) fn next_id(&self) -> GreenletId {
        GreenletId::next_from(&self.ids)
    }

    /// Appends a greenlet that is in the slab (and not queued) to the run queue.
    #[inline]
    pub(crate) fn enqueue(&self, header: &Header) {
        self.runq.push(header);
    }

    /// Appends a greenlet of the slab to the run queue.
    #[inline]
    pub(crate) fn schedule(&self, slot: u32) {
        if let Some(task) = self.slots.get(slot) {
            self.runq.push(task.header());
        }
    }

    /// Removes a finished greenlet from the slab.
    #[inline]
    pub(crate) fn remove(&self, slot: u32) -> Option<TaskRef> {
        let task = self.slots.remove(slot)?;
        self.live.set(self.live.get() - 1);
        Some(task)
    }

    #[inline(always)]
    fn run_one(&self, ptr: NonNull<Header>) {
        // SAFETY: a queued greenlet is in the slab, whose Rc keeps it alive at least
        // until `remove` below (see the `runq` invariant).
        let header = unsafe { ptr.as_ref() };
        let slot = header.slot.get();
        if header.status.get() == crate::greenlet::Status::Finished {
            // Killed before it ever ran: reap the slot its queue entry kept.
            drop(self.remove(slot));
            return;
        }
        self.current.set(slot);
        self.current_header.set(header as *const Header);
        let finished = header.resume(self);
        self.current.set(HUB);
        self.current_header.set(ptr::null());
        if finished {
            // Takes the slab's Rc (the handle may hold another), which keeps the
            // greenlet alive until `finish` is done.
            if let Some(task) = self.remove(slot) {
                task.header().finish(self);
            }
        }
    }

    /// The running greenlet's header, for the overflow signal handler: a plain read
    /// of two thread-local cells, safe in signal context.
    pub(crate) fn running_header_for_signal() -> *const Header {
        let p = HUB_PTR.with(|c| c.get());
        // SAFETY: a non-null HUB_PTR is this thread's live hub (see `try_current`).
        unsafe { p.as_ref() }.map_or(ptr::null(), |hub| hub.current_header.get())
    }

    // ---- timers -----------------------------------------------------------------

    pub(crate) fn add_timer(&self, deadline: Instant, action: TimerAction) -> TimerKey {
        let seq = self.timer_seq.get();
        self.timer_seq.set(seq + 1);
        let key = (deadline, seq);
        self.timers.borrow_mut().insert(key, action);
        key
    }

    /// Cancels a timer; returns whether it was still pending.
    pub(crate) fn cancel_timer(&self, key: TimerKey) -> bool {
        self.timers.borrow_mut().remove(&key).is_some()
    }

    fn fire_timers(&self, now: Instant) {
        loop {
            let action = {
                let mut timers = self.timers.borrow_mut();
                match timers.first_entry() {
                    Some(e) if e.key().0 <= now => e.remove(),
                    _ => return,
                }
            };
            match action {
                TimerAction::Wake(w) => w.wake(),
                TimerAction::Interrupt { slot, id } => self.interrupt(slot, Interrupt::Timeout(id)),
                TimerAction::Start(slot) => {
                    if let Some(Ctx_::Task(task)) = self.ctx(slot) {
                        task.header().take_start_timer();
                        task.header().waiting_start.set(false);
                        self.schedule(slot);
                    }
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.timers.borrow().first_key_value().map(|(k, _)| k.0)
    }

    // ---- the loop -----------------------------------------------------------------

    /// Blocks the running context until its current waker fires or it is
    /// interrupted. See the module docs; the caller re-checks its own condition only
    /// if it shares its waker with several sources.
    ///
    /// The greenlet path is inlined into the caller (fewer frames between the wait
    /// and the switch: see `yield_now`); the thread's own stack takes `park_root`.
    #[inline(always)]
    pub(crate) fn park(&self, reason: &'static str) {
        match self.current_header() {
            Some(header) => {
                let ctx = &header.ctx;
                if !ctx.interrupt_due() && ctx.state.get() != State::Notified {
                    ctx.state.set(State::Parked);
                    ctx.reason.set(reason);
                    header.suspend();
                }
                self.end_park(ctx, header.slot.get());
            }
            None => self.park_root(reason),
        }
    }

    #[cold]
    #[inline(never)]
    fn park_root(&self, reason: &'static str) {
        if self.current.get() == HUB {
            panic!(
                "greenlet: cannot block ({reason}) inside the hub's own machinery \
                 (for example a Drop that the hub runs, or a timer callback): \
                 nothing could switch back here"
            );
        }
        if self.shutting_down.get() {
            panic!("greenlet: cannot block ({reason}) while the thread's hub is shutting down");
        }
        let ctx = &self.root;
        if !ctx.interrupt_due() && ctx.state.get() != State::Notified {
            ctx.state.set(State::Parked);
            ctx.reason.set(reason);
            self.current.set(HUB);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.run_loop(Until::RootTurn);
            }));
            self.current.set(ROOT);
            if let Err(p) = r {
                // The root's marker must not outlive this park.
                self.runq.remove_root();
                self.end_park(ctx, ROOT);
                std::panic::resume_unwind(p);
            }
        }
        self.end_park(ctx, ROOT);
    }

    /// Moves the running greenlet to the back of the run queue, or, on the thread's
    /// own stack, runs every greenlet that is ready now.
    ///
    /// Inlined, like `park`'s greenlet path and `Header::suspend`, so that few call
    /// frames stand between the user's code and the stack switch: every frame there
    /// is a return the CPU mispredicts after the switch (the return stack buffer holds
    /// the other stack's addresses), which costs more than the rest of the switch.
    #[inline(always)]
    pub(crate) fn yield_now(&self) {
        match self.current_header() {
            Some(header) => {
                if !header.ctx.interrupt_due() {
                    self.runq.push(header);
                    header.suspend();
                }
                self.end_park(&header.ctx, header.slot.get());
            }
            None => self.yield_root(),
        }
    }

    #[cold]
    #[inline(never)]
    fn yield_root(&self) {
        if self.current.get() == HUB {
            panic!("greenlet: cannot yield inside the hub's own machinery");
        }
        if !self.root.interrupt_due() {
            self.current.set(HUB);
            let n = self.runq.len();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for _ in 0..n {
                    let next = self.runq.pop();
                    match next {
                        Some(Some(task)) => self.run_one(task),
                        // The root is running, so no root marker is queued.
                        Some(None) => {}
                        None => break,
                    }
                }
                self.maintain(false);
            }));
            self.current.set(ROOT);
            if let Err(p) = r {
                std::panic::resume_unwind(p);
            }
        }
        self.end_park(&self.root, ROOT);
    }

    /// Runs the loop from the root: until the root's turn comes (its marker is
    /// popped), or, for `wait()`, also until the hub is idle. A state from which
    /// nothing can progress panics with the deadlock report when the root waits
    /// for its turn, and counts as idle for `wait()`.
    fn run_loop(&self, until: Until) -> Exit {
        loop {
            loop {
                let next = self.runq.pop();
                match next {
                    None => break,
                    Some(None) => return Exit::RootTurn,
                    Some(Some(task)) => self.run_one(task),
                }
                let n = self.since_maintenance.get() + 1;
                self.since_maintenance.set(n);
                if n >= BUDGET {
                    self.maintain(false);
                }
            }
            if let Until::Idle(own_timer) = until
                && self.is_idle(own_timer)
            {
                return Exit::Idle;
            }
            if !self.maintain(true) {
                match until {
                    Until::RootTurn => self.deadlock(),
                    Until::Idle(_) => return Exit::Idle,
                }
            }
        }
    }

    /// Nothing runnable, no timer but `own_timer`, no IO, no remote wake to come.
    fn is_idle(&self, own_timer: Option<TimerKey>) -> bool {
        let timers_idle = match own_timer {
            Some(k) => {
                let timers = self.timers.borrow();
                timers.len() == 1 && timers.contains_key(&k)
            }
            None => self.timers.borrow().is_empty(),
        };
        timers_idle
            && self.runq.is_empty()
            && self.io_refs.get() == 0
            && self.shared.external.load(Ordering::Acquire) == 0
            && !self.shared.pending.load(Ordering::Acquire)
    }

    /// Fires due timers, takes remote wakes and polls IO. With `block` and nothing
    /// ready, waits for the next deadline or event. Returns false when nothing can
    /// ever make the loop progress again.
    fn maintain(&self, block: bool) -> bool {
        self.since_maintenance.set(0);
        let now = Instant::now();
        self.fire_timers(now);
        self.take_remote();
        let ready = !self.runq.is_empty() || self.root.state.get() != State::Parked;
        if block && !ready {
            // About to wait with nothing to run: a good moment to give back the
            // memory of stacks and greenlet blocks a past burst left in the pools.
            if self.stacks.borrow().needs_trim() {
                self.stacks.borrow_mut().trim();
            }
            if self.blocks.needs_trim() {
                self.blocks.trim();
            }
        }
        let timeout = if ready || !block {
            Some(Duration::ZERO)
        } else {
            match self.next_deadline() {
                Some(d) => Some(d.saturating_duration_since(now)),
                None => {
                    // Order matters. A remote waker pushes its wake before dropping its
                    // guard, so once `external` reads zero a late wake shows in
                    // `pending`. And `waiting_forever` is set before `external` is read,
                    // so a guard dropped after the read sees it and pokes the poll.
                    self.shared.waiting_forever.store(true, Ordering::SeqCst);
                    if self.io_refs.get() == 0
                        && self.shared.external.load(Ordering::SeqCst) == 0
                        && !self.shared.pending.load(Ordering::SeqCst)
                        // Hook for crate::sync (issue 4): waits on primitives no other
                        // thread has touched yet hold no RemoteGuard; see there.
                        && !crate::sync::raw::unguarded_waits_may_end()
                    {
                        self.shared.waiting_forever.store(false, Ordering::Relaxed);
                        return false;
                    }
                    None
                }
            }
        };
        if timeout == Some(Duration::ZERO) && self.io_refs.get() == 0 {
            return true; // Nothing to poll; remote wakes were taken above.
        }
        self.poll_io(timeout);
        self.shared.waiting_forever.store(false, Ordering::Relaxed);
        self.take_remote();
        if timeout != Some(Duration::ZERO) {
            self.fire_timers(Instant::now());
        }
        true
    }

    fn poll_io(&self, timeout: Option<Duration>) {
        let mut events = self.events.borrow_mut();
        let res = self.poll.borrow_mut().poll(&mut events, timeout);
        match res {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            Err(e) => panic!("greenlet: the hub's poll failed: {e}"),
        }
        // The waker's wakes were queued in `remote`; the reactor skips its token and
        // wakes the waiters of every other event.
        self.reactor.dispatch(&events);
    }

    fn take_remote(&self) {
        if !self.shared.pending.load(Ordering::Acquire) {
            return;
        }
        let wakes = {
            let mut remote = self.shared.remote.lock();
            self.shared.pending.store(false, Ordering::Release);
            std::mem::take(&mut remote.wakes)
        };
        for (slot, epoch) in wakes {
            self.wake_local(slot, epoch);
        }
    }

    /// Runs until there is nothing left to do (gevent's `wait()`), or until the
    /// deadline. Returns true if the hub went idle.
    pub(crate) fn run_idle(&self, deadline: Option<Instant>) -> bool {
        if self.current_header().is_some() {
            panic!("greenlet: wait() for an idle hub can only be called outside a greenlet");
        }
        if self.current.get() == HUB {
            panic!("greenlet: cannot wait inside the hub's own machinery");
        }
        let key = deadline.map(|d| self.add_timer(d, TimerAction::Wake(self.waker())));
        self.root.state.set(State::Parked);
        self.root.reason.set("wait() for an idle hub");
        self.current.set(HUB);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run_loop(Until::Idle(key))
        }));
        self.current.set(ROOT);
        if let Some(k) = key {
            self.cancel_timer(k);
        }
        self.runq.remove_root();
        self.end_park(&self.root, ROOT);
        match r {
            Ok(exit) => exit == Exit::Idle,
            Err(p) => std::panic::resume_unwind(p),
        }
    }

    #[cold]
    fn deadlock(&self) -> ! {
        let mut msg = format!(
            "greenlet: deadlock: the thread '{}' is blocked ({}) and nothing can ever wake it: \
             no greenlet is runnable, no timer is pending, no IO is registered and no other \
             thread holds a waker.",
            std::thread::current().name().unwrap_or("<unnamed>"),
            self.root.reason.get(),
        );
        let parked: Vec<_> = self
            .slots
            .tasks()
            .into_iter()
            .filter(|t| t.header().ctx.state.get() == State::Parked)
            .collect();
        if parked.is_empty() {
            msg.push_str(" No greenlet is parked.");
        } else {
            msg.push_str(" Parked greenlets:");
            for t in parked.iter().take(20) {
                let h = t.header();
                msg.push_str(&format!(
                    "\n  {} waits on {}",
                    h.describe(),
                    h.ctx.reason.get()
                ));
            }
            if parked.len() > 20 {
                msg.push_str(&format!("\n  ... and {} more", parked.len() - 20));
            }
        }
        drop(parked);
        panic!("{msg}");
    }

    /// Unwinds every greenlet left when the thread exits.
    fn teardown(&self) {
        self.shutting_down.set(true);
        self.current.set(HUB);
        let tasks: Vec<TaskRef> = self.slots.drain();
        self.runq.clear();
        self.timers.borrow_mut().clear();
        for task in tasks.iter() {
            task.abandon();
        }
        drop(tasks);
        let mut remote = self.shared.remote.lock();
        remote.waker = None;
        remote.wakes.clear();
        remote.incarnation = remote.incarnation.wrapping_add(1);
        drop(remote);
        FREE_SHARED.lock().push(self.shared);
    }

    /// The next number in this hub's order of finished greenlets.
    pub(crate) fn next_finish_seq(&self) -> u64 {
        let n = self.finish_seq.get();
        self.finish_seq.set(n + 1);
        n
    }

    /// Counts for tests and diagnostics.
    pub(crate) fn stats(&self) -> HubStats {
        HubStats {
            live: self.live.get(),
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

#[derive(Clone, Copy)]
enum Until {
    /// Until the root's marker is popped.
    RootTurn,
    /// Until the hub is idle but for this timer of the caller's.
    Idle(Option<TimerKey>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Exit {
    RootTurn,
    Idle,
}

enum Ctx_<'a> {
    Root(&'a Ctx),
    Task(TaskRef),
}

impl Hub {
    /// Ends a park: invalidates this wait's wakers and delivers a due interrupt.
    #[inline(always)]
    fn end_park(&self, ctx: &Ctx, slot: u32) {
        ctx.epoch.set(ctx.epoch.get().wrapping_add(1));
        ctx.state.set(State::Running);
        if ctx.interrupt_due() {
            self.deliver(ctx, slot);
        }
    }

    /// Unwinds the running context with the pending interrupt's payload.
    #[cold]
    #[inline(never)]
    fn deliver(&self, ctx: &Ctx, slot: u32) -> ! {
        let int = ctx.interrupt.take().expect("an interrupt is due");
        let seq = next_seq();
        ctx.unwinding.set(seq);
        let token = UnwindToken {
            shared: self.shared,
            incarnation: self.incarnation,
            slot,
            seq,
        };
        match int {
            Interrupt::Kill => {
                std::panic::resume_unwind(Box::new(crate::GreenletExit::with_token(token)))
            }
            Interrupt::Timeout(id) => {
                std::panic::resume_unwind(Box::new(crate::time::TimeoutUnwind {
                    id,
                    _token: Some(token),
                }))
            }
        }
    }
}

fn next_seq() -> u64 {
    thread_local! { static SEQ: Cell<u64> = const { Cell::new(0) }; }
    SEQ.with(|s| {
        let n = s.get() + 1;
        s.set(n);
        n
    })
}

/// Carried by an interrupt's payload: dropping the payload ends the context's
/// "unwinding from an interrupt" state, so that later interrupts are delivered
/// again (to a greenlet that caught the unwind, say). `Send`, as payloads must be;
/// dropped on another thread, or after its hub exited, it does nothing.
#[derive(Debug)]
pub(crate) struct UnwindToken {
    shared: &'static Shared,
    incarnation: u32,
    slot: u32,
    seq: u64,
}

impl Drop for UnwindToken {
    fn drop(&mut self) {
        if let Some(hub) = Hub::try_current()
            && ptr::eq(hub.shared, self.shared)
            && hub.incarnation == self.incarnation
        {
            hub.end_unwinding(self.slot, self.seq);
        }
    }
}
