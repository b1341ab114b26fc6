//! Owner mode (`arch/sync.md`): a primitive only one thread has touched runs without
//! its lock, and the first touch from a second thread revokes that. These tests make
//! the revocation land at many different points of the owner's work and check that
//! nothing is lost or duplicated, and that a re-entrant use fails clearly.

use std::cmp::Ordering as CmpOrdering;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use greenlet::queue::{PriorityQueue, Queue};
use greenlet::sync::{Event, Mutex};

mod support;
use support::child::{CHILD_OK, assert_child_ok, is_child};

/// Rounds: each one revokes a fresh primitive at a different moment.
const ROUNDS: usize = 200;
const ITEMS: usize = 500;

/// The owner's greenlets put into an unbounded queue (and get some back) while, from
/// some moment on, a plain thread gets: every item arrives exactly once, and one
/// producer's items stay in order.
#[test]
fn queue_revoked_while_the_owner_works() {
    queue_revoked(ROUNDS);
}

fn queue_revoked(rounds: usize) {
    for round in 0..rounds {
        let q: Arc<Queue<usize>> = Arc::new(Queue::new());
        let started = Arc::new(AtomicBool::new(false));
        let (q2, s2) = (q.clone(), started.clone());
        let owner = std::thread::spawn(move || {
            q2.put(0).unwrap();
            s2.store(true, Ordering::Release);
            let producer = {
                let q = q2.clone();
                greenlet::spawn(move || {
                    for i in 1..ITEMS {
                        q.put(i).unwrap();
                        if i % 7 == round % 7 {
                            greenlet::yield_now();
                        }
                    }
                })
            };
            producer.join().unwrap();
        });
        while !started.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        let got: Vec<usize> = (0..ITEMS).map(|_| q.get().unwrap()).collect();
        owner.join().unwrap();
        assert_eq!(got, (0..ITEMS).collect::<Vec<_>>(), "round {round}");
        assert!(q.is_empty());
    }
}

/// Greenlets of the owner contend on a `Mutex` (so its wait list is in use in owner
/// mode) while a plain thread joins in: the count is exact.
#[test]
fn mutex_revoked_with_waiters_queued() {
    mutex_revoked(ROUNDS / 4);
}

fn mutex_revoked(rounds: usize) {
    for _ in 0..rounds {
        let m = Arc::new(Mutex::new(0usize));
        let started = Arc::new(AtomicBool::new(false));
        let (m2, s2) = (m.clone(), started.clone());
        let owner = std::thread::spawn(move || {
            let gs: Vec<_> = (0..4)
                .map(|_| {
                    let m = m2.clone();
                    let s = s2.clone();
                    greenlet::spawn(move || {
                        for _ in 0..ITEMS {
                            let mut g = m.lock();
                            s.store(true, Ordering::Release);
                            *g += 1;
                            greenlet::yield_now(); // others queue up behind the holder
                        }
                    })
                })
                .collect();
            for r in greenlet::joinall(gs) {
                r.unwrap();
            }
        });
        while !started.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        for _ in 0..ITEMS {
            *m.lock() += 1;
        }
        owner.join().unwrap();
        assert_eq!(*m.lock(), 5 * ITEMS);
    }
}

/// An owner-mode ping-pong between two greenlets, then a thread takes one side over:
/// every round trip completes.
#[test]
fn event_ping_pong_then_a_thread_joins() {
    event_ping_pong_then_thread();
}

fn event_ping_pong_then_thread() {
    let ping = Arc::new(Event::new());
    let pong = Arc::new(Event::new());
    let rounds = Arc::new(AtomicUsize::new(0));
    let (pi, po, r) = (ping.clone(), pong.clone(), rounds.clone());
    let owner = std::thread::spawn(move || {
        let (pi2, po2) = (pi.clone(), po.clone());
        let responder = greenlet::spawn(move || {
            for _ in 0..ITEMS {
                pi2.wait();
                pi2.clear();
                po2.set();
            }
        });
        for _ in 0..ITEMS {
            pi.set();
            po.wait();
            po.clear();
            r.fetch_add(1, Ordering::Relaxed);
        }
        responder.join().unwrap();
        // The same events, now driven from another thread.
        for _ in 0..ITEMS {
            pi.wait();
            pi.clear();
            po.set();
        }
    });
    while rounds.load(Ordering::Relaxed) < ITEMS {
        std::thread::yield_now();
    }
    for _ in 0..ITEMS {
        ping.set();
        pong.wait();
        pong.clear();
    }
    owner.join().unwrap();
}

/// Compares by looking into the queue it lives in: a use of the queue from inside
/// its own operation.
struct Nosy(u32);

thread_local! {
    static NOSY_QUEUE: std::cell::RefCell<Option<Rc<PriorityQueue<Nosy>>>> =
        const { std::cell::RefCell::new(None) };
}

impl PartialEq for Nosy {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Nosy {}
impl PartialOrd for Nosy {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Nosy {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        NOSY_QUEUE.with(|q| {
            if let Some(q) = q.borrow().as_ref() {
                let _ = q.len();
            }
        });
        self.0.cmp(&other.0)
    }
}

/// Was a silent deadlock (the state lock is not re-entrant); now a clear panic.
#[test]
fn reentrant_use_panics_clearly() {
    let q = Rc::new(PriorityQueue::new());
    q.put(Nosy(2)).unwrap();
    NOSY_QUEUE.with(|n| *n.borrow_mut() = Some(q.clone()));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.put(Nosy(1))));
    NOSY_QUEUE.with(|n| *n.borrow_mut() = None);
    let msg = r.expect_err("re-entrant use must panic");
    let msg = msg
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| msg.downcast_ref::<&str>().copied())
        .unwrap_or("");
    assert!(msg.contains("used again from inside"), "{msg}");
}

/// Without `membarrier` (older kernels, some sandboxes) owner mode is off and every
/// operation takes the state mutex: the same scenarios hold.
#[test]
fn without_owner_mode_the_locked_path_serves() {
    const NAME: &str = "without_owner_mode_the_locked_path_serves";
    if is_child(NAME) {
        assert!(greenlet::__private::disable_owner_mode());
        queue_revoked(20);
        mutex_revoked(5);
        event_ping_pong_then_thread();
        println!("{CHILD_OK}");
        return;
    }
    assert_child_ok(NAME);
}

/// The crate registers for `membarrier` as the program loads (an ELF constructor),
/// while the process has one thread: registering later, with other threads alive,
/// waits for an RCU grace period (5-15 ms). The test binary loaded it too.
#[test]
fn membarrier_is_registered_as_the_program_loads() {
    assert!(
        greenlet::__private::registered_at_load().is_some(),
        "the load-time registration did not run"
    );
}

/// Where the load-time registration did not run, it runs on a thread of its own:
/// primitives first touched meanwhile take the lock for good (and are revoked without
/// a barrier); once it is done, new primitives get owner mode. Both serve the same
/// scenarios, with four idle threads in the process as in any threaded program.
#[test]
fn registration_in_the_background_serves_both_kinds() {
    const NAME: &str = "registration_in_the_background_serves_both_kinds";
    if is_child(NAME) {
        let idle: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(std::thread::park))
            .collect();
        assert!(greenlet::__private::register_in_background());
        // Touched before the registration can have finished (it waits for a grace
        // period with these threads alive): locked-mode.
        let early = Arc::new(Queue::new());
        early.put(1usize).unwrap();
        queue_revoked(20);
        mutex_revoked(5);
        event_ping_pong_then_thread();
        let t0 = std::time::Instant::now();
        while !greenlet::__private::owner_mode_on() {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(30),
                "the background registration never finished"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        queue_revoked(20);
        mutex_revoked(5);
        event_ping_pong_then_thread();
        // The early queue is still locked-mode and still works, from another thread too.
        let e2 = early.clone();
        std::thread::spawn(move || {
            e2.put(2).unwrap();
        })
        .join()
        .unwrap();
        assert_eq!((early.get().unwrap(), early.get().unwrap()), (1, 2));
        for t in &idle {
            t.thread().unpark();
        }
        println!("{CHILD_OK}");
        return;
    }
    assert_child_ok(NAME);
}
