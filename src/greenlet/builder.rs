//! `Builder`, `spawn` and `spawn_later`: how greenlets are made.

use std::io;
use std::panic::Location;
use std::time::Duration;

use super::{Greenlet, GreenletId, raw, report};
use crate::hub::Hub;

/// Configures a greenlet before spawning it, like `std::thread::Builder`.
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
    /// An id taken in advance (a spawn through a `Handle` names its greenlet before
    /// the target hub creates it).
    id: Option<GreenletId>,
    /// A spawn site recorded earlier (by `Handle::spawn`, on the calling thread).
    at: Option<&'static Location<'static>>,
    /// The spawner, when it is not the running context (`Handle::spawn`).
    parent: Option<GreenletId>,
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

    /// Gives the greenlet an id taken earlier with `GreenletId::next`.
    pub(crate) fn id(mut self, id: GreenletId) -> Builder {
        self.id = Some(id);
        self
    }

    /// Records `parent` as the spawner instead of the running context.
    pub(crate) fn parent(mut self, parent: GreenletId) -> Builder {
        self.parent = Some(parent);
        self
    }

    /// Records `at` as the spawn site instead of the caller of `spawn`.
    pub(crate) fn spawned_at(mut self, at: &'static Location<'static>) -> Builder {
        self.at = Some(at);
        self
    }

    /// Spawns the greenlet; it first runs when the spawner blocks or yields.
    ///
    /// # Errors
    /// When no stack can be allocated; the error names the limit and the remedy.
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<Greenlet<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let hub = Hub::current();
        let g = self.create(hub, f)?;
        // SAFETY: just created: in the slab, `New`, in no run queue.
        unsafe { hub.schedule(&g.header().task) };
        Ok(g)
    }

    /// Spawns the greenlet to start no earlier than `delay` from now.
    ///
    /// # Errors
    /// As [`Builder::spawn`].
    #[track_caller]
    pub fn spawn_later<F, T>(self, delay: Duration, f: F) -> io::Result<Greenlet<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let hub = Hub::current();
        let g = self.create(hub, f)?;
        let header = g.header();
        // With no representable deadline ("never") it waits until killed. The timer
        // queues it; a kill before then cancels the timer (`Header::kill_nowait`).
        let timer = crate::hub::deadline(delay).map(|d| hub.start_later(d, header.task.slot()));
        header.delay(timer);
        Ok(g)
    }

    #[track_caller]
    fn create<F, T>(self, hub: &Hub, f: F) -> io::Result<Greenlet<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        report::install();
        // The parent first: a root takes its id on first use, so that the thread that
        // spawns first is #1 and its greenlets come after.
        let parent = match self.parent {
            Some(p) => p,
            None => super::current::id_on(hub),
        };
        let id = self.id.unwrap_or_else(GreenletId::next);
        // Called here, not passed as a function: that would name its caller instead.
        let at = match self.at {
            Some(at) => at,
            None => Location::caller(),
        };
        let ptr = raw::create(hub, id, at, parent, self.name, self.stack_size, f)?;
        Ok(Greenlet::from_created(ptr))
    }
}

/// Spawns a greenlet on this thread's hub. It first runs when the caller blocks or
/// yields; greenlets start in the order they were spawned.
///
/// # Panics
/// When no stack can be allocated, with the message of [`Builder::spawn`]'s error.
#[track_caller]
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
#[track_caller]
pub fn spawn_later<F, T>(delay: Duration, f: F) -> Greenlet<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    Builder::new()
        .spawn_later(delay, f)
        .unwrap_or_else(|e| panic!("{e}"))
}
