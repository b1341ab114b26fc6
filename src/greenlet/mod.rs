//! Greenlets: spawn, the handle, join and kill, `current()`.

use std::alloc::Layout;
use std::cell::{Cell, OnceCell, RefCell, RefMut, UnsafeCell};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::Once;
use std::time::{Duration, Instant};

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::hub::{
    BlockCache, Ctx, Hub, Interrupt, Link, ROOT, TimerAction, TimerKey, UnwindToken, Waker,
};
use crate::stack::{DEFAULT_STACK_SIZE, PooledStack};

mod builder;
mod error;

pub use builder::{Builder, spawn, spawn_later};
pub use error::JoinError;
pub(crate) use error::panic_message;

/// Every greenlet's coroutine has this one type: the result travels through the
/// greenlet's own `Inner<T>`, so the hub can resume any greenlet inline, without a
/// virtual call (see `Header::resume`).
type Coro = Coroutine<(), (), (), PooledStack>;

/// A process-unique greenlet number. The thread's own stack has one too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GreenletId(u64);

impl GreenletId {
    /// The next id of `range`, a hub's `[next, end)` share of the global counter: ids
    /// are taken from the counter in blocks, so spawning costs no atomic.
    #[inline]
    pub(crate) fn next_from(range: &Cell<(u64, u64)>) -> GreenletId {
        let (next, end) = range.get();
        if next == end {
            return Self::refill(range);
        }
        range.set((next + 1, end));
        GreenletId(next)
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

/// The payload a killed greenlet unwinds with (gevent's `GreenletExit`).
///
/// Code that catches unwinds with `std::panic::catch_unwind` inside a greenlet can
/// recognise a kill with `payload.is::<GreenletExit>()`. Catching it and going on makes
/// the greenlet "undead": it keeps running, `kill` keeps waiting for it to finish, and
/// `join` reports how it really ended.
#[derive(Debug)]
pub struct GreenletExit {
    /// Dropping the payload ends the kill's unwinding (see `Ctx::unwinding`).
    _token: Option<UnwindToken>,
}

impl GreenletExit {
    /// A payload not tied to a delivered kill.
    pub(crate) fn new() -> Self {
        GreenletExit { _token: None }
    }

    pub(crate) fn with_token(token: UnwindToken) -> Self {
        GreenletExit {
            _token: Some(token),
        }
    }
}

/// Where a greenlet is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Spawned, not yet run (possibly waiting for a `spawn_later` timer).
    New,
    /// Has run at least once.
    Started,
    /// Returned, panicked or was killed; the result is stored.
    Finished,
}

/// The non-generic part of a greenlet, shared by the hub and the handle.
///
/// It is the first field of the greenlet's allocation (`Inner<T>`, `repr(C)`), so a
/// pointer to it is a pointer to the whole; `refs` and `vtable` stand in for an
/// `Rc<dyn Task>` whose memory goes back to the hub's block cache (see `TaskRef`).
///
/// Kept small, because a burst of greenlets touches every one of them several times
/// (spawn, run, join) and at 10,000 greenlets they no longer fit in the cache: the
/// fields a spawn + run + join touches come first, and what few greenlets use (a
/// name, a `spawn_later` timer, joiners waiting for a running greenlet) is boxed on
/// first use. The layout is in `arch/hub.md`, "A greenlet's memory".
#[repr(C)]
pub(crate) struct Header {
    // ---- first cache line: what every pass over a greenlet touches ----
    /// Its place in the hub's run queue. First: the queue links headers through it.
    pub(crate) link: Link,
    /// Owning references: the handle and the hub's slab entry (`TaskRef`).
    refs: Cell<u32>,
    pub(crate) slot: Cell<u32>,
    vtable: &'static VTable,
    pub(crate) status: Cell<Status>,
    /// Whether it has ever run.
    started: Cell<bool>,
    /// Spawned with `spawn_later` and not yet in the run queue (its timer pending,
    /// or no timer at all for a delay too long to represent).
    pub(crate) waiting_start: Cell<bool>,
    /// Whether the closure is in the allocation (see `Spawned::f`).
    has_closure: Cell<bool>,
    /// The coroutine's yielder, set when it first runs; it lives on the greenlet's
    /// own stack for as long as the coroutine has not finished.
    yielder: Cell<*const Yielder<(), ()>>,
    /// When it finished, as a per-thread sequence number (for `JoinAll`).
    pub(crate) finish_seq: Cell<u64>,
    /// The lowest usable address of its stack, set when it first runs and takes its
    /// stack (0 before): the guard page is the page below, for the overflow report.
    pub(crate) stack_limit: Cell<usize>,
    /// Wakers of contexts waiting for this greenlet to finish.
    pub(crate) joiners: Joiners,
    // ---- second line ----
    /// The coroutine; `None` once finished (its stack back in the pool) or killed.
    coro: RefCell<Option<Coro>>,
    /// The rarely used part, boxed on first use.
    cold: OnceCell<Box<Cold>>,
    pub(crate) id: GreenletId,
    // ---- third line, with the result and the closure (`Inner`, `Spawned`) ----
    pub(crate) ctx: Ctx,
}

/// What few greenlets need: boxed on first use, so that it costs the others one
/// null pointer.
struct Cold {
    name: Option<Rc<str>>,
    /// The usable size of its stack, as `StackPool::reserve` rounded it.
    stack_size: usize,
    /// The `spawn_later` start timer, while pending.
    start_timer: Cell<Option<TimerKey>>,
}

impl Cold {
    #[cold]
    fn boxed(name: Option<String>, stack_size: usize) -> OnceCell<Box<Cold>> {
        OnceCell::from(Box::new(Cold {
            name: name.map(Rc::from),
            stack_size,
            start_timer: Cell::new(None),
        }))
    }
}

/// The wakers of contexts waiting for a greenlet to finish. Most greenlets are joined
/// after they finish, or never, so the list is boxed when the first joiner comes.
#[derive(Default)]
pub(crate) struct Joiners(OnceCell<Box<RefCell<Vec<Waker>>>>);

impl Joiners {
    /// The list, created if need be.
    pub(crate) fn borrow_mut(&self) -> RefMut<'_, Vec<Waker>> {
        self.0.get_or_init(Box::default).borrow_mut()
    }

    /// Takes every waker (none if the list was never created).
    #[inline]
    fn take(&self) -> Vec<Waker> {
        match self.0.get() {
            Some(list) => std::mem::take(&mut *list.borrow_mut()),
            None => Vec::new(),
        }
    }
}

impl Header {
    /// Runs the greenlet until it suspends (false) or finishes (true).
    ///
    /// Inlined into the hub loop: each call frame between the loop and the stack
    /// switch is a return the CPU mispredicts after switching back (see
    /// `arch/hub.md`, "the cost of a switch").
    #[inline(always)]
    pub(crate) fn resume(&self, hub: &Hub) -> bool {
        let mut coro = self.coro.borrow_mut();
        if coro.is_none() {
            if self.started.get() {
                return true; // Finished.
            }
            self.start(hub, &mut coro);
        }
        let Some(c) = coro.as_mut() else {
            return true;
        };
        self.status.set(Status::Started);
        self.started.set(true);
        matches!(c.resume(()), CoroutineResult::Return(()))
    }

    /// Binds the stack reserved at spawn and builds the coroutine: a greenlet takes
    /// its stack only when it first runs, so greenlets that run to completion one
    /// after another all use the same stack, hot in the cache.
    #[inline(never)]
    fn start(&self, hub: &Hub, coro: &mut Option<Coro>) {
        let stack = hub.stacks.borrow_mut().take_reserved(self.stack_size());
        self.stack_limit.set(stack.limit_addr());
        // SAFETY: the vtable was made for this allocation, which is live (the hub's
        // slab holds a count while the greenlet runs), and it has not started.
        *coro = Some(unsafe { (self.vtable.start)(NonNull::from(self), stack) });
    }

    /// Recycles the stack of a greenlet that has finished (or was killed before it
    /// started), marks it finished and wakes its joiners.
    #[inline(always)]
    pub(crate) fn finish(&self, hub: &Hub) {
        let coro = self.coro.borrow_mut().take();
        if let Some(c) = coro {
            hub.stacks.borrow_mut().put(c.into_stack());
        }
        self.status.set(Status::Finished);
        self.finish_seq.set(hub.next_finish_seq());
        if self.joiners.0.get().is_some() {
            self.wake_joiners();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_joiners(&self) {
        for w in self.joiners.take() {
            w.wake();
        }
    }

    /// Suspends the running greenlet back to the hub.
    #[inline(always)]
    pub(crate) fn suspend(&self) {
        let y = self.yielder.get();
        debug_assert!(!y.is_null());
        // SAFETY: `suspend` is only called on the header of the running greenlet
        // (the hub's `current_header`), whose yielder was set when it started and
        // stays valid on its stack until its function returns.
        unsafe { (*y).suspend(()) };
    }

    /// The name given with [`Builder::name`].
    pub(crate) fn name(&self) -> Option<&Rc<str>> {
        self.cold.get()?.name.as_ref()
    }

    /// The part few greenlets use, created if need be.
    fn cold(&self) -> &Cold {
        self.cold.get_or_init(|| {
            Box::new(Cold {
                name: None,
                stack_size: DEFAULT_STACK_SIZE,
                start_timer: Cell::new(None),
            })
        })
    }

    /// The usable size of its stack. Only greenlets with another size than the
    /// default keep it (in their cold part).
    #[inline]
    pub(crate) fn stack_size(&self) -> usize {
        self.cold.get().map_or(DEFAULT_STACK_SIZE, |c| c.stack_size)
    }

    /// Takes the pending `spawn_later` start timer, if any.
    pub(crate) fn take_start_timer(&self) -> Option<TimerKey> {
        self.cold.get()?.start_timer.take()
    }

    /// `greenlet 'name' (#3)` or `greenlet #3`.
    pub(crate) fn describe(&self) -> String {
        match self.name() {
            Some(n) => format!("greenlet '{n}' ({})", self.id),
            None => format!("greenlet {}", self.id),
        }
    }

    fn add_joiner(&self, w: Waker) {
        self.joiners.borrow_mut().push(w);
    }

    fn remove_joiner(&self, w: Waker) {
        self.joiners.borrow_mut().retain(|j| *j != w);
    }

    /// Waits until it has finished, or until the deadline; returns whether it has.
    /// Not generic, and kept out of `join`'s fast path (a finished greenlet).
    #[inline(never)]
    fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        let hub = Hub::current();
        if hub.current_slot() == self.slot.get() && self.status.get() != Status::Finished {
            panic!(
                "greenlet: {} tried to join itself; it would wait forever",
                self.describe()
            );
        }
        while self.status.get() != Status::Finished {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            let w = hub.waker();
            self.add_joiner(w);
            let timer = deadline.map(|d| hub.add_timer(d, TimerAction::Wake(w)));
            let cleanup = JoinCleanup {
                header: self,
                waker: w,
                timer,
            };
            hub.park("join");
            drop(cleanup);
        }
        true
    }
}

/// What the hub needs from a greenlet, whatever its result and closure types.
///
/// # Safety
/// Each function must be called with a pointer to a live allocation of the
/// `Spawned<T, F>` this vtable was made for (`Spawned::VTABLE`): that is, the header
/// of a greenlet the caller holds a counted reference to (`destroy`: the last one,
/// just released). `start` and `drop_closure` only before the greenlet has started.
pub(crate) struct VTable {
    /// Takes the closure and builds the coroutine on the given stack.
    start: unsafe fn(NonNull<Header>, PooledStack) -> Coro,
    /// Drops the closure of a greenlet that never started.
    drop_closure: unsafe fn(NonNull<Header>),
    /// Drops the coroutine (unwinding it if it started): the thread is exiting.
    abandon: unsafe fn(NonNull<Header>),
    /// Drops the `Spawned<T, F>` and returns its memory; called when `refs` reaches 0.
    destroy: unsafe fn(NonNull<Header>),
}

/// An owning, counted reference to a greenlet, as the hub holds it: like an
/// `Rc<dyn Task>` (one allocation per greenlet, shared with the handle) whose memory
/// is recycled by the hub instead of going back to malloc, which was a quarter of
/// the cost of a spawn + join.
pub(crate) struct TaskRef(NonNull<Header>);

impl TaskRef {
    #[inline]
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: a TaskRef is a counted reference, so the allocation is live.
        unsafe { self.0.as_ref() }
    }

    pub(crate) fn abandon(&self) {
        // SAFETY: as in `finish`.
        unsafe { (self.header().vtable.abandon)(self.0) }
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> TaskRef {
        let h = self.header();
        h.refs.set(h.refs.get() + 1);
        TaskRef(self.0)
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: this reference is counted in `refs`.
        unsafe { release(self.0) }
    }
}

/// Drops one counted reference; the last one destroys the greenlet.
///
/// # Safety
/// `p` must be a live greenlet allocation and the caller must own one of its counts.
#[inline]
unsafe fn release(p: NonNull<Header>) {
    // SAFETY: live by the caller's contract.
    let h = unsafe { p.as_ref() };
    let n = h.refs.get() - 1;
    h.refs.set(n);
    if n == 0 {
        // SAFETY: that was the last reference; the vtable matches the allocation.
        unsafe { (h.vtable.destroy)(p) }
    }
}

#[repr(C)]
struct Inner<T> {
    /// First, so that `*Inner<T>` and `*Header` are the same address.
    header: Header,
    /// A `Cell`: no borrow flag, to keep a greenlet within three cache lines.
    result: Cell<Option<Result<T, JoinError>>>,
}

/// The whole allocation of a greenlet: the part its handle knows (`Inner<T>`, first,
/// so that a pointer to this is a pointer to that) and the closure until it starts.
#[repr(C)]
struct Spawned<T, F> {
    inner: Inner<T>,
    /// Initialised while the header's `has_closure` is set: no `Option` tag, which
    /// would take a small closure's greenlet past three cache lines. Accessed only
    /// by `take_closure`.
    f: UnsafeCell<ManuallyDrop<F>>,
}

impl<T: 'static, F: FnOnce() -> T + 'static> Spawned<T, F> {
    const VTABLE: VTable = VTable {
        start: Self::start_raw,
        drop_closure: Self::drop_closure_raw,
        abandon: Self::abandon_raw,
        destroy: Self::destroy_raw,
    };

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>`.
    unsafe fn this<'a>(p: NonNull<Header>) -> &'a Spawned<T, F> {
        // SAFETY: by the contract; the header is the first field of the first field.
        unsafe { p.cast::<Spawned<T, F>>().as_ref() }
    }

    /// Takes the closure, if it is still there.
    fn take_closure(&self) -> Option<F> {
        if !self.inner.header.has_closure.replace(false) {
            return None;
        }
        // SAFETY: the flag was set, so the closure is initialised; it was cleared
        // first, so the closure is taken once. No reference to it exists outside
        // this function.
        Some(unsafe { ManuallyDrop::take(&mut *self.f.get()) })
    }

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>` that has not started.
    unsafe fn start_raw(p: NonNull<Header>, stack: PooledStack) -> Coro {
        // SAFETY: by the contract.
        let this = unsafe { Self::this(p) };
        let f = this.take_closure().expect("a greenlet starts once");
        let inner_ptr: *const Inner<T> = &this.inner;
        Coroutine::with_stack(stack, move |y: &Yielder<(), ()>, ()| {
            // SAFETY: `Inner` outlives the coroutine running this closure: the hub's
            // slab holds a counted reference to the allocation while the greenlet
            // runs, and the coroutine is dropped before the allocation is.
            let inner = unsafe { &*inner_ptr };
            inner.header.yielder.set(y as *const _);
            let r = panic::catch_unwind(AssertUnwindSafe(f));
            // Greenlet-local values die with the greenlet, on its stack (crate::local).
            if crate::local::in_use() {
                let id = inner.header.id;
                let _ = panic::catch_unwind(|| crate::local::greenlet_finished(id));
            }
            let r = r.map_err(|payload| inner.error_from(payload));
            inner.result.set(Some(r));
        })
    }

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>`.
    unsafe fn drop_closure_raw(p: NonNull<Header>) {
        // SAFETY: by the contract.
        drop(unsafe { Self::this(p) }.take_closure());
    }

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>`.
    unsafe fn abandon_raw(p: NonNull<Header>) {
        // SAFETY: by the contract.
        let this = unsafe { Self::this(p) };
        drop(this.take_closure());
        this.inner.abandon();
    }

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>` with no reference left.
    unsafe fn destroy_raw(p: NonNull<Header>) {
        // SAFETY: by the contract. The closure of a greenlet that never ran and was
        // never killed is still there (`drop_in_place` leaves it).
        drop(unsafe { Self::this(p) }.take_closure());
        let p = p.cast::<Spawned<T, F>>();
        // SAFETY: nothing refers to it any more, so it may be dropped in place, once;
        // its memory came from the block cache with this layout (`Builder::create`).
        unsafe {
            std::ptr::drop_in_place(p.as_ptr());
            free_block(p.cast(), Layout::new::<Spawned<T, F>>());
        }
    }
}

impl<T: 'static> Inner<T> {
    fn abandon(&self) {
        let coro = self.header.coro.borrow_mut().take();
        // Unwinds a started coroutine, running its destructors (the forced unwind may
        // pass through the closure's catch_unwind and be stored as a result: the
        // greenlet was killed either way).
        drop(coro);
        self.result.set(Some(Err(self.killed())));
        self.header.status.set(Status::Finished);
    }
}

/// Gives a greenlet's memory back to the hub's block cache, or to the allocator once
/// the thread's hub is gone.
///
/// # Safety
/// `p` must come from `hub.blocks.alloc(layout)` of a hub of this thread, with
/// nothing live in it.
#[inline]
unsafe fn free_block(p: NonNull<u8>, layout: Layout) {
    match Hub::try_current() {
        // SAFETY: by the contract.
        Some(hub) => unsafe { hub.blocks.free(p, layout) },
        // SAFETY: blocks of the cache are allocated with `block_layout`.
        None => unsafe { std::alloc::dealloc(p.as_ptr(), BlockCache::block_layout(layout)) },
    }
}

impl Builder {
    /// Allocates the greenlet (header, result slot and closure in one block) and
    /// puts it in the hub's slab; `spawn` then schedules it.
    pub(super) fn create<F, T>(self, hub: &Hub, f: F) -> io::Result<Greenlet<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let size = self.stack_size.unwrap_or(DEFAULT_STACK_SIZE);
        let stack_size = hub.stacks.borrow_mut().reserve(size)?;
        let ptr = hub
            .blocks
            .alloc(Layout::new::<Spawned<T, F>>())
            .cast::<Spawned<T, F>>();
        let value = Spawned {
            inner: Inner {
                header: Header {
                    link: Link::default(),
                    // The handle's and the slab's.
                    refs: Cell::new(2),
                    slot: Cell::new(ROOT),
                    vtable: &Spawned::<T, F>::VTABLE,
                    status: Cell::new(Status::New),
                    started: Cell::new(false),
                    waiting_start: Cell::new(false),
                    has_closure: Cell::new(true),
                    yielder: Cell::new(std::ptr::null()),
                    finish_seq: Cell::new(u64::MAX),
                    stack_limit: Cell::new(0),
                    joiners: Joiners::default(),
                    coro: RefCell::new(None),
                    cold: if self.name.is_none() && stack_size == DEFAULT_STACK_SIZE {
                        OnceCell::new()
                    } else {
                        Cold::boxed(self.name, stack_size)
                    },
                    id: hub.next_id(),
                    ctx: Ctx::new(),
                },
                result: Cell::new(None),
            },
            f: UnsafeCell::new(ManuallyDrop::new(f)),
        };
        // SAFETY: fresh memory with the layout of `Spawned<T, F>`; written once, then
        // read only through counted references.
        unsafe { ptr.as_ptr().write(value) };
        let ptr = ptr.cast::<Inner<T>>();
        hub.insert(TaskRef(ptr.cast()));
        Ok(Greenlet {
            ptr,
            _not_send: PhantomData,
        })
    }
}

/// A handle to a greenlet: join it, kill it, ask about it.
///
/// Dropping the handle detaches the greenlet: it keeps running. The handle is
/// neither `Send` nor `Sync`: a greenlet belongs to the hub of the thread that
/// spawned it.
///
/// ```compile_fail
/// let g = greenlet::spawn(|| 1);
/// std::thread::spawn(move || g.join()); // Greenlet is !Send
/// ```
pub struct Greenlet<T> {
    /// A counted reference (see `TaskRef`).
    ptr: NonNull<Inner<T>>,
    _not_send: PhantomData<*mut ()>,
}

impl<T> Drop for Greenlet<T> {
    fn drop(&mut self) {
        // SAFETY: the handle owns one count of this live allocation.
        unsafe { release(self.ptr.cast()) }
    }
}

impl<T> Greenlet<T> {
    #[inline]
    fn inner(&self) -> &Inner<T> {
        // SAFETY: the handle's count keeps the allocation live.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> fmt::Debug for Greenlet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Greenlet")
            .field("id", &self.inner().header.id)
            .field("name", &self.inner().header.name())
            .field("status", &self.inner().header.status.get())
            .finish()
    }
}

impl<T: 'static> Greenlet<T> {
    /// Waits for the greenlet to finish and returns its value, or why it has none.
    ///
    /// # Panics
    /// If a greenlet joins itself.
    pub fn join(self) -> Result<T, JoinError> {
        self.wait();
        self.inner()
            .result
            .take()
            .expect("a finished greenlet has a result")
    }

    /// Waits for the greenlet to finish, without taking its result.
    pub fn wait(&self) {
        self.wait_deadline(None);
    }

    /// Waits at most `timeout` for the greenlet to finish; returns whether it has.
    /// The greenlet is not disturbed (gevent's `join(timeout)`).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_deadline(crate::time::deadline(timeout))
    }

    #[inline]
    fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        let header = &self.inner().header;
        header.status.get() == Status::Finished || header.wait_deadline(deadline)
    }

    /// Whether the greenlet has finished (returned, panicked or been killed).
    pub fn is_finished(&self) -> bool {
        self.inner().header.status.get() == Status::Finished
    }

    /// Whether the greenlet has started running.
    pub fn is_started(&self) -> bool {
        self.inner().header.started.get()
    }

    /// Kills the greenlet and waits until it has finished unwinding (gevent's
    /// `kill(block=True)`).
    ///
    /// A greenlet that has not started never runs: its closure is dropped. A
    /// started one unwinds from its blocking point with a [`GreenletExit`] payload,
    /// running its destructors once. Killing a finished greenlet does nothing.
    ///
    /// # Panics
    /// If a greenlet kills itself.
    pub fn kill(&self) {
        self.kill_nowait();
        self.wait();
    }

    /// Kills and waits at most `timeout`; returns whether the greenlet has finished.
    pub fn kill_timeout(&self, timeout: Duration) -> bool {
        self.kill_nowait();
        self.wait_timeout(timeout)
    }

    /// Delivers the kill and returns at once; the greenlet unwinds when the hub next
    /// runs it (gevent's `kill(block=False)`).
    pub fn kill_nowait(&self) {
        let header = &self.inner().header;
        let hub = Hub::current();
        match header.status.get() {
            Status::Finished => {}
            Status::New => {
                // SAFETY: the handle's count keeps the allocation live, and its vtable
                // was made for it. The closure is dropped without running.
                unsafe { (header.vtable.drop_closure)(self.ptr.cast()) };
                hub.stacks.borrow_mut().unreserve(header.stack_size());
                self.inner().result.set(Some(Err(self.inner().killed())));
                header.finish(hub);
                // A greenlet waiting for its spawn_later timer is in no run queue, so
                // its slot is freed now. One in the run queue keeps its slot until the
                // hub pops it and sees it finished, so that the stale queue entry can
                // never run another greenlet that reused the slot.
                if header.waiting_start.take() {
                    if let Some(key) = header.take_start_timer() {
                        hub.cancel_timer(key);
                    }
                    drop(hub.remove(header.slot.get()));
                }
            }
            Status::Started => {
                if hub.current_slot() == header.slot.get() {
                    panic!("greenlet: {} tried to kill itself", header.describe());
                }
                hub.interrupt(header.slot.get(), Interrupt::Kill);
            }
        }
    }

    /// The greenlet's id.
    pub fn id(&self) -> GreenletId {
        self.inner().header.id
    }

    /// The greenlet's name, if it was given one with [`Builder::name`].
    pub fn name(&self) -> Option<&str> {
        self.inner().header.name().map(|n| &**n)
    }

    pub(crate) fn header(&self) -> &Header {
        &self.inner().header
    }

    /// Finished with an error (panicked or killed).
    pub(crate) fn failed(&self) -> bool {
        // A look into the `Cell`: take the result and put it back.
        let result = self.inner().result.take();
        let failed = result.as_ref().is_some_and(Result::is_err);
        self.inner().result.set(result);
        failed
    }
}

struct JoinCleanup<'a> {
    header: &'a Header,
    waker: Waker,
    timer: Option<TimerKey>,
}

impl Drop for JoinCleanup<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.timer {
            Hub::current().cancel_timer(t);
        }
        if self.header.status.get() != Status::Finished {
            self.header.remove_joiner(self.waker);
        }
    }
}

/// Who is running: a greenlet, or the thread outside any greenlet.
#[derive(Clone, Debug)]
pub struct Current {
    id: GreenletId,
    name: Option<Rc<str>>,
    greenlet: bool,
}

impl Current {
    /// The greenlet's id; outside a greenlet, an id standing for the thread.
    pub fn id(&self) -> GreenletId {
        self.id
    }

    /// The greenlet's name; outside a greenlet, the thread's name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether this is a greenlet (false for the thread's own stack).
    pub fn is_greenlet(&self) -> bool {
        self.greenlet
    }
}

impl fmt::Display for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.greenlet { "Greenlet" } else { "Thread" };
        match &self.name {
            Some(n) => write!(f, "<{kind} '{n}' {}>", self.id),
            None => write!(f, "<{kind} {}>", self.id),
        }
    }
}

/// The running greenlet, or the thread when called outside one.
pub fn current() -> Current {
    let hub = Hub::current();
    match hub.current_header() {
        Some(h) => Current {
            id: h.id,
            name: h.name().cloned(),
            greenlet: true,
        },
        None => Current {
            id: hub.root_id,
            name: std::thread::current().name().map(Rc::from),
            greenlet: false,
        },
    }
}

/// Installs, once, a panic hook that names the greenlet a panic happened in and
/// defers to the previous hook for panics outside greenlets.
pub(crate) fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let who = Hub::try_current()
                .and_then(|hub| hub.current_header())
                .map(Header::describe);
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
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawned_size<T: 'static, F: FnOnce() -> T + 'static>(_: &F) -> usize {
        std::mem::size_of::<Spawned<T, F>>()
    }

    /// A greenlet with a small closure and result fits in three cache lines (the
    /// block cache aligns it to one): a burst of 100,000 greenlets touches each of
    /// them in three passes (spawn, run, join), so every line counts. See `Header`.
    #[test]
    fn a_small_greenlet_fits_in_three_cache_lines() {
        let x = 7u64;
        assert!(spawned_size(&|| ()) <= 192, "{}", spawned_size(&|| ()));
        assert!(
            spawned_size(&move || x) <= 192,
            "{}",
            spawned_size(&move || x)
        );
        assert_eq!(
            std::mem::offset_of!(Header, coro),
            64,
            "the second line starts with the coroutine"
        );
        assert_eq!(
            std::mem::offset_of!(Header, ctx),
            128,
            "the third line starts with the wait state"
        );
    }
}
