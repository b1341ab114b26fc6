//! Greenlets: spawn, the handle, join and kill, `current()`.

use std::alloc::Layout;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::Once;
use std::time::{Duration, Instant};

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::hub::{Ctx, Hub, Interrupt, Link, ROOT, TimerAction, TimerKey, UnwindToken, Waker};
use crate::stack::{DEFAULT_STACK_SIZE, PooledStack};

/// Every greenlet's coroutine has this one type: the result travels through the
/// greenlet's own `Inner<T>`, so the hub can resume any greenlet inline, without a
/// virtual call (see `Header::resume`).
type Coro = Coroutine<(), (), (), PooledStack>;

/// A process-unique greenlet number. The thread's own stack has one too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GreenletId(u64);

impl GreenletId {
    pub(crate) fn next() -> GreenletId {
        use std::sync::atomic::{AtomicU64, Ordering};
        // Ids are taken from a global counter in blocks, so spawning costs no atomic.
        static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);
        const BLOCK: u64 = 1024;
        thread_local! {
            static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        }
        RANGE.with(|r| {
            let (mut next, mut end) = r.get();
            if next == end {
                next = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
                end = next + BLOCK;
            }
            r.set((next + 1, end));
            GreenletId(next)
        })
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
#[repr(C)]
pub(crate) struct Header {
    /// Its place in the hub's run queue. First: the queue links headers through it.
    pub(crate) link: Link,
    /// Owning references: the handle and the hub's slab entry (`TaskRef`).
    refs: Cell<usize>,
    vtable: &'static VTable,
    pub(crate) ctx: Ctx,
    pub(crate) id: GreenletId,
    pub(crate) name: Option<Rc<str>>,
    pub(crate) slot: Cell<u32>,
    pub(crate) status: Cell<Status>,
    pub(crate) stack_size: usize,
    /// The guard page below the stack, `[low, high)`, for the overflow report; set
    /// when the greenlet first runs and takes its stack.
    pub(crate) guard: Cell<(usize, usize)>,
    /// The coroutine's yielder, set when it first runs; it lives on the greenlet's
    /// own stack for as long as the coroutine has not finished.
    yielder: Cell<*const Yielder<(), ()>>,
    /// Wakers of contexts waiting for this greenlet to finish.
    pub(crate) joiners: RefCell<Vec<Waker>>,
    /// The `spawn_later` start timer, while pending.
    pub(crate) start_timer: Cell<Option<TimerKey>>,
    /// Spawned with `spawn_later` and not yet in the run queue (its timer pending,
    /// or no timer at all for a delay too long to represent).
    pub(crate) waiting_start: Cell<bool>,
    /// Whether it has ever run.
    started: Cell<bool>,
    /// When it finished, as a per-thread sequence number (for `JoinAll`).
    pub(crate) finish_seq: Cell<u64>,
    /// The coroutine; `None` once finished (its stack back in the pool) or killed.
    coro: RefCell<Option<Coro>>,
}

impl Header {
    /// Runs the greenlet until it suspends (false) or finishes (true).
    ///
    /// Inlined into the hub loop: each call frame between the loop and the stack
    /// switch is a return the CPU mispredicts after switching back (see
    /// `arch/hub.md`, "the cost of a switch").
    #[inline(always)]
    pub(crate) fn resume(&self) -> bool {
        let mut coro = self.coro.borrow_mut();
        if coro.is_none() {
            if self.started.get() {
                return true; // Finished.
            }
            *coro = Some(self.start());
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
    #[cold]
    #[inline(never)]
    fn start(&self) -> Coro {
        let stack = Hub::current()
            .stacks
            .borrow_mut()
            .take_reserved(self.stack_size);
        self.guard.set(stack.guard_range());
        // SAFETY: the vtable was made for this allocation, which is live (the hub's
        // slab holds a count while the greenlet runs), and it has not started.
        unsafe { (self.vtable.start)(NonNull::from(self), stack) }
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

    /// `greenlet 'name' (#3)` or `greenlet #3`.
    pub(crate) fn describe(&self) -> String {
        match &self.name {
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
    /// Recycles the stack, marks it finished, wakes joiners.
    finish: unsafe fn(NonNull<Header>),
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

    pub(crate) fn finish(&self) {
        // SAFETY: the vtable was made for this allocation's `Inner<T>`, which is live.
        unsafe { (self.header().vtable.finish)(self.0) }
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
    result: RefCell<Option<Result<T, JoinError>>>,
}

/// The whole allocation of a greenlet: the part its handle knows (`Inner<T>`, first,
/// so that a pointer to this is a pointer to that) and the closure until it starts.
#[repr(C)]
struct Spawned<T, F> {
    inner: Inner<T>,
    f: Cell<Option<F>>,
}

impl<T: 'static, F: FnOnce() -> T + 'static> Spawned<T, F> {
    const VTABLE: VTable = VTable {
        start: Self::start_raw,
        drop_closure: Self::drop_closure_raw,
        finish: Self::finish_raw,
        abandon: Self::abandon_raw,
        destroy: Self::destroy_raw,
    };

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>`.
    unsafe fn this<'a>(p: NonNull<Header>) -> &'a Spawned<T, F> {
        // SAFETY: by the contract; the header is the first field of the first field.
        unsafe { p.cast::<Spawned<T, F>>().as_ref() }
    }

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>` that has not started.
    unsafe fn start_raw(p: NonNull<Header>, stack: PooledStack) -> Coro {
        // SAFETY: by the contract.
        let this = unsafe { Self::this(p) };
        let f = this.f.take().expect("a greenlet starts once");
        let inner_ptr: *const Inner<T> = &this.inner;
        Coroutine::with_stack(stack, move |y: &Yielder<(), ()>, ()| {
            // SAFETY: `Inner` outlives the coroutine running this closure: the hub's
            // slab holds a counted reference to the allocation while the greenlet
            // runs, and the coroutine is dropped before the allocation is.
            let inner = unsafe { &*inner_ptr };
            inner.header.yielder.set(y as *const _);
            let r = panic::catch_unwind(AssertUnwindSafe(f));
            // Greenlet-local values die with the greenlet, on its stack (crate::local).
            let id = inner.header.id;
            let _ = panic::catch_unwind(|| crate::local::greenlet_finished(id));
            let r = r.map_err(|payload| inner.error_from(payload));
            *inner.result.borrow_mut() = Some(r);
        })
    }

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>`.
    unsafe fn drop_closure_raw(p: NonNull<Header>) {
        // SAFETY: by the contract.
        drop(unsafe { Self::this(p) }.f.take());
    }

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>`.
    unsafe fn finish_raw(p: NonNull<Header>) {
        // SAFETY: by the contract.
        unsafe { Self::this(p) }.inner.finish();
    }

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>`.
    unsafe fn abandon_raw(p: NonNull<Header>) {
        // SAFETY: by the contract.
        let this = unsafe { Self::this(p) };
        drop(this.f.take());
        this.inner.abandon();
    }

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>` with no reference left.
    unsafe fn destroy_raw(p: NonNull<Header>) {
        let p = p.cast::<Spawned<T, F>>();
        // SAFETY: nothing refers to it any more, so it may be dropped in place, once;
        // its memory came from `alloc_block` with this layout.
        unsafe {
            std::ptr::drop_in_place(p.as_ptr());
            free_block(p.cast(), Layout::new::<Spawned<T, F>>());
        }
    }
}

impl<T: 'static> Inner<T> {
    fn finish(&self) {
        let hub = Hub::current();
        let coro = self.header.coro.borrow_mut().take();
        if let Some(c) = coro {
            hub.stacks.borrow_mut().put(c.into_stack());
        }
        self.header.status.set(Status::Finished);
        self.header.finish_seq.set(hub.next_finish_seq());
        if !self.header.joiners.borrow().is_empty() {
            let joiners = std::mem::take(&mut *self.header.joiners.borrow_mut());
            for w in joiners {
                w.wake();
            }
        }
    }

    fn abandon(&self) {
        let coro = self.header.coro.borrow_mut().take();
        // Unwinds a started coroutine, running its destructors (the forced unwind may
        // pass through the closure's catch_unwind and be stored as a result: the
        // greenlet was killed either way).
        drop(coro);
        *self.result.borrow_mut() = Some(Err(self.killed()));
        self.header.status.set(Status::Finished);
    }
}

/// Memory for a greenlet: from the hub's block cache, else from the allocator.
fn alloc_block(layout: Layout) -> NonNull<u8> {
    if let Some(p) = Hub::try_current().and_then(|hub| hub.blocks.take(layout)) {
        return p;
    }
    // SAFETY: `Inner<T>` is never zero-sized (its header is not).
    let p = unsafe { std::alloc::alloc(layout) };
    NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

/// Gives a greenlet's memory back to the hub's block cache, or to the allocator.
///
/// # Safety
/// `p` must come from `alloc_block(layout)`, with nothing live in it.
unsafe fn free_block(p: NonNull<u8>, layout: Layout) {
    let kept = Hub::try_current().is_some_and(|hub| hub.blocks.keep(p, layout));
    if !kept {
        // SAFETY: by the contract, allocated with this layout by the global allocator
        // (blocks in the cache came from it too).
        unsafe { std::alloc::dealloc(p.as_ptr(), layout) };
    }
}

impl<T> Inner<T> {
    fn killed(&self) -> JoinError {
        JoinError {
            id: self.header.id,
            name: self.header.name.as_deref().map(str::to_owned),
            repr: Repr::Killed,
        }
    }

    fn error_from(&self, payload: Box<dyn Any + Send>) -> JoinError {
        let repr = if payload.is::<GreenletExit>() {
            Repr::Killed
        } else if payload.is::<crate::time::TimeoutUnwind>() {
            Repr::Panic(Box::new(
                "a with_timeout deadline escaped its with_timeout call".to_string(),
            ))
        } else {
            Repr::Panic(payload)
        };
        JoinError {
            id: self.header.id,
            name: self.header.name.as_deref().map(str::to_owned),
            repr,
        }
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
            .field("name", &self.inner().header.name)
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
            .borrow_mut()
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

    fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        let header = &self.inner().header;
        if header.status.get() == Status::Finished {
            return true;
        }
        let hub = Hub::current();
        if hub.current_slot() == header.slot.get() && header.status.get() != Status::Finished {
            panic!(
                "greenlet: {} tried to join itself; it would wait forever",
                header.describe()
            );
        }
        while header.status.get() != Status::Finished {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            let w = hub.waker();
            header.add_joiner(w);
            let timer = deadline.map(|d| hub.add_timer(d, TimerAction::Wake(w)));
            let cleanup = JoinCleanup {
                header,
                waker: w,
                timer,
            };
            hub.park("join");
            drop(cleanup);
        }
        true
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
                hub.stacks.borrow_mut().unreserve(header.stack_size);
                *self.inner().result.borrow_mut() = Some(Err(self.inner().killed()));
                self.inner().finish();
                // A greenlet waiting for its spawn_later timer is in no run queue, so
                // its slot is freed now. One in the run queue keeps its slot until the
                // hub pops it and sees it finished, so that the stale queue entry can
                // never run another greenlet that reused the slot.
                if header.waiting_start.take() {
                    if let Some(key) = header.start_timer.take() {
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
        self.inner().header.name.as_deref()
    }

    pub(crate) fn header(&self) -> &Header {
        &self.inner().header
    }

    /// Finished with an error (panicked or killed).
    pub(crate) fn failed(&self) -> bool {
        self.inner()
            .result
            .borrow()
            .as_ref()
            .is_some_and(Result::is_err)
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

/// Why a greenlet has no value: it panicked or was killed.
pub struct JoinError {
    id: GreenletId,
    name: Option<String>,
    repr: Repr,
}

enum Repr {
    Panic(Box<dyn Any + Send>),
    Killed,
}

impl JoinError {
    /// Whether the greenlet panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// Whether the greenlet was killed.
    pub fn is_killed(&self) -> bool {
        matches!(self.repr, Repr::Killed)
    }

    /// The panic payload.
    ///
    /// # Panics
    /// If the greenlet was killed rather than panicking; see [`JoinError::try_into_panic`].
    pub fn into_panic(self) -> Box<dyn Any + Send> {
        self.try_into_panic()
            .unwrap_or_else(|e| panic!("into_panic called on {e}"))
    }

    /// The panic payload, or the error back if the greenlet was killed.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send>, JoinError> {
        match self.repr {
            Repr::Panic(p) => Ok(p),
            Repr::Killed => Err(self),
        }
    }

    /// The id of the greenlet.
    pub fn id(&self) -> GreenletId {
        self.id
    }

    /// The name of the greenlet, if it had one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn who(&self) -> String {
        match &self.name {
            Some(n) => format!("greenlet '{n}' ({})", self.id),
            None => format!("greenlet {}", self.id),
        }
    }
}

pub(crate) fn panic_message(p: &(dyn Any + Send)) -> Option<&str> {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Killed => write!(f, "{} was killed", self.who()),
            Repr::Panic(p) => match panic_message(p.as_ref()) {
                Some(m) => write!(f, "{} panicked: {m}", self.who()),
                None => write!(f, "{} panicked", self.who()),
            },
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Killed => write!(f, "JoinError::Killed({})", self.who()),
            Repr::Panic(_) => write!(f, "JoinError::Panic({self})"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for io::Error {
    fn from(e: JoinError) -> io::Error {
        io::Error::other(e.to_string())
    }
}

/// Configures a greenlet before spawning it, like `std::thread::Builder`.
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with the default name (none) and stack size (256 KiB).
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the greenlet; the name appears in panic reports and errors.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Sets the usable stack size in bytes (rounded up to a page, at least 16 KiB).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Spawns the greenlet; it first runs when the spawner blocks or yields.
    ///
    /// # Errors
    /// When no stack can be allocated; the error names the limit and the remedy.
    pub fn spawn<F, T>(self, f: F) -> io::Result<Greenlet<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let hub = Hub::current();
        let g = self.create(hub, f)?;
        hub.schedule(g.inner().header.slot.get());
        Ok(g)
    }

    /// Spawns the greenlet to start no earlier than `delay` from now.
    ///
    /// # Errors
    /// As [`Builder::spawn`].
    pub fn spawn_later<F, T>(self, delay: Duration, f: F) -> io::Result<Greenlet<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let hub = Hub::current();
        let g = self.create(hub, f)?;
        let slot = g.inner().header.slot.get();
        g.inner().header.waiting_start.set(true);
        // With no representable deadline ("never") it waits until killed.
        if let Some(d) = crate::time::deadline(delay) {
            let key = hub.add_timer(d, TimerAction::Start(slot));
            g.inner().header.start_timer.set(Some(key));
        }
        Ok(g)
    }

    fn create<F, T>(self, hub: &Hub, f: F) -> io::Result<Greenlet<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let size = self.stack_size.unwrap_or(DEFAULT_STACK_SIZE);
        let stack_size = hub.stacks.borrow_mut().reserve(size)?;
        let layout = Layout::new::<Spawned<T, F>>();
        let ptr = alloc_block(layout).cast::<Spawned<T, F>>();
        let value = Spawned {
            inner: Inner {
                header: Header {
                    // The handle's and the slab's.
                    link: Link::default(),
                    refs: Cell::new(2),
                    vtable: &Spawned::<T, F>::VTABLE,
                    ctx: Ctx::new(),
                    id: GreenletId::next(),
                    name: self.name.map(Rc::from),
                    slot: Cell::new(ROOT),
                    status: Cell::new(Status::New),
                    stack_size,
                    guard: Cell::new((0, 0)),
                    yielder: Cell::new(std::ptr::null()),
                    joiners: RefCell::new(Vec::new()),
                    start_timer: Cell::new(None),
                    waiting_start: Cell::new(false),
                    started: Cell::new(false),
                    finish_seq: Cell::new(u64::MAX),
                    coro: RefCell::new(None),
                },
                result: RefCell::new(None),
            },
            f: Cell::new(Some(f)),
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

/// Spawns a greenlet on this thread's hub. It first runs when the caller blocks or
/// yields; greenlets start in the order they were spawned.
///
/// # Panics
/// When no stack can be allocated, with the message of [`Builder::spawn`]'s error.
pub fn spawn<F, T>(f: F) -> Greenlet<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    Builder::new().spawn(f).unwrap_or_else(|e| panic!("{e}"))
}

/// Spawns a greenlet that starts no earlier than `delay` from now.
///
/// # Panics
/// As [`spawn`].
pub fn spawn_later<F, T>(delay: Duration, f: F) -> Greenlet<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    Builder::new()
        .spawn_later(delay, f)
        .unwrap_or_else(|e| panic!("{e}"))
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
            name: h.name.clone(),
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
