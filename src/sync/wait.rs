//! Waiting for any of several objects: gevent's `wait(objects, timeout, count)` and
//! `iwait`.

use std::fmt;
use std::time::{Duration, Instant};

use crate::greenlet::Greenlet;
use crate::hub::{Hub, Waker};
use crate::queue::{Buffer, Queue};

use super::{AsyncResult, Event};

/// Something [`wait`] and [`iwait`] can wait for: a greenlet (finished), an
/// [`Event`] (set), an [`AsyncResult`] (ready), a [`Queue`] (an item to get, or
/// closed).
pub trait Waitable {
    /// Whether it is ready now.
    fn is_ready(&self) -> bool;

    /// Arranges for `waker` to be woken when it may have become ready, until the
    /// returned subscription is dropped. For implementors outside this crate: keep
    /// whatever unregisters the waker in the `Subscription`.
    fn subscribe(&self, waker: Waker) -> Subscription<'_>;
}

/// A registration of a waker with a [`Waitable`]; dropping it unregisters.
pub struct Subscription<'a>(#[allow(dead_code)] Box<dyn Held + 'a>);

/// Anything: a `Subscription` only keeps its guard alive, to drop it.
trait Held {}
impl<T> Held for T {}

impl<'a> Subscription<'a> {
    /// Wraps a guard whose `Drop` unregisters the waker.
    pub fn new(guard: impl Sized + 'a) -> Subscription<'a> {
        Subscription(Box::new(guard))
    }
}

impl fmt::Debug for Subscription<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Subscription")
    }
}

impl Waitable for Event {
    fn is_ready(&self) -> bool {
        self.is_set()
    }
    fn subscribe(&self, waker: Waker) -> Subscription<'_> {
        Subscription::new(self.watch(waker))
    }
}

impl<T: 'static> Waitable for AsyncResult<T> {
    fn is_ready(&self) -> bool {
        AsyncResult::is_ready(self)
    }
    fn subscribe(&self, waker: Waker) -> Subscription<'_> {
        Subscription::new(self.watch(waker))
    }
}

impl<T: 'static, B: Buffer<T> + 'static> Waitable for Queue<T, B> {
    fn is_ready(&self) -> bool {
        self.readable()
    }
    fn subscribe(&self, waker: Waker) -> Subscription<'_> {
        Subscription::new(self.watch(waker))
    }
}

impl<T: 'static> Waitable for Greenlet<T> {
    fn is_ready(&self) -> bool {
        self.is_finished()
    }
    fn subscribe(&self, waker: Waker) -> Subscription<'_> {
        Subscription::new(self.header().add_joiner(waker))
    }
}

/// Yields the indices of `objects` as they become ready (ready ones first, in list
/// order), each once; ends when all have been yielded or `timeout` has passed.
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use greenlet::sync::{Event, Waitable, iwait};
/// let (a, b) = (Rc::new(Event::new()), Rc::new(Event::new()));
/// let (a2, b2) = (a.clone(), b.clone());
/// greenlet::spawn(move || { greenlet::sleep(Duration::from_millis(5)); a2.set(); });
/// greenlet::spawn(move || b2.set());
/// let objects: [&dyn Waitable; 2] = [&*a, &*b];
/// assert_eq!(iwait(&objects, None).collect::<Vec<_>>(), [1, 0]);
/// ```
pub fn iwait<'a>(objects: &'a [&'a dyn Waitable], timeout: Option<Duration>) -> IWait<'a> {
    IWait {
        objects,
        yielded: vec![false; objects.len()],
        deadline: timeout.and_then(crate::time::deadline),
    }
}

/// Waits until `count` of `objects` (all of them if `None`) are ready, or `timeout`
/// has passed; returns the indices of the ready ones in the order they became ready
/// (gevent's `wait(objects, timeout, count)`).
pub fn wait(
    objects: &[&dyn Waitable],
    timeout: Option<Duration>,
    count: Option<usize>,
) -> Vec<usize> {
    let want = count.unwrap_or(objects.len()).min(objects.len());
    iwait(objects, timeout).take(want).collect()
}

/// The iterator of [`iwait`].
pub struct IWait<'a> {
    objects: &'a [&'a dyn Waitable],
    yielded: Vec<bool>,
    deadline: Option<Instant>,
}

impl IWait<'_> {
    fn ready_one(&mut self) -> Option<usize> {
        let i =
            (0..self.objects.len()).find(|&i| !self.yielded[i] && self.objects[i].is_ready())?;
        self.yielded[i] = true;
        Some(i)
    }
}

impl Iterator for IWait<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        loop {
            if let Some(i) = self.ready_one() {
                return Some(i);
            }
            if self.yielded.iter().all(|y| *y) || self.deadline.is_some_and(|d| Instant::now() >= d)
            {
                return None;
            }
            let hub = Hub::current();
            let w = hub.waker();
            // Check, register, check again, wait.
            let subs: Vec<Subscription<'_>> = (0..self.objects.len())
                .filter(|&i| !self.yielded[i])
                .map(|i| self.objects[i].subscribe(w))
                .collect();
            if let Some(i) = self.ready_one() {
                return Some(i);
            }
            hub.park_until("iwait", self.deadline);
            drop(subs);
        }
    }
}

impl fmt::Debug for IWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IWait").finish_non_exhaustive()
    }
}
