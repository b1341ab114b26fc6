//! Groups and pools of greenlets: gevent's `pool` module.
//!
//! A [`Group`] tracks the greenlets spawned through it while they live; a [`Pool`]
//! is a group with at most `n` of them at once, where `spawn` blocks while it is
//! full. Both live on one hub (greenlets never leave their thread), so neither is
//! `Send`.
//!
//! Membership is kept by a ticket moved into each greenlet's closure: it is dropped
//! when the greenlet returns, panics or is killed, even if it never started, so a
//! slot is never leaked.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::greenlet::{Greenlet, GreenletId, GreenletRef, JoinError};
use crate::hub::GreenletExit;
use crate::sync::{Event, Semaphore};

struct GroupInner {
    /// Started members, each with a counted handle to kill it by (a member leaves
    /// this list before it dies).
    started: RefCell<Vec<GreenletRef>>,
    /// Members spawned and not finished (started or not).
    live: Cell<usize>,
    /// Bumped by `kill`: a member spawned before, starting after, exits at once.
    kill_epoch: Cell<u64>,
    /// Set while `live` is 0.
    empty: Event,
}

/// A member's place in its group; leaving drops it, however the member ends.
struct Ticket {
    group: Rc<GroupInner>,
    epoch: u64,
    id: Cell<Option<GreenletId>>,
}

impl Ticket {
    fn new(group: Rc<GroupInner>) -> Ticket {
        group.live.set(group.live.get() + 1);
        group.empty.clear();
        let epoch = group.kill_epoch.get();
        Ticket {
            group,
            epoch,
            id: Cell::new(None),
        }
    }

    /// Called first thing in the member: registers it, or unwinds it as killed if
    /// the group was killed before it started.
    fn enter(&self) {
        if self.group.kill_epoch.get() != self.epoch {
            panic::resume_unwind(Box::new(GreenletExit::new()));
        }
        if let Some(me) = GreenletRef::current() {
            self.id.set(Some(me.id()));
            self.group.started.borrow_mut().push(me);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(id) = self.id.get() {
            self.group.started.borrow_mut().retain(|m| m.id() != id);
        }
        let live = self.group.live.get() - 1;
        self.group.live.set(live);
        if live == 0 {
            self.group.empty.set();
        }
    }
}

/// A set of greenlets that can be waited for and killed together (gevent's `Group`).
///
/// ```
/// use std::time::Duration;
/// let group = greenlet::pool::Group::new();
/// group.spawn(|| greenlet::sleep(Duration::from_millis(20)));
/// group.spawn(|| greenlet::sleep(Duration::from_millis(10)));
/// assert_eq!(group.len(), 2);
/// group.join();
/// assert!(group.is_empty());
/// ```
pub struct Group {
    inner: Rc<GroupInner>,
    _not_send: PhantomData<*const ()>,
}

impl Group {
    /// An empty group.
    pub fn new() -> Group {
        let empty = Event::new();
        empty.set();
        Group {
            inner: Rc::new(GroupInner {
                started: RefCell::new(Vec::new()),
                live: Cell::new(0),
                kill_epoch: Cell::new(0),
                empty,
            }),
            _not_send: PhantomData,
        }
    }

    /// Spawns a greenlet that belongs to the group until it finishes.
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> Greenlet<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let ticket = Ticket::new(self.inner.clone());
        crate::spawn(move || {
            ticket.enter();
            let r = f();
            drop(ticket);
            r
        })
    }

    /// Members not yet finished.
    pub fn len(&self) -> usize {
        self.inner.live.get()
    }

    /// Whether every member has finished.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the running greenlet is a member.
    pub fn contains_current(&self) -> bool {
        GreenletRef::current().is_some_and(|me| {
            self.inner
                .started
                .borrow()
                .iter()
                .any(|m| m.id() == me.id())
        })
    }

    /// Waits until every member (including ones spawned meanwhile) has finished.
    /// An empty group returns at once, without switching.
    pub fn join(&self) {
        while !self.is_empty() {
            self.inner.empty.wait();
        }
    }

    /// As [`Group::join`], waiting at most `timeout`; returns whether the group is
    /// empty.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        let deadline = crate::time::deadline(timeout);
        while !self.is_empty() {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() || !self.inner.empty.wait_timeout(left) {
                return self.is_empty();
            }
        }
        true
    }

    /// Kills every member and waits until all have finished. Members that have not
    /// started never run their closure. A member calling this is not killed (it
    /// would wait for itself): the others are, and it waits for them.
    pub fn kill(&self) {
        self.inner.kill_epoch.set(self.inner.kill_epoch.get() + 1);
        let me = GreenletRef::current().map(|g| g.id());
        let started: Vec<GreenletRef> = self.inner.started.borrow().clone();
        for member in started {
            if Some(member.id()) != me {
                member.kill_nowait();
            }
        }
        if me.is_some_and(|me| self.inner.started.borrow().iter().any(|m| m.id() == me)) {
            while self.len() > 1 {
                crate::yield_now();
            }
        } else {
            self.join();
        }
    }
}

impl Default for Group {
    fn default() -> Self {
        Group::new()
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group").field("len", &self.len()).finish()
    }
}

/// A group of at most `size` greenlets at once (gevent's `Pool`): `spawn` blocks
/// while it is full.
///
/// ```
/// use std::time::Duration;
/// let pool = greenlet::pool::Pool::new(2);
/// let squares = pool.map(|x: u64| {
///     greenlet::sleep(Duration::from_millis(5 * (4 - x)));
///     x * x
/// }, 0..4).unwrap();
/// assert_eq!(squares, [0, 1, 4, 9]); // input order, whatever the finishing order
/// ```
pub struct Pool {
    group: Group,
    size: usize,
    slots: Rc<Semaphore>,
    closed: Cell<bool>,
}

/// Gives a pool slot back when the member ends (or its closure is dropped unrun).
struct Slot(Rc<Semaphore>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl Pool {
    /// A pool running at most `size` greenlets at once. `Pool::new(0)` is always
    /// full: its `spawn` blocks forever.
    pub fn new(size: usize) -> Pool {
        Pool {
            group: Group::new(),
            size,
            slots: Rc::new(Semaphore::new(size)),
            closed: Cell::new(false),
        }
    }

    /// The most greenlets it runs at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many more greenlets it could run now.
    pub fn free_count(&self) -> usize {
        self.slots.available_permits()
    }

    /// Whether `spawn` would block now.
    pub fn is_full(&self) -> bool {
        self.free_count() == 0
    }

    /// Greenlets running (or about to).
    pub fn len(&self) -> usize {
        self.group.len()
    }

    /// Whether none is running.
    pub fn is_empty(&self) -> bool {
        self.group.is_empty()
    }

    /// Spawns `f` once a slot is free, blocking until then.
    ///
    /// # Panics
    /// If the pool was closed.
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> Greenlet<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        assert!(!self.closed.get(), "spawn on a closed Pool");
        self.slots.acquire().forget();
        self.spawn_in_slot(f)
    }

    /// Spawns `f` if a slot is free now; else gives `f` back (gevent's
    /// `add(blocking=False)` raising `PoolFull`).
    ///
    /// # Errors
    /// `f`, when the pool is full.
    ///
    /// # Panics
    /// If the pool was closed.
    #[track_caller]
    pub fn try_spawn<F, T>(&self, f: F) -> Result<Greenlet<T>, F>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        assert!(!self.closed.get(), "spawn on a closed Pool");
        match self.slots.try_acquire() {
            Some(p) => {
                p.forget();
                Ok(self.spawn_in_slot(f))
            }
            None => Err(f),
        }
    }

    /// Spawns `f` once a slot is free, waiting at most `timeout`; else gives `f` back.
    ///
    /// # Errors
    /// `f`, when no slot became free in time.
    ///
    /// # Panics
    /// If the pool was closed.
    #[track_caller]
    pub fn spawn_timeout<F, T>(&self, f: F, timeout: Duration) -> Result<Greenlet<T>, F>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        assert!(!self.closed.get(), "spawn on a closed Pool");
        match self.slots.acquire_timeout(timeout) {
            Some(p) => {
                p.forget();
                Ok(self.spawn_in_slot(f))
            }
            None => Err(f),
        }
    }

    /// Waits at most `timeout` until a slot is free, without taking it; returns
    /// [`Pool::free_count`].
    pub fn wait_available(&self, timeout: Duration) -> usize {
        let slots: [&dyn crate::sync::Waitable; 1] = [&*self.slots];
        crate::sync::wait(&slots, Some(timeout), None);
        self.free_count()
    }

    /// Spawns `f` holding a slot the caller has taken.
    #[track_caller]
    fn spawn_in_slot<F, T>(&self, f: F) -> Greenlet<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let slot = Slot(self.slots.clone());
        self.group.spawn(move || {
            let _slot = slot;
            f()
        })
    }

    /// Runs `f` in the pool and waits for its value. Called from one of this
    /// pool's own greenlets, it runs `f` inline (waiting for a slot there could
    /// deadlock a full pool).
    ///
    /// # Panics
    /// Resumes `f`'s panic.
    pub fn apply<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        if self.group.contains_current() {
            return f();
        }
        match self.spawn(f).join() {
            Ok(v) => v,
            Err(e) => match e.try_into_panic() {
                Ok(p) => panic::resume_unwind(p),
                Err(e) => panic!("{e}"),
            },
        }
    }

    /// Runs `f` in the pool (blocking while it is full) and returns at once; then
    /// `callback` gets its value, or `error_callback` the payload of its panic (as
    /// `multiprocessing.Pool.apply_async`). Both run in the pool's greenlet.
    #[track_caller]
    pub fn apply_async<F, T, C, E>(&self, f: F, callback: C, error_callback: E) -> Greenlet<()>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
        C: FnOnce(T) + 'static,
        E: FnOnce(Box<dyn Any + Send>) + 'static,
    {
        self.spawn(move || match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => callback(v),
            Err(p) if p.is::<GreenletExit>() => panic::resume_unwind(p),
            Err(p) => error_callback(p),
        })
    }

    /// Runs `f` on every item, at most `size` at once, and returns the values in
    /// input order.
    ///
    /// # Errors
    /// The first failure in input order; the tasks still running are killed.
    pub fn map<I, T, F>(
        &self,
        f: F,
        items: impl IntoIterator<Item = I>,
    ) -> Result<Vec<T>, JoinError>
    where
        F: Fn(I) -> T + 'static,
        I: 'static,
        T: 'static,
    {
        let f = Rc::new(f);
        let handles: Vec<Greenlet<T>> = items
            .into_iter()
            .map(|item| {
                let f = f.clone();
                self.spawn(move || f(item))
            })
            .collect();
        let mut out = Vec::with_capacity(handles.len());
        let mut handles = handles.into_iter();
        for h in handles.by_ref() {
            match h.join() {
                Ok(v) => out.push(v),
                Err(e) => {
                    let rest: Vec<_> = handles.collect();
                    crate::killall(&rest);
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Runs `f` on every item, at most `size` at once, yielding results in input
    /// order. Lazy and bounded: it starts at most `size` tasks ahead of the
    /// consumer. A failed task yields its `Err` and iteration goes on.
    pub fn imap<I, T, F, It>(&self, f: F, items: It) -> IMap<'_, It::IntoIter, F, T>
    where
        It: IntoIterator<Item = I>,
        F: Fn(I) -> T + 'static,
        I: 'static,
        T: 'static,
    {
        IMap(Window {
            pool: self,
            items: items.into_iter(),
            f: Rc::new(f),
            running: VecDeque::new(),
        })
    }

    /// As [`Pool::imap`], yielding results in the order the tasks finish.
    pub fn imap_unordered<I, T, F, It>(
        &self,
        f: F,
        items: It,
    ) -> IMapUnordered<'_, It::IntoIter, F, T>
    where
        It: IntoIterator<Item = I>,
        F: Fn(I) -> T + 'static,
        I: 'static,
        T: 'static,
    {
        IMapUnordered(Window {
            pool: self,
            items: items.into_iter(),
            f: Rc::new(f),
            running: VecDeque::new(),
        })
    }

    /// Refuses further `spawn`s (they panic); running tasks go on.
    pub fn close(&self) {
        self.closed.set(true);
    }

    /// Waits until every task has finished.
    pub fn join(&self) {
        self.group.join();
    }

    /// As [`Pool::join`], waiting at most `timeout`; returns whether all finished.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.group.join_timeout(timeout)
    }

    /// Kills every task and waits until all have finished.
    pub fn kill(&self) {
        self.group.kill();
    }

    fn spawn_item<I: 'static, T: 'static, F: Fn(I) -> T + 'static>(
        &self,
        f: &Rc<F>,
        item: I,
    ) -> Greenlet<T> {
        let f = f.clone();
        self.spawn(move || f(item))
    }

    /// How many tasks an `imap` keeps in flight.
    fn window(&self) -> usize {
        self.size.max(1)
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size)
            .field("len", &self.len())
            .finish()
    }
}

/// What an imap keeps: the items not started yet and the tasks in flight, at most
/// the pool's size of them. Dropping it stops the tasks nobody will read.
struct Window<'a, It, F, T: 'static> {
    pool: &'a Pool,
    items: It,
    f: Rc<F>,
    running: VecDeque<Greenlet<T>>,
}

impl<I: 'static, It: Iterator<Item = I>, F: Fn(I) -> T + 'static, T: 'static> Window<'_, It, F, T> {
    /// Starts tasks for the next items until the window is full or the items end.
    fn fill(&mut self) {
        let (pool, f) = (self.pool, &self.f);
        let room = pool.window().saturating_sub(self.running.len());
        self.running.extend(
            self.items
                .by_ref()
                .take(room)
                .map(|item| pool.spawn_item(f, item)),
        );
    }
}

impl<It, F, T: 'static> Drop for Window<'_, It, F, T> {
    fn drop(&mut self) {
        for g in &self.running {
            g.kill_nowait();
        }
    }
}

/// The iterator of [`Pool::imap`].
pub struct IMap<'a, It, F, T: 'static>(Window<'a, It, F, T>);

impl<I: 'static, It: Iterator<Item = I>, F: Fn(I) -> T + 'static, T: 'static> Iterator
    for IMap<'_, It, F, T>
{
    type Item = Result<T, JoinError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.fill();
        self.0.running.pop_front().map(Greenlet::join)
    }
}

/// The iterator of [`Pool::imap_unordered`].
pub struct IMapUnordered<'a, It, F, T: 'static>(Window<'a, It, F, T>);

impl<I: 'static, It: Iterator<Item = I>, F: Fn(I) -> T + 'static, T: 'static> Iterator
    for IMapUnordered<'_, It, F, T>
{
    type Item = Result<T, JoinError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.fill();
        let running = &mut self.0.running;
        if running.is_empty() {
            return None;
        }
        let first = crate::JoinAll::new()
            .count(1)
            .wait(running.make_contiguous())
            .ok()
            .and_then(|done| done.first().copied())
            .expect("JoinAll with count(1) returns one finished greenlet");
        running.remove(first).map(Greenlet::join)
    }
}
