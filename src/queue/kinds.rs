//! gevent's named queues as thin wrappers over the one core: `Channel`,
//! `JoinableQueue`, `PriorityQueue`, `LifoQueue`.

use std::ops::Deref;
use std::time::Duration;

use super::{Buffer, Fifo, Lifo, Priority, Queue};

/// A rendezvous (gevent's `Channel`, a queue of capacity 0): `put` returns once a
/// getter has taken the item. With a getter already waiting, `put` wakes it and waits
/// until it has run and taken the item (gevent's event order); `try_put` hands the
/// item to a waiting getter and returns at once.
///
/// ```
/// use std::rc::Rc;
/// let ch = Rc::new(greenlet::queue::Channel::new());
/// let c = ch.clone();
/// let g = greenlet::spawn(move || c.get().unwrap());
/// ch.put("hello").unwrap(); // returns once `g` has it
/// assert_eq!(g.join().unwrap(), "hello");
/// ```
#[derive(Debug)]
pub struct Channel<T>(Queue<T>);

impl<T> Channel<T> {
    /// A new channel.
    pub fn new() -> Self {
        Channel(Queue::bounded(0))
    }
}

impl<T> Default for Channel<T> {
    fn default() -> Self {
        Channel::new()
    }
}

impl<T> Deref for Channel<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.0
    }
}

/// A queue that also counts unfinished work (gevent's `JoinableQueue`): every put
/// adds a task, [`JoinableQueue::task_done`] finishes one, and
/// [`JoinableQueue::join`] waits until none is left.
#[derive(Debug)]
pub struct JoinableQueue<T, B: Buffer<T> = Fifo<T>>(Queue<T, B>);

impl<T> JoinableQueue<T> {
    /// An unbounded FIFO joinable queue.
    pub fn new() -> Self {
        JoinableQueue(Queue::new())
    }

    /// A bounded FIFO joinable queue.
    pub fn bounded(cap: usize) -> Self {
        JoinableQueue(Queue::bounded(cap))
    }
}

impl<T> Default for JoinableQueue<T> {
    fn default() -> Self {
        JoinableQueue::new()
    }
}

impl<T, B: Buffer<T>> JoinableQueue<T, B> {
    /// Marks one task (one item got earlier) as done.
    ///
    /// # Panics
    /// If called more times than items were put.
    pub fn task_done(&self) {
        self.0.task_done();
    }

    /// Tasks put and not yet marked done.
    pub fn unfinished_tasks(&self) -> usize {
        self.0.raw.lock().unfinished
    }

    /// Blocks until every task put so far is done (returns at once if none is left).
    pub fn join(&self) {
        self.0.join_deadline(None);
    }

    /// As [`JoinableQueue::join`], waiting at most `timeout`; returns whether all
    /// tasks are done.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.0.join_deadline(crate::time::deadline(timeout))
    }
}

impl<T, B: Buffer<T>> Deref for JoinableQueue<T, B> {
    type Target = Queue<T, B>;
    fn deref(&self) -> &Queue<T, B> {
        &self.0
    }
}

/// A queue that hands out the smallest item first (gevent's `PriorityQueue`).
#[derive(Debug)]
pub struct PriorityQueue<T: Ord>(Queue<T, Priority<T>>);

impl<T: Ord> PriorityQueue<T> {
    /// An unbounded priority queue.
    pub fn new() -> Self {
        PriorityQueue(Queue::with_capacity(usize::MAX))
    }

    /// A priority queue holding at most `cap` items.
    pub fn bounded(cap: usize) -> Self {
        PriorityQueue(Queue::with_capacity(cap))
    }
}

impl<T: Ord> Default for PriorityQueue<T> {
    fn default() -> Self {
        PriorityQueue::new()
    }
}

impl<T: Ord> Deref for PriorityQueue<T> {
    type Target = Queue<T, Priority<T>>;
    fn deref(&self) -> &Queue<T, Priority<T>> {
        &self.0
    }
}

/// A queue that hands out the newest item first (gevent's `LifoQueue`).
#[derive(Debug)]
pub struct LifoQueue<T>(Queue<T, Lifo<T>>);

impl<T> LifoQueue<T> {
    /// An unbounded LIFO queue.
    pub fn new() -> Self {
        LifoQueue(Queue::with_capacity(usize::MAX))
    }

    /// A LIFO queue holding at most `cap` items.
    pub fn bounded(cap: usize) -> Self {
        LifoQueue(Queue::with_capacity(cap))
    }
}

impl<T> Default for LifoQueue<T> {
    fn default() -> Self {
        LifoQueue::new()
    }
}

impl<T> Deref for LifoQueue<T> {
    type Target = Queue<T, Lifo<T>>;
    fn deref(&self) -> &Queue<T, Lifo<T>> {
        &self.0
    }
}
