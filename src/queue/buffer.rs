//! The orders a queue can keep: `Buffer` and its three implementations.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// The order a queue keeps its items in.
pub trait Buffer<T>: Default {
    /// Adds an item.
    fn push(&mut self, item: T);
    /// Removes the next item.
    fn pop(&mut self) -> Option<T>;
    /// The next item.
    fn peek(&self) -> Option<&T>;
    /// Items held.
    fn len(&self) -> usize;
    /// Whether it holds no item.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Puts back an item that was popped but not delivered, so that it is next.
    fn unpop(&mut self, item: T) {
        self.push(item);
    }
}

/// First in, first out.
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<T>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Buffer<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn peek(&self) -> Option<&T> {
        self.0.front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn unpop(&mut self, item: T) {
        self.0.push_front(item);
    }
}

/// Last in, first out.
#[derive(Debug)]
pub struct Lifo<T>(Vec<T>);

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T> Buffer<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn peek(&self) -> Option<&T> {
        self.0.last()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Smallest first, as Python's and gevent's `PriorityQueue`.
#[derive(Debug)]
pub struct Priority<T: Ord>(BinaryHeap<Reverse<T>>);

impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority(BinaryHeap::new())
    }
}

impl<T: Ord> Buffer<T> for Priority<T> {
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|r| r.0)
    }
    fn peek(&self) -> Option<&T> {
        self.0.peek().map(|r| &r.0)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}
