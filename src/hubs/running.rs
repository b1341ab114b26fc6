//! `Hubs`: several hubs, each on an OS thread of its own.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use super::Handle;
use crate::greenlet::JoinError;
use crate::sys;

/// Several hubs, each on its own OS thread: hub `i` runs `f(i)` on its root (as `fn
/// main` runs on the main thread's hub), then finishes what is running on it (as
/// [`wait`](crate::wait) does) and its thread ends.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let total = Arc::new(AtomicUsize::new(0));
/// let t = total.clone();
/// let results = greenlet::Hubs::new(2).name("worker").run(move |i| {
///     // Each hub runs greenlets of its own; `Rc` is fine within one.
///     let gs: Vec<_> = (0..100).map(|_| greenlet::spawn(|| 1)).collect();
///     let sum: usize = greenlet::joinall(gs).into_iter().map(Result::unwrap).sum();
///     t.fetch_add(sum, Ordering::Relaxed);
///     std::thread::current().name().unwrap().to_string()
/// });
/// let names: Vec<String> = results.into_iter().map(Result::unwrap).collect();
/// assert_eq!(names, ["worker-0", "worker-1"]);
/// assert_eq!(total.load(Ordering::Relaxed), 200);
/// ```
#[derive(Clone, Debug)]
pub struct Hubs {
    n: usize,
    prefix: String,
    pin: bool,
}

impl Hubs {
    /// `n` hubs; 0 means one per CPU (`std::thread::available_parallelism`).
    pub fn new(n: usize) -> Hubs {
        let n = if n == 0 {
            thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            n
        };
        Hubs {
            n,
            prefix: "hub".to_string(),
            pin: false,
        }
    }

    /// Names the threads `prefix-0`, `prefix-1`, ... (default `hub-i`).
    pub fn name(mut self, prefix: impl Into<String>) -> Hubs {
        self.prefix = prefix.into();
        self
    }

    /// Binds hub `i` to the `i`-th CPU the process may use (modulo their count).
    /// Best effort: a binding the system refuses leaves that hub unbound.
    pub fn pin(mut self, yes: bool) -> Hubs {
        self.pin = yes;
        self
    }

    /// How many hubs this starts.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether it starts none (never: `new(0)` means one per CPU).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Starts the hubs, each running `f(i)` on its root, and returns once every hub
    /// exists (so its handle can be used at once).
    ///
    /// # Panics
    /// If a thread cannot be started (the message says which).
    pub fn start<F, T>(self, f: F) -> RunningHubs<T>
    where
        F: Fn(usize) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        let f = Arc::new(f);
        let cpus = if self.pin {
            sys::thread::allowed_cpus().unwrap_or_default()
        } else {
            Vec::new()
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let mut threads = Vec::with_capacity(self.n);
        for i in 0..self.n {
            let f = f.clone();
            let tx = tx.clone();
            let cpu = (!cpus.is_empty()).then(|| cpus[i % cpus.len()]);
            let name = format!("{}-{i}", self.prefix);
            let spawned = thread::Builder::new()
                .name(name.clone())
                .spawn(move || hub_main(i, cpu, f, tx));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => panic!("greenlet: cannot start the thread of hub '{name}': {e}"),
            }
        }
        drop(tx);
        let mut handles: Vec<Option<Handle>> = vec![None; self.n];
        for (i, handle) in rx.iter().take(self.n) {
            handles[i] = Some(handle);
        }
        let handles = handles
            .into_iter()
            .map(|h| h.expect("every hub sends its handle before running its root"))
            .collect();
        RunningHubs { handles, threads }
    }

    /// [`start`](Hubs::start), then [`RunningHubs::join`].
    pub fn run<F, T>(self, f: F) -> Vec<Result<T, JoinError>>
    where
        F: Fn(usize) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        self.start(f).join()
    }
}

/// The body of hub `i`'s thread.
fn hub_main<F, T>(
    i: usize,
    cpu: Option<usize>,
    f: Arc<F>,
    tx: std::sync::mpsc::Sender<(usize, Handle)>,
) -> Result<T, JoinError>
where
    F: Fn(usize) -> T,
{
    if let Some(cpu) = cpu {
        // Best effort, as documented on `pin`.
        let _ = sys::thread::pin_to_cpu(cpu);
    }
    // The receiver lives until every hub has sent.
    let _ = tx.send((i, Handle::current()));
    drop(tx);
    let r = panic::catch_unwind(AssertUnwindSafe(|| f(i)));
    // What other threads spawned here, and what the root left running, finishes.
    crate::wait();
    r.map_err(|payload| {
        JoinError::root_panic(
            crate::greenlet::current_id(),
            thread::current().name().map(String::from),
            payload,
        )
    })
}

/// Hubs started by [`Hubs::start`].
#[derive(Debug)]
pub struct RunningHubs<T> {
    handles: Vec<Handle>,
    threads: Vec<JoinHandle<Result<T, JoinError>>>,
}

impl<T> RunningHubs<T> {
    /// The hubs' handles, hub `i` at index `i`.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Waits for every hub's thread to end; hub `i`'s root result at index `i` (a
    /// panic of its root function is an error naming the hub).
    pub fn join(self) -> Vec<Result<T, JoinError>> {
        self.threads
            .into_iter()
            .map(|t| match t.join() {
                Ok(r) => r,
                // The root's panic is caught in `hub_main`; this one escaped the
                // hub's own teardown, which aborts first in practice.
                Err(p) => Err(JoinError::root_panic(
                    crate::greenlet::current_id(),
                    None,
                    p,
                )),
            })
            .collect()
    }
}
