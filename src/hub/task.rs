//! Tasks: the part of a greenlet the hub runs, schedules and reports on, and the
//! counted reference the slab holds. The greenlet layer builds its `Header` around a
//! [`Task`] (one of its fields) and fills in a [`TaskVTable`]; the hub never names
//! anything of that layer.

use std::cell::{Cell, RefCell};
use std::ops::Deref;
use std::ptr::NonNull;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::ctx::Ctx;
use super::runq::Link;
use super::{HUB, Hub, ROOT};
use crate::stack::PooledStack;

/// Every task's coroutine has this one type: the result travels through the
/// greenlet's own memory, so the hub resumes any task inline, without a virtual call.
pub(crate) type Coro = Coroutine<(), (), (), PooledStack>;

/// What the hub needs from the layer that owns a task's memory.
///
/// # Safety
/// Each function is called with a pointer to a live task made with this vtable: one
/// the caller holds a counted reference to (`destroy`: the last one, just released).
/// `start` and `cancel` only before the task has started; `finished` once, after the
/// coroutine returned; `abandon` once, at teardown, after the coroutine was dropped.
pub(crate) struct TaskVTable {
    /// Builds the coroutine for the task's first run into the given slot (taking
    /// what it will run and the stack reserved for it), or leaves the slot empty if
    /// the task was cancelled before it ever ran: its run-queue entry was a
    /// tombstone, and the hub frees its slot. (Built in place: a coroutine moved
    /// through a return value costs a stalled store-to-load forward per spawn.)
    pub(crate) start: unsafe fn(NonNull<Task>, &Hub, &mut Option<Coro>),
    /// The coroutine has returned; its stack is back in the pool and the slab has let
    /// go of the task.
    pub(crate) finished: unsafe fn(NonNull<Task>),
    /// The thread is exiting: the coroutine, if any, has been dropped (unwinding it).
    pub(crate) abandon: unsafe fn(NonNull<Task>),
    /// The last counted reference is gone: drop the task and free its memory.
    pub(crate) destroy: unsafe fn(NonNull<Task>),
    /// How the task is named in the deadlock report.
    pub(crate) describe: unsafe fn(NonNull<Task>) -> String,
}

/// The hub's part of a greenlet: a field of the greenlet's `repr(C)` header, which
/// the layer above finds again from a pointer to this (every pointer the hub hands
/// it is derived from the whole allocation). 128 bytes: what a switch touches (the
/// queue link, the yielder, the coroutine, the wait state) and nothing else. Every
/// field is touched by the hub's thread only.
#[repr(C)]
pub(crate) struct Task {
    /// Its place in the run queue. First: the queue links tasks through it.
    pub(super) link: Link,
    /// Counted references: the slab's (while the task is in it) and the layer
    /// above's (its handle).
    refs: Cell<u32>,
    /// Its index in the hub's slab; set by `Hub::insert`.
    slot: Cell<u32>,
    /// What the layer above does for this task (set at creation, never changed).
    vtable: &'static TaskVTable,
    /// The coroutine's yielder, set by the coroutine when it first runs; it lives on
    /// the task's own stack for as long as the coroutine has not returned.
    yielder: Cell<*const Yielder<(), ()>>,
    /// The lowest usable address of its stack, once it has one (0 before): the
    /// guard page is the page below, for the overflow report.
    stack_limit: Cell<usize>,
    /// The coroutine: `None` before the first run (built by `TaskVTable::start`), and
    /// again once it has returned (its stack back in the pool) or was dropped.
    coro: RefCell<Option<Coro>>,
    /// Its wait state: the part of the seam its wakers act on.
    pub(crate) ctx: Ctx,
}

/// What a resume ended with.
pub(super) enum Resumed {
    /// It parked or yielded.
    Suspended,
    /// Its coroutine returned.
    Returned,
    /// It was cancelled before it started: nothing ran.
    Cancelled,
}

impl Task {
    /// A task that will be run through `vtable`, with two counted references: the
    /// one `Hub::insert` gives the slab and the caller's.
    pub(crate) const fn new(vtable: &'static TaskVTable) -> Task {
        Task {
            link: Link::new(),
            refs: Cell::new(2),
            slot: Cell::new(ROOT),
            vtable,
            yielder: Cell::new(std::ptr::null()),
            stack_limit: Cell::new(0),
            coro: RefCell::new(None),
            ctx: Ctx::new(),
        }
    }

    /// The vtable it was made with.
    #[inline]
    pub(crate) fn vtable(&self) -> &'static TaskVTable {
        self.vtable
    }

    /// How many counted references it has.
    #[inline]
    pub(crate) fn refs(&self) -> u32 {
        self.refs.get()
    }

    /// Its slot in the hub's slab.
    #[inline]
    pub(crate) fn slot(&self) -> u32 {
        self.slot.get()
    }

    /// The lowest usable address of its stack, 0 before it first ran.
    #[inline]
    pub(crate) fn stack_limit(&self) -> usize {
        self.stack_limit.get()
    }

    /// Records where the stack the task is about to run on ends; `TaskVTable::start`
    /// calls it when it takes the stack.
    #[inline]
    pub(crate) fn set_stack_limit(&self, limit: usize) {
        self.stack_limit.set(limit);
    }

    /// Records the coroutine's yielder; the coroutine calls it first thing.
    ///
    /// # Safety
    /// `y` must be the yielder of this task's own coroutine, recorded from inside it
    /// before it first parks: `suspend` relies on it staying valid until the
    /// coroutine returns.
    #[inline]
    pub(crate) unsafe fn set_yielder(&self, y: &Yielder<(), ()>) {
        self.yielder.set(y);
    }

    /// Another counted reference to this task.
    pub(crate) fn counted(&self) -> TaskRef {
        self.refs.set(self.refs.get() + 1);
        TaskRef(NonNull::from(self))
    }

    /// Runs the task until it suspends, returns, or turns out to be cancelled.
    ///
    /// Inlined into the hub loop: each call frame between the loop and the stack
    /// switch is a return the CPU mispredicts after switching back (see
    /// `arch/hub.md`, "the cost of a switch").
    #[inline(always)]
    pub(super) fn resume(&self, hub: &Hub) -> Resumed {
        let mut coro = self.coro.borrow_mut();
        if coro.is_none() {
            // SAFETY: a live task of this vtable (the slab holds a count while it is
            // queued), which has not started: its coroutine was never built.
            unsafe { (self.vtable.start)(NonNull::from(self), hub, &mut coro) };
        }
        let Some(c) = coro.as_mut() else {
            return Resumed::Cancelled;
        };
        match c.resume(()) {
            CoroutineResult::Return(()) => Resumed::Returned,
            CoroutineResult::Yield(()) => Resumed::Suspended,
        }
    }

    /// Suspends the running task back to the hub loop.
    ///
    /// # Safety
    /// `self` must be the task running now (the hub's current one), called from its
    /// own stack: its yielder is set, and valid until its coroutine returns.
    #[inline(always)]
    pub(super) unsafe fn suspend(&self) {
        let y = self.yielder.get();
        debug_assert!(!y.is_null());
        // SAFETY: by the contract, `y` is the running coroutine's live yielder.
        unsafe { (*y).suspend(()) };
    }

    /// Takes the coroutine out (at teardown, to drop it).
    fn take_coro(&self) -> Option<Coro> {
        self.coro.borrow_mut().take()
    }
}

/// An owning, counted reference to a task, as the slab holds it: like an
/// `Rc<dyn Task>` (one allocation per greenlet, shared with its handle) whose memory
/// the layer above recycles instead of giving it back to malloc.
pub(crate) struct TaskRef(NonNull<Task>);

impl TaskRef {
    /// Takes over one counted reference of a live task.
    ///
    /// # Safety
    /// `p` must point to a live task whose `refs` counts the reference handed over.
    pub(crate) unsafe fn from_counted(p: NonNull<Task>) -> TaskRef {
        TaskRef(p)
    }

    pub(super) fn as_ptr(&self) -> NonNull<Task> {
        self.0
    }

    /// How the task is named in reports.
    pub(super) fn describe(&self) -> String {
        // SAFETY: a counted reference keeps the task live.
        unsafe { (self.vtable.describe)(self.0) }
    }
}

impl Deref for TaskRef {
    type Target = Task;
    #[inline]
    fn deref(&self) -> &Task {
        // SAFETY: a TaskRef is a counted reference, so the task is live.
        unsafe { self.0.as_ref() }
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> TaskRef {
        self.counted()
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: this reference is counted in `refs`.
        unsafe { release(self.0) }
    }
}

/// Drops one counted reference; the last one destroys the task.
///
/// # Safety
/// `p` must be a live task and the caller must own one of its counts, which it gives
/// up.
#[inline]
pub(crate) unsafe fn release(p: NonNull<Task>) {
    // SAFETY: live by the caller's contract.
    let t = unsafe { p.as_ref() };
    let n = t.refs.get() - 1;
    t.refs.set(n);
    if n == 0 {
        // SAFETY: that was the last reference; the vtable matches the task.
        unsafe { (t.vtable.destroy)(p) }
    }
}

/// The hub's side of tasks: the slab, scheduling, the running task.
impl Hub {
    /// Puts a new task in the slab (handing it the task's second reference); it
    /// runs once scheduled. Returns its slot.
    #[inline]
    pub(crate) fn insert(&self, task: TaskRef) -> u32 {
        let ptr = task.as_ptr();
        let (slot, epoch) = self.slots.insert(task);
        // SAFETY: the slab now holds the reference `task` was, so the task lives.
        let task = unsafe { ptr.as_ref() };
        task.ctx.epoch.set(epoch);
        task.slot.set(slot);
        self.pulse.add_live(1);
        slot
    }

    /// Appends a task to the run queue.
    ///
    /// # Safety
    /// The task must be in this hub's slab and in no run queue: a new task, once.
    #[inline]
    pub(crate) unsafe fn schedule(&self, task: &Task) {
        // SAFETY: by the contract.
        unsafe { self.runq.push(task) };
    }

    /// Takes a task out of the slab, freeing its slot.
    #[inline]
    pub(crate) fn remove(&self, slot: u32) -> Option<TaskRef> {
        let task = self.slots.remove(slot)?;
        self.pulse.add_live(-1);
        Some(task)
    }

    /// The running task, or `None` on the thread's own stack (or in the hub's own
    /// machinery).
    #[inline]
    pub(crate) fn current_task(&self) -> Option<&Task> {
        // SAFETY: see the field's rule: non-null only while that task runs, and the
        // slab holds a count of it until the hub sees it finish.
        unsafe { self.current_task.get().as_ref() }
    }

    /// The running context's slot (`ROOT` on the thread's stack).
    #[inline]
    pub(crate) fn current_slot(&self) -> u32 {
        match self.current_task() {
            Some(t) => t.slot(),
            None => ROOT,
        }
    }

    /// The running context's wait state.
    #[inline]
    pub(super) fn current_ctx(&self) -> &Ctx {
        match self.current_task() {
            Some(t) => &t.ctx,
            None => &self.root,
        }
    }

    /// The running task of this thread's hub, for a signal handler: a plain read of
    /// two thread-local cells, async-signal-safe. Null outside tasks.
    pub(crate) fn running_task_for_signal() -> *const Task {
        super::HUB_PTR
            .try_with(|c| c.get())
            .ok()
            // SAFETY: a non-null pointer is this thread's live hub (see `try_current`).
            .and_then(|p| unsafe { p.as_ref() })
            .map_or(std::ptr::null(), |hub| hub.current_task.get())
    }

    /// Runs one task from the run queue.
    #[inline(always)]
    pub(super) fn run_one(&self, ptr: NonNull<Task>) {
        // SAFETY: a queued task is in the slab, whose count keeps it alive at least
        // until `remove` below (see the run queue's invariant).
        let task = unsafe { ptr.as_ref() };
        let slot = task.slot();
        self.current.set(slot);
        self.current_task.set(task);
        // The one store a switch costs for the monitor (see `Pulse`).
        let resumes = &self.pulse.resumes;
        resumes.store(
            resumes
                .load(std::sync::atomic::Ordering::Relaxed)
                .wrapping_add(1),
            std::sync::atomic::Ordering::Relaxed,
        );
        let resumed = task.resume(self);
        self.current.set(HUB);
        self.current_task.set(std::ptr::null());
        match resumed {
            Resumed::Suspended => {}
            Resumed::Returned => {
                // Takes the slab's count (the handle may hold another), which keeps
                // the task alive until `finish` is done.
                if let Some(task) = self.remove(slot) {
                    self.finish(task);
                }
            }
            // Killed before it ever ran: reap the slot its queue entry kept.
            Resumed::Cancelled => drop(self.remove(slot)),
        }
    }

    /// Recycles the stack of a task whose coroutine returned, then lets the layer
    /// above record the end.
    #[inline(always)]
    fn finish(&self, task: TaskRef) {
        if let Some(c) = task.take_coro() {
            self.stacks.borrow_mut().put(c.into_stack());
        }
        // SAFETY: live (counted by `task`); its coroutine has returned, once.
        unsafe { (task.vtable.finished)(task.as_ptr()) };
    }

    /// Drops every task's coroutine (unwinding started ones) and lets the layer above
    /// mark each as ended: the thread is exiting.
    pub(super) fn abandon_all(&self, tasks: &[TaskRef]) {
        for task in tasks {
            drop(task.take_coro());
            // SAFETY: live (counted); its coroutine, if any, was just dropped.
            unsafe { (task.vtable.abandon)(task.as_ptr()) };
        }
    }
}
