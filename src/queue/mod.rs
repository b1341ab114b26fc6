//! Queues between greenlets and threads: gevent's `queue` module.
//!
//! One core, [`Queue<T, B>`], serves every kind: the buffer `B` decides the order
//! ([`Fifo`], [`Lifo`], [`Priority`]) and the capacity decides the blocking
//! (unbounded, bounded, or 0 for a rendezvous [`Channel`]). [`JoinableQueue`] adds
//! `task_done`/`join` over the same core.
//!
//! Hand-offs are direct: a `put` with getters waiting gives the item to the first
//! getter; a `get` with putters waiting takes the first putter's item. So each put
//! wakes exactly one getter, in FIFO order, and a getter that times out or is killed
//! after being handed an item gives it back (to the next getter, or to the front of
//! the buffer): it never swallows it.
//!
//! [`channel`] offers the same core as a `Sender`/`Receiver` pair.
//!
//! Closing is std-like: after [`Queue::close`], puts fail with
//! [`PutError::Closed`], items already in the queue can still be got, and then
//! gets fail with [`GetError::Closed`]; iteration ends there.

use std::fmt;
use std::time::{Duration, Instant};

use crate::sync::raw::{
    DeferredWake, DeferredWakes, Ops, Raw, RawState, WaitList, no_abandon, no_cancel, wake_all,
};

mod buffer;
mod kinds;
mod pair;

pub use buffer::{Buffer, Fifo, Lifo, Priority};
pub use kinds::{Channel, JoinableQueue, LifoQueue, PriorityQueue};
pub use pair::{Receiver, Sender, channel};

/// Why a put failed; the item comes back.
#[derive(PartialEq, Eq)]
pub enum PutError<T> {
    /// The queue stayed full (`try_put`, or `put_timeout` timed out).
    Full(T),
    /// The queue is closed.
    Closed(T),
}

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(t) | PutError::Closed(t) => t,
        }
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("the queue is full"),
            PutError::Closed(_) => f.write_str("the queue is closed"),
        }
    }
}

impl<T> std::error::Error for PutError<T> {}

/// Why a get failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetError {
    /// The queue stayed empty (`try_get`, or `get_timeout` timed out).
    Empty,
    /// The queue is closed and drained.
    Closed,
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Empty => f.write_str("the queue is empty"),
            GetError::Closed => f.write_str("the queue is closed"),
        }
    }
}

impl std::error::Error for GetError {}

/// What a blocked getter is handed.
enum Got<T> {
    Item(T),
    Closed,
    /// A rendezvous putter now waits with its item: look again and take it. The
    /// putter returns only once a getter has run and taken it, as in gevent.
    Retry,
}

struct QState<T, B> {
    buf: B,
    /// Most items the buffer holds: `usize::MAX` unbounded, 0 for a rendezvous.
    cap: usize,
    closed: bool,
    /// Items put and not yet marked done (`JoinableQueue`).
    unfinished: usize,
    /// Getters; each is delivered an item, `Closed`, or (for a rendezvous) `Retry`.
    getters: WaitList<(), Got<T>>,
    /// Putters, each offering its item; delivered `Ok` once it is taken, or the item
    /// back when the queue closes.
    putters: WaitList<T, Result<(), T>>,
    /// Blocked `peek`s: woken whenever an item may have become visible.
    peekers: WaitList,
    /// Blocked `join`s: woken when `unfinished` reaches 0.
    joiners: WaitList,
}

impl<T, B> RawState for QState<T, B> {
    fn guard_all(&mut self) {
        self.getters.guard_all();
        self.putters.guard_all();
        self.peekers.guard_all();
        self.joiners.guard_all();
    }
}

impl<T, B: Buffer<T>> QState<T, B> {
    /// Gives an item to the first getter, or else buffers it; returns whom to wake.
    fn deliver(&mut self, item: T) -> Vec<DeferredWake> {
        if !self.getters.is_empty() {
            return self
                .getters
                .grant_front(Got::Item(item))
                .map(|(_, w)| w)
                .into_iter()
                .collect();
        }
        self.buf.unpop(item);
        self.peekers.grant_all(|()| ()).into_iter().collect()
    }

    /// Moves the first waiting putter's item into the buffer, if there is room.
    fn refill(&mut self) -> Option<DeferredWake> {
        if self.buf.len() >= self.cap {
            return None;
        }
        let (item, wake) = self.putters.grant_front(Ok(()))?;
        self.buf.push(item);
        self.unfinished += 1;
        Some(wake)
    }
}

/// A queue of items between greenlets and threads (gevent's `Queue`): unbounded, or
/// bounded so that putters block while it is full. See the [module docs](self).
///
/// ```
/// use std::rc::Rc;
/// use greenlet::queue::Queue;
/// let q = Rc::new(Queue::bounded(2));
/// let q2 = q.clone();
/// let producer = greenlet::spawn(move || {
///     for i in 0..5 {
///         q2.put(i).unwrap(); // blocks while 2 items wait
///     }
///     q2.close();
/// });
/// let got: Vec<i32> = q.iter().collect(); // ends when closed and drained
/// assert_eq!(got, [0, 1, 2, 3, 4]);
/// producer.join().unwrap();
/// ```
pub struct Queue<T, B: Buffer<T> = Fifo<T>> {
    raw: Raw<QState<T, B>>,
}

impl<T> Queue<T> {
    /// An unbounded FIFO queue.
    pub fn new() -> Self {
        Self::with_capacity(usize::MAX)
    }

    /// A FIFO queue holding at most `cap` items; `put` blocks while it is full. A
    /// capacity of 0 makes a rendezvous channel (see [`Channel`]).
    pub fn bounded(cap: usize) -> Self {
        Self::with_capacity(cap)
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue::new()
    }
}

impl<T, B: Buffer<T>> Queue<T, B> {
    /// A queue with the buffer `B` holding at most `cap` items (`usize::MAX`: no bound).
    pub fn with_capacity(cap: usize) -> Self {
        Queue {
            raw: Raw::new(QState {
                buf: B::default(),
                cap,
                closed: false,
                unfinished: 0,
                getters: WaitList::new(),
                putters: WaitList::new(),
                peekers: WaitList::new(),
                joiners: WaitList::new(),
            }),
        }
    }

    /// Puts an item, blocking while the queue is full.
    ///
    /// # Errors
    /// [`PutError::Closed`] with the item if the queue is (or gets) closed.
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_deadline(item, None, false)
    }

    /// Puts an item if there is room now (for a channel: if a getter waits).
    ///
    /// # Errors
    /// [`PutError::Full`] or [`PutError::Closed`], with the item.
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_deadline(item, None, true)
    }

    /// Puts an item, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`PutError::Full`] on timeout, [`PutError::Closed`]; with the item.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_deadline(item, crate::time::deadline(timeout), false)
    }

    fn put_deadline(
        &self,
        item: T,
        deadline: Option<Instant>,
        try_only: bool,
    ) -> Result<(), PutError<T>> {
        let mut st = self.raw.lock();
        if st.closed {
            return Err(PutError::Closed(item));
        }
        if !st.getters.is_empty() && (st.cap > 0 || try_only) {
            st.unfinished += 1;
            st.getters.grant_front_and_wake(Got::Item(item));
            return Ok(());
        }
        if st.buf.len() < st.cap && st.putters.is_empty() {
            st.buf.push(item);
            st.unfinished += 1;
            let wakes = st.peekers.grant_all(|()| ());
            drop(st);
            wake_all(wakes);
            return Ok(());
        }
        if try_only {
            return Err(PutError::Full(item));
        }
        // A waiting item is what a peek sees, and what a waiting getter takes.
        let mut wakes = if st.peekers.is_empty() {
            Default::default()
        } else {
            st.peekers.grant_all(|()| ())
        };
        if !st.getters.is_empty() {
            wakes.extend(st.getters.grant_front(Got::Retry).map(|(_, w)| w));
        }
        let ops: Ops<QState<T, B>, T, Result<(), T>> = Ops {
            list: |s| &mut s.putters,
            cancel: no_cancel,
            abandon: no_abandon,
        };
        match self
            .raw
            .wait(st, item, "Queue::put", deadline, &ops, || wake_all(wakes))
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(item)) => Err(PutError::Closed(item)),
            Err(item) => Err(PutError::Full(item)),
        }
    }

    /// Takes the next item, blocking while the queue is empty.
    ///
    /// # Errors
    /// [`GetError::Closed`] once the queue is closed and drained.
    pub fn get(&self) -> Result<T, GetError> {
        self.get_deadline(None, false)
    }

    /// Takes the next item if there is one now.
    ///
    /// # Errors
    /// [`GetError::Empty`], or [`GetError::Closed`] once closed and drained.
    pub fn try_get(&self) -> Result<T, GetError> {
        self.get_deadline(None, true)
    }

    /// Takes the next item, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`GetError::Empty`] on timeout, or [`GetError::Closed`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_deadline(crate::time::deadline(timeout), false)
    }

    fn get_deadline(&self, deadline: Option<Instant>, try_only: bool) -> Result<T, GetError> {
        loop {
            let mut st = self.raw.lock();
            if let Some(item) = st.buf.pop() {
                let wake = st.refill();
                drop(st);
                wake_all(wake);
                return Ok(item);
            }
            if let Some(item) = st.putters.grant_front_and_wake(Ok(())) {
                st.unfinished += 1;
                return Ok(item);
            }
            if st.closed {
                return Err(GetError::Closed);
            }
            if try_only {
                return Err(GetError::Empty);
            }
            let ops: Ops<QState<T, B>, (), Got<T>> = Ops {
                list: |s| &mut s.getters,
                cancel: no_cancel,
                // Handed something and unwinding: pass it on. An item goes to the
                // next getter or back to the front of the buffer (it stays counted
                // in `unfinished`: it is still in the queue).
                abandon: |_, s, got| match got {
                    Got::Item(item) => s.deliver(item),
                    Got::Retry => s
                        .getters
                        .grant_front(Got::Retry)
                        .map(|(_, w)| w)
                        .into_iter()
                        .collect(),
                    Got::Closed => Vec::new(),
                },
            };
            match self.raw.wait(st, (), "Queue::get", deadline, &ops, || ()) {
                Ok(Got::Item(item)) => return Ok(item),
                Ok(Got::Closed) => return Err(GetError::Closed),
                Ok(Got::Retry) => continue,
                Err(()) => return Err(GetError::Empty),
            }
        }
    }

    /// Blocks until an item is available and returns a copy of it without taking it.
    ///
    /// # Errors
    /// [`GetError::Closed`] once the queue is closed and drained.
    pub fn peek(&self) -> Result<T, GetError>
    where
        T: Clone,
    {
        self.peek_deadline(None, false)
    }

    /// A copy of the next item, if there is one now.
    ///
    /// # Errors
    /// [`GetError::Empty`] or [`GetError::Closed`].
    pub fn try_peek(&self) -> Result<T, GetError>
    where
        T: Clone,
    {
        self.peek_deadline(None, true)
    }

    /// As [`Queue::peek`], waiting at most `timeout`.
    ///
    /// # Errors
    /// [`GetError::Empty`] on timeout, or [`GetError::Closed`].
    pub fn peek_timeout(&self, timeout: Duration) -> Result<T, GetError>
    where
        T: Clone,
    {
        self.peek_deadline(crate::time::deadline(timeout), false)
    }

    fn peek_deadline(&self, deadline: Option<Instant>, try_only: bool) -> Result<T, GetError>
    where
        T: Clone,
    {
        loop {
            let st = self.raw.lock();
            if let Some(item) = st.buf.peek().or(st.putters.front()) {
                return Ok(item.clone());
            }
            if st.closed {
                return Err(GetError::Closed);
            }
            if try_only {
                return Err(GetError::Empty);
            }
            let ops: Ops<QState<T, B>, (), ()> = Ops {
                list: |s| &mut s.peekers,
                cancel: no_cancel,
                abandon: no_abandon,
            };
            if self
                .raw
                .wait(st, (), "Queue::peek", deadline, &ops, || ())
                .is_err()
            {
                return Err(GetError::Empty);
            }
        }
    }

    /// Closes the queue: puts fail from now on, blocked putters get their item back,
    /// and gets fail once the items already in are taken.
    pub fn close(&self) {
        let mut st = self.raw.lock();
        st.closed = true;
        let mut wakes = st.getters.grant_all(|()| Got::Closed);
        wakes.extend(st.putters.grant_all(Err));
        wakes.extend(st.peekers.grant_all(|()| ()));
        drop(st);
        wake_all(wakes);
    }

    /// Whether [`Queue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.raw.lock().closed
    }

    /// Items in the queue (not counting those offered by blocked putters).
    pub fn len(&self) -> usize {
        self.raw.lock().buf.len()
    }

    /// Whether the queue holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a put would block now.
    pub fn is_full(&self) -> bool {
        let st = self.raw.lock();
        st.buf.len() >= st.cap && st.getters.is_empty()
    }

    /// The capacity (`None` if unbounded).
    pub fn capacity(&self) -> Option<usize> {
        let cap = self.raw.lock().cap;
        (cap != usize::MAX).then_some(cap)
    }

    /// Whether a get would return at once (an item, or the queue is closed).
    pub(crate) fn readable(&self) -> bool {
        let st = self.raw.lock();
        !st.buf.is_empty() || !st.putters.is_empty() || st.closed
    }

    /// Registers `waker` to be woken when an item may have become available.
    pub(crate) fn watch(&self, waker: crate::hub::Waker) -> impl Sized + '_ {
        self.raw.watch(|s| &mut s.peekers, (), waker, |_| ())
    }

    /// Contexts blocked in `get`.
    pub fn getters(&self) -> usize {
        self.raw.lock().getters.len()
    }

    /// Contexts blocked in `put`.
    pub fn putters(&self) -> usize {
        self.raw.lock().putters.len()
    }

    /// An iterator of blocking gets; it ends when the queue is closed and drained.
    pub fn iter(&self) -> Iter<'_, T, B> {
        Iter { queue: self }
    }

    fn task_done(&self) {
        let mut st = self.raw.lock();
        if st.unfinished == 0 {
            drop(st);
            panic!("JoinableQueue::task_done called more times than items were put");
        }
        st.unfinished -= 1;
        let wakes = if st.unfinished == 0 {
            st.joiners.grant_all(|()| ())
        } else {
            DeferredWakes::default()
        };
        drop(st);
        wake_all(wakes);
    }

    fn join_deadline(&self, deadline: Option<Instant>) -> bool {
        let st = self.raw.lock();
        if st.unfinished == 0 {
            return true;
        }
        let ops: Ops<QState<T, B>, (), ()> = Ops {
            list: |s| &mut s.joiners,
            cancel: no_cancel,
            abandon: no_abandon,
        };
        self.raw
            .wait(st, (), "JoinableQueue::join", deadline, &ops, || ())
            .is_ok()
    }
}

impl<T, B: Buffer<T>> fmt::Debug for Queue<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.raw.lock();
        f.debug_struct("Queue")
            .field("len", &st.buf.len())
            .field("closed", &st.closed)
            .finish_non_exhaustive()
    }
}

/// Blocking iteration over a queue: see [`Queue::iter`].
#[derive(Debug)]
pub struct Iter<'a, T, B: Buffer<T>> {
    queue: &'a Queue<T, B>,
}

impl<T, B: Buffer<T>> Iterator for Iter<'_, T, B> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.queue.get().ok()
    }
}

impl<'a, T, B: Buffer<T>> IntoIterator for &'a Queue<T, B> {
    type Item = T;
    type IntoIter = Iter<'a, T, B>;
    fn into_iter(self) -> Iter<'a, T, B> {
        self.iter()
    }
}
