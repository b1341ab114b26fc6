//! The raw greenlet: its one allocation (`Spawned<T, F>`: the `Header`, the result,
//! the closure until it first runs), its lifecycle, and the `TaskVTable` the hub runs
//! it through. Not generic where it need not be: the handle's typed calls come down
//! to `Header` methods.

use std::alloc::Layout;
use std::cell::{Cell, OnceCell, RefCell, UnsafeCell};
use std::io;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::rc::Rc;
use std::time::Instant;

use corosensei::{Coroutine, Yielder};

use super::current;
use super::error::JoinError;
use super::id::{GreenletId, Who};
use super::lifecycle::LifeCell;
pub(crate) use super::lifecycle::Lifecycle;
use crate::hub::{BlockCache, Coro, Hub, Interrupt, Task, TaskRef, TaskVTable, TimerKey, Waker};
use crate::stack::DEFAULT_STACK_SIZE;

/// The non-generic part of a greenlet, shared by the hub (through its `task` field)
/// and the handle.
///
/// It is the first field of the greenlet's allocation (`Inner<T>`, `repr(C)`), so a
/// pointer to one is a pointer to the other; the hub's `Task` sits `TASK_OFFSET`
/// bytes in. Kept small, because a burst of greenlets touches every one of them
/// several times (spawn, run, join) and at 10,000 greenlets they no longer fit in
/// the cache: what every pass touches shares the first cache line, the coroutine the
/// second, and what few greenlets use (a name, a `spawn_later` timer, joiners
/// waiting for a running greenlet) is boxed on first use. The layout is in
/// `arch/hub.md`, "A greenlet's memory".
#[repr(C)]
pub(crate) struct Header {
    // ---- first cache line: what every pass over a greenlet touches ----
    /// Its `Lifecycle`, and when it finished as a per-thread sequence number (for
    /// `JoinAll`), in one word.
    lifecycle: LifeCell,
    /// The rarely used part (a name, joiners, a start timer), boxed on first use.
    cold: OnceCell<Box<Cold>>,
    pub(crate) id: GreenletId,
    /// Where it was spawned (`#[track_caller]` on every spawn).
    pub(crate) spawned_at: &'static Location<'static>,
    /// Who spawned it: a greenlet, or the root of a thread (of this hub, or of the
    /// thread that called `Handle::spawn`).
    pub(crate) parent: GreenletId,
    /// The hub's part (run-queue link, counts, coroutine, wait state), from the end
    /// of the first cache line to the middle of the third: its link, counts and
    /// vtable share the first line with the fields above, its coroutine fills the
    /// second and its wait state starts the third (`TASK_OFFSET`).
    pub(crate) task: Task,
}

/// Where the hub's part sits in a greenlet's allocation (the header is first in
/// `Inner<T>` and `Spawned<T, F>`, so the offset is the same from all three).
const TASK_OFFSET: usize = std::mem::offset_of!(Header, task);

/// The hub's part of the greenlet allocation at `p` (a `Header`, `Inner<T>` or
/// `Spawned<T, F>`: `repr(C)` prefixes of one another).
#[inline(always)]
pub(super) fn task_of<X>(p: NonNull<X>) -> NonNull<Task> {
    // SAFETY: the allocation holds a header at its start, so the task lies inside it.
    unsafe { p.byte_add(TASK_OFFSET) }.cast()
}

/// The allocation a task belongs to, as a pointer to its start.
///
/// # Safety
/// `p` must be the `task` field of a live greenlet `Header` (every task this crate
/// makes is one, in [`create`]), with the provenance of the whole allocation.
#[inline(always)]
unsafe fn allocation_of(p: NonNull<Task>) -> NonNull<Header> {
    // SAFETY: by the contract the header starts TASK_OFFSET bytes before.
    unsafe { p.byte_sub(TASK_OFFSET) }.cast()
}

/// What few greenlets need: boxed on first use, so that it costs the others one
/// null pointer.
struct Cold {
    name: Option<Rc<str>>,
    /// The usable size of its stack, as `StackPool::reserve` rounded it.
    stack_size: usize,
    /// The `spawn_later` start timer, once set (kept after it fired: cancelling it
    /// then says so).
    start_timer: Cell<Option<TimerKey>>,
    /// Wakers of contexts waiting for it to finish. Most greenlets are joined after
    /// they finish, or never, so this is here: the first join that waits for a
    /// running greenlet boxes the cold part.
    joiners: RefCell<Vec<Waker>>,
}

impl Cold {
    fn new(name: Option<Rc<str>>, stack_size: usize) -> Box<Cold> {
        Box::new(Cold {
            name,
            stack_size,
            start_timer: Cell::new(None),
            joiners: RefCell::new(Vec::new()),
        })
    }
}

/// A waker registered to be woken when a greenlet finishes; dropping it unregisters
/// it (a wait that ended another way, or unwound).
pub(crate) struct Joiner<'a> {
    header: &'a Header,
    waker: Waker,
}

impl Drop for Joiner<'_> {
    fn drop(&mut self) {
        // A finished greenlet has taken its list already.
        if !self.header.is_finished()
            && let Some(cold) = self.header.cold.get()
        {
            cold.joiners.borrow_mut().retain(|j| *j != self.waker);
        }
    }
}

/// Numbers finished greenlets of this thread in the order they finished.
#[inline]
fn next_finish_seq() -> u64 {
    thread_local! { static NEXT: Cell<u64> = const { Cell::new(0) }; }
    NEXT.with(|n| {
        let v = n.get();
        n.set(v + 1);
        v
    })
}

impl Header {
    /// The header a task belongs to.
    ///
    /// # Safety
    /// `task` must be the `task` field of a `Header`: a task of a greenlet (every
    /// task this crate makes is one, in [`create`]).
    #[inline]
    pub(crate) unsafe fn from_task(task: &Task) -> &Header {
        // SAFETY: by the contract; the header lives at least as long as its field.
        unsafe { allocation_of(NonNull::from(task)).as_ref() }
    }

    #[inline]
    pub(crate) fn lifecycle(&self) -> Lifecycle {
        self.lifecycle.get()
    }

    /// Whether it has finished (returned, panicked or been killed).
    #[inline]
    pub(crate) fn is_finished(&self) -> bool {
        self.lifecycle.get().is_done()
    }

    /// Whether it has ever run.
    pub(crate) fn is_started(&self) -> bool {
        matches!(
            self.lifecycle.get(),
            Lifecycle::Started | Lifecycle::Finished
        )
    }

    /// Its place in this thread's order of finished greenlets (`u64::MAX` before).
    pub(crate) fn finish_order(&self) -> u64 {
        self.lifecycle.finish_order()
    }

    /// The name given with `Builder::name`.
    pub(crate) fn name(&self) -> Option<&Rc<str>> {
        self.cold.get()?.name.as_ref()
    }

    /// How messages name it.
    pub(crate) fn who(&self) -> Who<'_> {
        Who {
            id: self.id,
            name: self.name().map(|n| &**n),
        }
    }

    /// The usable size of its stack. Only greenlets with another size than the
    /// default keep it (in their cold part).
    #[inline]
    pub(crate) fn stack_size(&self) -> usize {
        self.cold.get().map_or(DEFAULT_STACK_SIZE, |c| c.stack_size)
    }

    /// The part few greenlets use, created if need be.
    fn cold(&self) -> &Cold {
        self.cold
            .get_or_init(|| Cold::new(None, DEFAULT_STACK_SIZE))
    }

    /// Makes it wait for its start timer (`spawn_later`): `Delayed`, with the timer
    /// if there is one (none: it waits until killed).
    pub(crate) fn delay(&self, timer: Option<TimerKey>) {
        debug_assert_eq!(self.lifecycle.get(), Lifecycle::New);
        self.lifecycle.set(Lifecycle::Delayed);
        if timer.is_some() {
            self.cold().start_timer.set(timer);
        }
    }

    /// Registers `waker` to be woken when it finishes, until the guard is dropped.
    /// Nothing is registered if it has finished already.
    pub(crate) fn add_joiner(&self, waker: Waker) -> Joiner<'_> {
        if !self.is_finished() {
            self.cold().joiners.borrow_mut().push(waker);
        }
        Joiner {
            header: self,
            waker,
        }
    }

    /// Records the end (its result is stored): sets its final state `end`, numbers
    /// it and wakes its joiners.
    #[inline(always)]
    fn complete(&self, end: Lifecycle) {
        self.lifecycle.end(end, next_finish_seq());
        if self.cold.get().is_some() {
            self.wake_joiners();
        }
        // More than the hub's count: a handle (or another holder) outlives the end.
        if super::finished::keeping() && self.task.refs() > 1 {
            super::finished::keep(self);
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_joiners(&self) {
        let joiners = match self.cold.get() {
            Some(cold) => std::mem::take(&mut *cold.joiners.borrow_mut()),
            None => Vec::new(),
        };
        for w in joiners {
            w.wake();
        }
    }

    /// The greenlet-specific entries of its vtable.
    fn vtable(&self) -> &'static GreenletVTable {
        let task: *const TaskVTable = self.task.vtable();
        // SAFETY: every greenlet's task vtable is the `task` field (the first) of a
        // `repr(C)` `GreenletVTable` static (`Spawned::VTABLE`, set in `create`).
        unsafe { &*task.cast::<GreenletVTable>() }
    }

    /// Waits until it has finished, or until the deadline; returns whether it has.
    /// Not generic, and kept out of `join`'s fast path (a finished greenlet).
    #[inline(never)]
    pub(crate) fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        let hub = Hub::current();
        if hub.current_slot() == self.task.slot() && !self.is_finished() {
            panic!(
                "greenlet: {} tried to join itself; it would wait forever",
                self.who()
            );
        }
        while !self.is_finished() {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            let joiner = self.add_joiner(hub.waker());
            hub.park_until("join", deadline);
            drop(joiner);
        }
        true
    }

    /// Kills it and returns at once: one that has not started never runs (its closure
    /// is dropped now); a started one is interrupted, and unwinds when the hub next
    /// runs it; a finished one is left alone.
    ///
    /// # Panics
    /// If a greenlet kills itself.
    pub(crate) fn kill_nowait(&self) {
        let hub = Hub::current();
        match self.lifecycle.get() {
            Lifecycle::Finished | Lifecycle::Cancelled => {}
            Lifecycle::New | Lifecycle::Delayed => {
                let delayed = self.lifecycle.get() == Lifecycle::Delayed;
                // SAFETY: a live greenlet made with this vtable (the caller's `&self`
                // is backed by a counted reference), not started.
                unsafe { (self.vtable().cancel)(NonNull::from(self)) };
                hub.stacks.borrow_mut().unreserve(self.stack_size());
                self.complete(Lifecycle::Cancelled);
                // A greenlet waiting for its start timer is in no run queue, so its
                // slot is freed now. One in the run queue (its timer fired, or plain
                // `New`) keeps its slot until the hub pops it and sees it cancelled.
                let queued = match self.cold.get().and_then(|c| c.start_timer.get()) {
                    Some(key) => !hub.cancel_timer(key),
                    None => !delayed,
                };
                if !queued {
                    drop(hub.remove(self.task.slot()));
                }
            }
            Lifecycle::Started => {
                if hub.current_slot() == self.task.slot() {
                    panic!("greenlet: {} tried to kill itself", self.who());
                }
                hub.interrupt(self.task.slot(), Interrupt::Kill);
            }
        }
    }
}

/// A greenlet's vtable: the hub's `TaskVTable` (first, so the hub's pointer to it is
/// a pointer to this) and what only this layer calls.
///
/// # Safety
/// As `TaskVTable`'s: `cancel` is called once, on a live greenlet of this vtable that
/// has not started.
#[repr(C)]
struct GreenletVTable {
    task: TaskVTable,
    /// Drops the closure of a greenlet that never started and stores its "killed"
    /// result: `New`/`Delayed` -> `Cancelled`.
    cancel: unsafe fn(NonNull<Header>),
}

#[repr(C)]
pub(crate) struct Inner<T> {
    /// First, so that `*Inner<T>` and `*Header` are the same address.
    pub(crate) header: Header,
    /// A `Cell`: no borrow flag, to keep a greenlet within three cache lines.
    pub(crate) result: Cell<Option<Result<T, JoinError>>>,
}

/// The whole allocation of a greenlet: the part its handle knows (`Inner<T>`, first,
/// so that a pointer to this is a pointer to that) and the closure until it starts.
#[repr(C)]
struct Spawned<T, F> {
    inner: Inner<T>,
    /// Initialised while the lifecycle says the closure is there (`New`, `Delayed`):
    /// no `Option` tag, which would take a small closure's greenlet past three cache
    /// lines. Accessed only by `take_closure`.
    f: UnsafeCell<ManuallyDrop<F>>,
}

impl<T: 'static, F: FnOnce() -> T + 'static> Spawned<T, F> {
    const VTABLE: GreenletVTable = GreenletVTable {
        task: TaskVTable {
            start: Self::start,
            finished: Self::finished,
            abandon: Self::abandon,
            destroy: Self::destroy,
            describe: Self::describe,
        },
        cancel: Self::cancel,
    };

    /// # Safety
    /// `p` must be the task of a live `Spawned<T, F>`.
    unsafe fn this<'a>(p: NonNull<Task>) -> &'a Spawned<T, F> {
        // SAFETY: by the contract; the header is the first field of the first field.
        unsafe { allocation_of(p).cast::<Spawned<T, F>>().as_ref() }
    }

    /// Takes the closure if it is still there, moving the lifecycle to `next`.
    fn take_closure(&self, next: Lifecycle) -> Option<F> {
        let header = &self.inner.header;
        if !header.lifecycle.get().has_closure() {
            return None;
        }
        header.lifecycle.set(next);
        // SAFETY: the lifecycle said the closure is there, so it is initialised; the
        // state has left `New`/`Delayed` first, so it is taken once. No reference to
        // it exists outside this function.
        Some(unsafe { ManuallyDrop::take(&mut *self.f.get()) })
    }

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>` that has not started.
    unsafe fn start(p: NonNull<Task>, hub: &Hub, coro: &mut Option<Coro>) {
        // SAFETY: by the contract.
        let this = unsafe { Self::this(p) };
        let Some(f) = this.take_closure(Lifecycle::Started) else {
            return; // Cancelled: nothing to run.
        };
        let header = &this.inner.header;
        let stack = hub.stacks.borrow_mut().take_reserved(header.stack_size());
        header.task.set_stack_limit(stack.limit_addr());
        let inner_ptr: *const Inner<T> = &this.inner;
        *coro = Some(Coroutine::with_stack(
            stack,
            move |y: &Yielder<(), ()>, ()| {
                // SAFETY: `Inner` outlives the coroutine running this closure: the hub's
                // slab holds a counted reference to the allocation while the greenlet
                // runs, and the coroutine is dropped before the allocation is.
                let inner = unsafe { &*inner_ptr };
                // SAFETY: `y` is this coroutine's yielder, recorded first thing, and
                // it lives on this stack until the closure returns.
                unsafe { inner.header.task.set_yielder(y) };
                let r = panic::catch_unwind(AssertUnwindSafe(f));
                // What other layers keep per greenlet dies with it, on its stack.
                current::run_finish_hook(inner.header.id);
                let r = r.map_err(|payload| inner.error_from(payload));
                inner.result.set(Some(r));
            },
        ));
    }

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>` whose coroutine has returned.
    unsafe fn finished(p: NonNull<Task>) {
        // SAFETY: by the contract.
        let header = &unsafe { Self::this(p) }.inner.header;
        header.complete(Lifecycle::Finished);
    }

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>` that has not started.
    unsafe fn cancel(p: NonNull<Header>) {
        // SAFETY: by the contract; the header starts the allocation.
        let this = unsafe { p.cast::<Spawned<T, F>>().as_ref() };
        drop(this.take_closure(Lifecycle::Cancelled));
        this.inner.result.set(Some(Err(this.inner.killed())));
    }

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>` whose coroutine, if any, is gone.
    unsafe fn abandon(p: NonNull<Task>) {
        // SAFETY: by the contract.
        let this = unsafe { Self::this(p) };
        if this.take_closure(Lifecycle::Cancelled).is_none() {
            this.inner.header.lifecycle.set(Lifecycle::Finished);
        }
        // The forced unwind may have passed through the closure's catch_unwind and
        // stored a result: the greenlet was killed either way.
        this.inner.result.set(Some(Err(this.inner.killed())));
    }

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>` with no reference left.
    unsafe fn destroy(p: NonNull<Task>) {
        // SAFETY: by the contract. The closure of a greenlet that never ran and was
        // never killed is still there (`drop_in_place` leaves it).
        drop(unsafe { Self::this(p) }.take_closure(Lifecycle::Cancelled));
        // SAFETY: by the contract, the task of a `Spawned<T, F>`.
        let p = unsafe { allocation_of(p) }.cast::<Spawned<T, F>>();
        // SAFETY: nothing refers to it any more, so it may be dropped in place, once;
        // its memory came from the block cache with this layout (`create`).
        unsafe {
            std::ptr::drop_in_place(p.as_ptr());
            free_block(p.cast(), Layout::new::<Spawned<T, F>>());
        }
    }

    /// # Safety
    /// `p` must point to a live `Spawned<T, F>`.
    unsafe fn describe(p: NonNull<Task>) -> String {
        // SAFETY: by the contract.
        unsafe { Self::this(p) }.inner.header.who().to_string()
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

/// Allocates a greenlet (header, result slot and closure in one block) and puts it
/// in the hub's slab, `New`, not yet queued. Returns a counted pointer for its handle.
#[inline]
pub(crate) fn create<F, T>(
    hub: &Hub,
    id: GreenletId,
    spawned_at: &'static Location<'static>,
    parent: GreenletId,
    name: Option<String>,
    stack_size: Option<usize>,
    f: F,
) -> io::Result<NonNull<Inner<T>>>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let size = stack_size.unwrap_or(DEFAULT_STACK_SIZE);
    let stack_size = hub.stacks.borrow_mut().reserve(size)?;
    let ptr = hub
        .blocks
        .alloc(Layout::new::<Spawned<T, F>>())
        .cast::<Spawned<T, F>>();
    let value = Spawned {
        inner: Inner {
            header: Header {
                task: Task::new(&Spawned::<T, F>::VTABLE.task),
                lifecycle: LifeCell::new(),
                cold: if name.is_none() && stack_size == DEFAULT_STACK_SIZE {
                    OnceCell::new()
                } else {
                    OnceCell::from(Cold::new(name.map(Rc::from), stack_size))
                },
                id,
                spawned_at,
                parent,
            },
            result: Cell::new(None),
        },
        f: UnsafeCell::new(ManuallyDrop::new(f)),
    };
    // SAFETY: fresh memory with the layout of `Spawned<T, F>`; written once, then
    // read only through counted references.
    unsafe { ptr.as_ptr().write(value) };
    // SAFETY: the task was made with two counts (`Task::new`): this one goes to the
    // slab, the other to the caller's handle.
    hub.insert(unsafe { TaskRef::from_counted(task_of(ptr)) });
    Ok(ptr.cast())
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
        assert_eq!(TASK_OFFSET, 40, "the greenlet's own fields come first");
        assert_eq!(
            std::mem::size_of::<Header>(),
            168,
            "the hub's part ends the header, 40 bytes into the third line"
        );
    }
}
