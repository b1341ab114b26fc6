//! `Handle` and `RemoteGreenlet`: spawning onto a hub from any thread.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::greenlet::{Builder, GreenletId, GreenletRef, JoinError};
use crate::hub::HubRef;
use crate::sync::Event;

/// A hub, as any thread can name it: `Clone`, `Send` and `Sync`.
///
/// [`Handle::spawn`] runs a `Send` closure as a greenlet of that hub: it is created on
/// the hub's thread, runs there and only there, and its result (or panic) comes back
/// through the [`RemoteGreenlet`]. A handle to a hub whose thread has ended still
/// spawns, and the greenlet's `join` says so (`JoinError::is_hub_exited`).
///
/// ```
/// let handle = greenlet::Handle::current();
/// let worker = std::thread::spawn(move || {
///     // From another thread: the closure runs on the main thread's hub.
///     handle.spawn(|| std::thread::current().name().map(String::from))
/// });
/// let remote = worker.join().unwrap();
/// assert_eq!(remote.join().unwrap().as_deref(), std::thread::current().name());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Handle {
    hub: HubRef,
}

impl Handle {
    /// This thread's hub (created if needed).
    pub fn current() -> Handle {
        Handle {
            hub: HubRef::current(),
        }
    }

    /// Whether this is the calling thread's hub.
    pub fn is_current(&self) -> bool {
        self.hub.is_current()
    }

    /// Runs `f` as a greenlet of this hub. On the calling thread's own hub it is
    /// spawned at once; on another, it is created the next time that hub looks at
    /// its inbox (at once if the hub is waiting). It starts as any greenlet does: when
    /// its hub next runs greenlets.
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> RemoteGreenlet<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let id = GreenletId::next();
        let at = Location::caller();
        let parent = crate::greenlet::current_id();
        let state = Arc::new(State {
            id,
            at,
            result: parking_lot::Mutex::new(None),
            done: Event::new(),
        });
        let pending = Pending(Some(state.clone()));
        let job = move || start_here(id, at, parent, f, pending);
        if self.hub.is_current() {
            job();
        } else {
            // A refused job is dropped here: its `Pending` reports the hub gone.
            drop(self.hub.send(Box::new(job)));
        }
        RemoteGreenlet {
            state,
            hub: self.hub,
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("alive", &self.hub.is_alive())
            .finish_non_exhaustive()
    }
}

/// Where a remote greenlet's result goes, shared by its `RemoteGreenlet` and the
/// greenlets on the target hub that deliver it.
struct State<T> {
    id: GreenletId,
    /// Where `Handle::spawn` was called.
    at: &'static Location<'static>,
    result: parking_lot::Mutex<Option<Result<T, JoinError>>>,
    /// Set once `result` holds the result.
    done: Event,
}

impl<T> State<T> {
    fn deliver(&self, r: Result<T, JoinError>) {
        let mut slot = self.result.lock();
        if slot.is_none() && !self.done.is_set() {
            *slot = Some(r);
            drop(slot);
            self.done.set();
        }
    }
}

/// A result still owed: dropped undelivered (the job never ran, or the greenlet that
/// waits for the user's greenlet was unwound with its hub), it delivers "hub exited".
struct Pending<T>(Option<Arc<State<T>>>);

impl<T> Pending<T> {
    fn deliver(mut self, r: Result<T, JoinError>) {
        if let Some(state) = self.0.take() {
            state.deliver(r);
        }
    }
}

impl<T> Drop for Pending<T> {
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            state.deliver(Err(JoinError::hub_exited(state.id)));
        }
    }
}

thread_local! {
    /// This hub's greenlets spawned through handles and not finished, for kills sent
    /// from other threads.
    static REMOTES: RefCell<HashMap<GreenletId, GreenletRef>> = RefCell::new(HashMap::new());
}

/// On the target hub: spawns the user's greenlet and a second one that joins it and
/// delivers its result (the only way to get it exactly: panicked, killed, or unwound
/// when the hub exits).
fn start_here<F, T>(
    id: GreenletId,
    at: &'static Location<'static>,
    parent: GreenletId,
    f: F,
    pending: Pending<T>,
) where
    F: FnOnce() -> T + 'static,
    T: Send + 'static,
{
    let g = match Builder::new().id(id).spawned_at(at).parent(parent).spawn(f) {
        Ok(g) => g,
        Err(e) => return pending.deliver(Err(JoinError::spawn_failed(id, e))),
    };
    REMOTES.with(|r| r.borrow_mut().insert(id, g.counted_ref()));
    // Shared with the deliverer, so that a deliverer that cannot be spawned leaves
    // the result here to report why.
    let owed = Rc::new(Cell::new(Some(pending)));
    let owed_there = owed.clone();
    let delivery = Builder::new().spawned_at(at).parent(parent).spawn(move || {
        let r = g.join();
        let _ = REMOTES.try_with(|m| m.borrow_mut().remove(&id));
        if let Some(pending) = owed_there.take() {
            pending.deliver(r);
        }
    });
    if let Err(e) = delivery {
        // No stack for the deliverer: cancel the user's greenlet (it has not run).
        let g = REMOTES.with(|r| r.borrow_mut().remove(&id));
        if let Some(g) = g {
            g.kill_nowait();
        }
        if let Some(pending) = owed.take() {
            pending.deliver(Err(JoinError::spawn_failed(id, e)));
        }
    }
}

/// On the target hub: kills a greenlet spawned through a handle, if still running.
fn kill_here(id: GreenletId) {
    let g = REMOTES.with(|r| r.borrow().get(&id).cloned());
    if let Some(g) = g {
        g.kill_nowait();
    }
}

/// The handle of a greenlet spawned through a [`Handle`]: `Send`, so any thread can
/// join or kill it; the greenlet itself stays on its hub.
///
/// Dropping it detaches the greenlet, as dropping a [`Greenlet`](crate::Greenlet) does.
pub struct RemoteGreenlet<T> {
    state: Arc<State<T>>,
    hub: HubRef,
}

impl<T> RemoteGreenlet<T> {
    /// Waits for the greenlet to finish and returns its value, or why it has none
    /// (its panic, its kill, or that its hub's thread has exited).
    pub fn join(self) -> Result<T, JoinError> {
        self.wait();
        self.state
            .result
            .lock()
            .take()
            .expect("a finished remote greenlet has a result")
    }

    /// Waits for the greenlet to finish, without taking its result.
    pub fn wait(&self) {
        self.state.done.wait();
    }

    /// Waits at most `timeout`; returns whether the greenlet has finished.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.state.done.wait_timeout(timeout)
    }

    /// Whether the greenlet has finished (returned, panicked, been killed, or could
    /// not run because its hub is gone).
    pub fn is_finished(&self) -> bool {
        self.state.done.is_set()
    }

    /// The greenlet's id, known before it is created on its hub.
    pub fn id(&self) -> GreenletId {
        self.state.id
    }

    /// Where [`Handle::spawn`] was called for it.
    pub fn spawned_at(&self) -> &'static Location<'static> {
        self.state.at
    }

    /// Kills the greenlet on its hub and waits until it has finished unwinding.
    pub fn kill(&self) {
        self.kill_nowait();
        self.wait();
    }

    /// Kills and waits at most `timeout`; returns whether the greenlet has finished.
    pub fn kill_timeout(&self, timeout: Duration) -> bool {
        self.kill_nowait();
        self.wait_timeout(timeout)
    }

    /// Sends the kill to the greenlet's hub and returns at once; it unwinds there.
    pub fn kill_nowait(&self) {
        if self.is_finished() {
            return;
        }
        let id = self.state.id;
        if self.hub.is_current() {
            kill_here(id);
        } else {
            // A hub that is gone has unwound its greenlets already.
            drop(self.hub.send(Box::new(move || kill_here(id))));
        }
    }
}

impl<T> fmt::Debug for RemoteGreenlet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteGreenlet")
            .field("id", &self.state.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}
