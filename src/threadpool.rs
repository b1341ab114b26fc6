//! A pool of OS threads for blocking work (gevent's `threadpool`).
//!
//! [`apply`] runs a closure on a worker thread while the calling greenlet parks and
//! the hub keeps running; the closure's value comes back, or its panic resumes in the
//! caller. Workers are started on demand up to a bound and retire after being idle.
//! Host-name resolution and [`crate::fs`] use the process-wide default pool.
//!
//! ```
//! let sum = greenlet::threadpool::apply(|| (1..=10u64).sum::<u64>());
//! assert_eq!(sum, 55);
//! ```
//!
//! A job cannot be cancelled: if the caller is killed (or its `with_timeout`
//! expires) while waiting, it unwinds at once and the job's result is dropped when
//! the job ends. A job that itself calls `apply` on the same pool waits for another
//! worker; with every worker doing so, the pool deadlocks, as any bounded pool would.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::hub::{Hub, Interrupt};

type Job = Box<dyn FnOnce() + Send>;

/// A bounded pool of worker threads. Cloning gives another handle to the same pool.
#[derive(Clone)]
pub struct ThreadPool {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Signalled when a job is queued for an idle worker.
    work: Condvar,
    max_workers: usize,
    idle_timeout: Duration,
}

struct State {
    queue: VecDeque<Job>,
    workers: usize,
    idle: usize,
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.state.lock();
        f.debug_struct("ThreadPool")
            .field("max_workers", &self.inner.max_workers)
            .field("workers", &st.workers)
            .field("idle", &st.idle)
            .field("queued", &st.queue.len())
            .finish()
    }
}

impl ThreadPool {
    /// A pool of at most `max_workers` threads (at least 1), each retiring after
    /// 10 s without work.
    pub fn new(max_workers: usize) -> ThreadPool {
        ThreadPool::with_idle_timeout(max_workers, Duration::from_secs(10))
    }

    /// A pool whose idle workers retire after `idle_timeout`.
    pub fn with_idle_timeout(max_workers: usize, idle_timeout: Duration) -> ThreadPool {
        ThreadPool {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    workers: 0,
                    idle: 0,
                }),
                work: Condvar::new(),
                max_workers: max_workers.max(1),
                idle_timeout,
            }),
        }
    }

    /// Runs `f` on a worker and parks until it returns; its panic resumes here.
    pub fn apply<T, F>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let hub = Hub::current();
        let result = Arc::new(Mutex::new(None));
        let waker = hub.waker();
        // Held until after the wake, so that the hub's deadlock check stays quiet.
        let guard = waker.expect_remote();
        let slot = result.clone();
        self.submit(Box::new(move || {
            let r = panic::catch_unwind(AssertUnwindSafe(f));
            *slot.lock() = Some(r);
            waker.wake();
            drop(guard);
        }));
        hub.park("a thread pool job");
        // A normal return from park means the job woke us, after storing its result.
        let r = result
            .lock()
            .take()
            .expect("the job stores its result before waking");
        match r {
            Ok(v) => v,
            Err(p) => panic::resume_unwind(p),
        }
    }

    /// [`apply`](Self::apply) for a caller that must not unwind (a hooked libc call,
    /// under C frames): a kill or a `with_timeout` deadline while it waits is
    /// returned as `Err` and stays pending (`Hub::park_until_reporting`). The job
    /// runs on regardless; its value is then dropped on the worker when it ends.
    /// A panic of `f` resumes in the caller, as with `apply`.
    #[cfg_attr(not(feature = "monkey"), allow(dead_code))]
    pub(crate) fn apply_reporting<T, F>(&self, f: F) -> Result<T, Interrupt>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let hub = Hub::current();
        let result = Arc::new(Mutex::new(None));
        let waker = hub.waker();
        let guard = waker.expect_remote();
        let slot = result.clone();
        self.submit(Box::new(move || {
            let r = panic::catch_unwind(AssertUnwindSafe(f));
            *slot.lock() = Some(r);
            waker.wake();
            drop(guard);
        }));
        hub.park_until_reporting("a thread pool job", None)?;
        // A normal return from the park means the job woke us, after storing its result.
        let r = result
            .lock()
            .take()
            .expect("the job stores its result before waking");
        match r {
            Ok(v) => Ok(v),
            Err(p) => panic::resume_unwind(p),
        }
    }

    /// How many worker threads exist now (busy or idle).
    pub fn workers(&self) -> usize {
        self.inner.state.lock().workers
    }

    fn submit(&self, job: Job) {
        let mut st = self.inner.state.lock();
        st.queue.push_back(job);
        if st.idle >= st.queue.len() {
            self.inner.work.notify_one();
            return;
        }
        if st.workers < self.inner.max_workers {
            st.workers += 1;
            let inner = self.inner.clone();
            let spawned = thread::Builder::new()
                .name("greenlet-pool".into())
                .spawn(move || worker(inner));
            if let Err(e) = spawned {
                st.workers -= 1;
                if st.workers == 0 {
                    panic!("greenlet: the thread pool cannot start a worker thread: {e}");
                }
            }
        }
    }
}

fn worker(inner: Arc<Inner>) {
    let mut st = inner.state.lock();
    loop {
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            job(); // Catches its own panics.
            st = inner.state.lock();
            continue;
        }
        st.idle += 1;
        let timed_out = inner.work.wait_for(&mut st, inner.idle_timeout).timed_out();
        st.idle -= 1;
        if timed_out && st.queue.is_empty() {
            st.workers -= 1;
            return;
        }
    }
}

/// The process-wide pool used by [`apply`], DNS and [`crate::fs`]: up to 64
/// workers.
pub fn default_pool() -> &'static ThreadPool {
    static POOL: OnceLock<ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| ThreadPool::new(64))
}

/// Runs `f` on the default pool's worker thread while the caller parks; see
/// [`ThreadPool::apply`].
pub fn apply<T, F>(f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    default_pool().apply(f)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::hub::{Hub, Interrupt};

    /// The wait that cannot unwind: a kill comes back as `Err`, stays pending, and
    /// the greenlet's next ordinary wait unwinds with it.
    #[test]
    fn a_kill_is_reported_then_delivered_at_the_next_wait() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let g = crate::spawn(move || {
            let r = super::default_pool().apply_reporting(move || {
                let _ = rx.recv_timeout(Duration::from_secs(10));
            });
            assert_eq!(r.err(), Some(Interrupt::Kill));
            // Reported again, after a yield, while it stays pending.
            let again = Hub::current().park_until_reporting("test", None);
            assert_eq!(again, Err(Interrupt::Kill));
            crate::yield_now(); // Unwinds.
            unreachable!("the pending kill unwinds the next wait");
        });
        crate::yield_now();
        g.kill();
        assert!(g.join().unwrap_err().is_killed());
        tx.send(()).unwrap();
    }

    /// A deadline reported to such a wait makes `with_timeout` return `Err`, even
    /// though the closure returned; one that never fired does not.
    #[test]
    fn a_reported_deadline_is_elapsed() {
        let r = crate::with_timeout(Duration::from_millis(30), || {
            let until = Instant::now() + Duration::from_secs(10);
            Hub::current().park_until_reporting("test", Some(until))
        });
        assert!(r.is_err(), "{r:?}");
        let r = crate::with_timeout(Duration::from_secs(10), || {
            let until = Instant::now() + Duration::from_millis(10);
            Hub::current().park_until_reporting("test", Some(until))
        });
        assert_eq!(r, Ok(Ok(true)));
        assert_eq!(crate::hub_stats().timers, 0);
    }
}
