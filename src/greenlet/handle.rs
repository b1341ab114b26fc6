//! `Greenlet<T>`, the handle a spawn returns: join it, kill it, ask about it; and
//! `GreenletRef`, an untyped counted handle the crate keeps where it must kill
//! greenlets it did not spawn (a pool's members).

use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use super::error::JoinError;
use super::id::GreenletId;
use super::raw::{Header, Inner};
use crate::hub::{self, TaskRef};

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
    /// A counted reference (see `hub::TaskRef`).
    ptr: NonNull<Inner<T>>,
    _not_send: PhantomData<*mut ()>,
}

impl<T> Greenlet<T> {
    /// Takes over the handle's count of a greenlet `raw::create` made.
    pub(super) fn from_created(ptr: NonNull<Inner<T>>) -> Greenlet<T> {
        Greenlet {
            ptr,
            _not_send: PhantomData,
        }
    }

    #[inline]
    fn inner(&self) -> &Inner<T> {
        // SAFETY: the handle's count keeps the allocation live.
        unsafe { self.ptr.as_ref() }
    }

    #[inline]
    pub(crate) fn header(&self) -> &Header {
        &self.inner().header
    }
}

impl<T> Drop for Greenlet<T> {
    fn drop(&mut self) {
        if super::finished::keeping() && self.header().is_finished() {
            super::finished::forget(self.header().id);
        }
        // SAFETY: the handle owns one count of this live task.
        unsafe { hub::release(super::raw::task_of(self.ptr)) }
    }
}

impl<T> fmt::Debug for Greenlet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Greenlet")
            .field("id", &self.header().id)
            .field("name", &self.header().name())
            .field("lifecycle", &self.header().lifecycle())
            .finish()
    }
}

impl<T: 'static> Greenlet<T> {
    /// Waits for the greenlet to finish and returns its value, or why it has none.
    ///
    /// # Panics
    /// If a greenlet joins itself.
    #[inline]
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
        self.wait_deadline(crate::hub::deadline(timeout))
    }

    #[inline]
    fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        let header = self.header();
        header.is_finished() || header.wait_deadline(deadline)
    }

    /// Whether the greenlet has finished (returned, panicked or been killed).
    pub fn is_finished(&self) -> bool {
        self.header().is_finished()
    }

    /// Whether the greenlet has started running.
    pub fn is_started(&self) -> bool {
        self.header().is_started()
    }

    /// Kills the greenlet and waits until it has finished unwinding (gevent's
    /// `kill(block=True)`).
    ///
    /// A greenlet that has not started never runs: its closure is dropped. A
    /// started one unwinds from its blocking point with a
    /// [`GreenletExit`](crate::GreenletExit) payload, running its destructors once.
    /// Killing a finished greenlet does nothing.
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
        self.header().kill_nowait();
    }

    /// The greenlet's id.
    pub fn id(&self) -> GreenletId {
        self.header().id
    }

    /// Where the greenlet was spawned: the file, line and column of the `spawn` call
    /// (of the user's call, through `Builder`, `Pool`, `Group` and `Handle`).
    pub fn spawned_at(&self) -> &'static Location<'static> {
        self.header().spawned_at
    }

    /// The greenlet's name, if it was given one with [`Builder::name`](crate::Builder::name).
    pub fn name(&self) -> Option<&str> {
        self.header().name().map(|n| &**n)
    }

    /// Another counted, untyped handle to the greenlet.
    pub(crate) fn counted_ref(&self) -> GreenletRef {
        GreenletRef(self.header().task.counted())
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

/// An untyped, counted handle to a greenlet of this thread: enough to name it and
/// kill it, as its own handle would.
#[derive(Clone)]
pub(crate) struct GreenletRef(TaskRef);

impl GreenletRef {
    /// The running greenlet, or `None` on the thread's own stack.
    pub(crate) fn current() -> Option<GreenletRef> {
        crate::hub::Hub::current()
            .current_task()
            .map(|t| GreenletRef(t.counted()))
    }

    /// A counted handle to the greenlet whose header this is.
    pub(super) fn of(h: &Header) -> GreenletRef {
        GreenletRef(h.task.counted())
    }

    pub(super) fn header(&self) -> &Header {
        // SAFETY: every task is a greenlet's (`raw::create`).
        unsafe { Header::from_task(&self.0) }
    }

    pub(crate) fn id(&self) -> GreenletId {
        self.header().id
    }

    /// [`Greenlet::kill_nowait`].
    pub(crate) fn kill_nowait(&self) {
        self.header().kill_nowait();
    }
}
