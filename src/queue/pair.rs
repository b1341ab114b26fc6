//! The same core as a `Sender`/`Receiver` pair (`channel`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{Fifo, GetError, Iter, PutError, Queue};

/// The shared core of a [`Sender`]/[`Receiver`] pair: a queue and handle counts.
struct Pair<T> {
    queue: Queue<T>,
    senders: AtomicUsize,
    receivers: AtomicUsize,
}

/// A channel as a `Sender`/`Receiver` pair over a [`Queue`], for code that reads
/// better with std's shape: the queue closes when the last sender (or the last
/// receiver) is dropped, so receivers drain what was sent and then see
/// [`GetError::Closed`]. `cap` as in [`Queue::bounded`] (0: a rendezvous); `None`
/// for unbounded. Both ends are `Clone`, `Send` and `Sync` (for `T: Send`).
///
/// ```
/// let (tx, rx) = greenlet::queue::channel(Some(1));
/// let producer = std::thread::spawn(move || {
///     for i in 0..3 {
///         tx.send(i).unwrap();
///     }
/// }); // tx dropped: the channel closes
/// assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2]);
/// producer.join().unwrap();
/// ```
pub fn channel<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let pair = Arc::new(Pair {
        queue: Queue::with_capacity(cap.unwrap_or(usize::MAX)),
        senders: AtomicUsize::new(1),
        receivers: AtomicUsize::new(1),
    });
    (Sender(pair.clone()), Receiver(pair))
}

/// The sending end of [`channel`].
pub struct Sender<T>(Arc<Pair<T>>);

/// The receiving end of [`channel`].
pub struct Receiver<T>(Arc<Pair<T>>);

impl<T> Sender<T> {
    /// Sends, blocking while the channel is full.
    ///
    /// # Errors
    /// [`PutError::Closed`] with the value once every receiver is gone.
    pub fn send(&self, value: T) -> Result<(), PutError<T>> {
        self.0.queue.put(value)
    }

    /// Sends if there is room now.
    ///
    /// # Errors
    /// [`PutError::Full`] or [`PutError::Closed`], with the value.
    pub fn try_send(&self, value: T) -> Result<(), PutError<T>> {
        self.0.queue.try_put(value)
    }

    /// Sends, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`PutError::Full`] on timeout, or [`PutError::Closed`].
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.0.queue.put_timeout(value, timeout)
    }
}

impl<T> Receiver<T> {
    /// Receives, blocking while the channel is empty.
    ///
    /// # Errors
    /// [`GetError::Closed`] once every sender is gone and the channel is drained.
    pub fn recv(&self) -> Result<T, GetError> {
        self.0.queue.get()
    }

    /// Receives if a value is there now.
    ///
    /// # Errors
    /// [`GetError::Empty`] or [`GetError::Closed`].
    pub fn try_recv(&self) -> Result<T, GetError> {
        self.0.queue.try_get()
    }

    /// Receives, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`GetError::Empty`] on timeout, or [`GetError::Closed`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.0.queue.get_timeout(timeout)
    }

    /// Blocking iteration, ending once every sender is gone and the channel drained.
    pub fn iter(&self) -> Iter<'_, T, Fifo<T>> {
        self.0.queue.iter()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, Ordering::Relaxed);
        Sender(self.0.clone())
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.0.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver(self.0.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.queue.close();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.0.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.queue.close();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sender { .. }")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Receiver { .. }")
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T, Fifo<T>>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
