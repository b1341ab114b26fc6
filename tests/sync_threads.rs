//! Cross-thread use: greenlets on two hubs and plain threads contending on one
//! Mutex, Semaphore and Queue (10,000 operations each, exact totals, no deadlock),
//! and waits woken from another thread (gevent-behaviours 64, 82).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use greenlet::queue::Queue;
use greenlet::sync::{Event, Mutex, Semaphore};

const OPS: usize = 10_000;

/// Runs `work(i)` for `OPS` operations in total: spread over two threads that each
/// run 4 greenlets, and two plain threads.
fn contend(work: impl Fn(usize) + Send + Sync + 'static) {
    let work = Arc::new(work);
    let per = OPS / 10; // 2 hubs × 4 greenlets + 2 plain threads
    let mut threads = Vec::new();
    for _ in 0..2 {
        let w = work.clone();
        threads.push(std::thread::spawn(move || {
            let gs: Vec<_> = (0..4)
                .map(|_| {
                    let w = w.clone();
                    greenlet::spawn(move || {
                        for i in 0..per {
                            w(i);
                        }
                    })
                })
                .collect();
            for r in greenlet::joinall(gs) {
                r.unwrap();
            }
        }));
    }
    for _ in 0..2 {
        let w = work.clone();
        threads.push(std::thread::spawn(move || {
            for i in 0..per {
                w(i);
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn mutex_across_hubs_and_threads() {
    let m = Arc::new(Mutex::new(0usize));
    let m2 = m.clone();
    contend(move |i| {
        let mut g = m2.lock();
        *g += 1;
        if i % 7 == 0 {
            greenlet::yield_now(); // hold it across a switch now and then
        }
    });
    assert_eq!(*m.lock(), OPS);
}

#[test]
fn semaphore_across_hubs_and_threads() {
    let s = Arc::new(Semaphore::new(2));
    let inside = Arc::new(AtomicUsize::new(0));
    let total = Arc::new(AtomicUsize::new(0));
    let (s2, in2, t2) = (s.clone(), inside.clone(), total.clone());
    contend(move |i| {
        // With and without a timeout (gevent 82).
        let _p = if i % 2 == 0 {
            s2.acquire()
        } else {
            s2.acquire_timeout(Duration::from_secs(60)).unwrap()
        };
        assert!(in2.fetch_add(1, Ordering::SeqCst) < 2);
        if i % 5 == 0 {
            greenlet::yield_now();
        }
        in2.fetch_sub(1, Ordering::SeqCst);
        t2.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(total.load(Ordering::SeqCst), OPS);
    assert_eq!(s.available_permits(), 2);
}

#[test]
fn queue_across_hubs_and_threads() {
    // Half the workers put, half get, on a small bounded queue, so both sides block.
    let q = Arc::new(Queue::bounded(8));
    let sum = Arc::new(AtomicUsize::new(0));
    let puts = Arc::new(AtomicUsize::new(0));
    let (q2, s2, p2) = (q.clone(), sum.clone(), puts.clone());
    // Each worker alternates: put one, get one; totals are exact whatever the mix.
    contend(move |i| {
        q2.put(i).unwrap();
        p2.fetch_add(1, Ordering::SeqCst);
        s2.fetch_add(q2.get().unwrap(), Ordering::SeqCst);
    });
    let per = OPS / 10;
    assert_eq!(puts.load(Ordering::SeqCst), OPS);
    assert_eq!(sum.load(Ordering::SeqCst), 10 * per * (per - 1) / 2);
    assert!(q.is_empty());
}

/// A bounded queue between a greenlet producer on one hub and a plain-thread
/// consumer: every item arrives, in order.
#[test]
fn queue_producer_and_consumer_on_different_threads() {
    let q = Arc::new(Queue::bounded(4));
    let q2 = q.clone();
    let producer = std::thread::spawn(move || {
        greenlet::spawn(move || {
            for i in 0..OPS {
                q2.put(i).unwrap();
            }
            q2.close();
        })
        .join()
        .unwrap();
    });
    let got: Vec<usize> = q.iter().collect();
    assert_eq!(got, (0..OPS).collect::<Vec<_>>());
    producer.join().unwrap();
}

/// 82: acquire in one thread, release from another; a timed acquire elsewhere
/// gives up.
#[test]
fn semaphore_released_from_another_thread() {
    let s = Arc::new(Semaphore::new(1));
    s.acquire().forget();
    let s2 = s.clone();
    let t = std::thread::spawn(move || {
        let t0 = Instant::now();
        assert!(s2.acquire_timeout(Duration::from_millis(20)).is_none());
        assert!(t0.elapsed() >= Duration::from_millis(20));
        s2.release();
    });
    t.join().unwrap();
    drop(s.acquire());
    assert_eq!(s.available_permits(), 1);
}

/// An untimed wait in a greenlet of this thread, woken by a plain thread that has
/// not touched the event before it sets it, once the greenlet (and the root joining
/// it) are parked: the probe reads the hub, not the event.
#[test]
fn untimed_greenlet_wait_woken_by_a_fresh_thread() {
    let ev = Arc::new(Event::new());
    let e = ev.clone();
    let g = greenlet::spawn(move || {
        e.wait();
        true
    });
    let e2 = ev.clone();
    let hub = support::parked::HubProbe::here();
    let t = std::thread::spawn(move || hub.wake_once_parked(|| e2.set()));
    assert!(g.join().unwrap());
    t.join().unwrap();
}

/// A thread that exits with greenlets still parked on shared primitives: the hub
/// unwinds them, their registrations go, and the primitives stay usable.
#[test]
fn thread_exit_with_parked_waiters_cleans_up() {
    let sem = Arc::new(Semaphore::new(0));
    let ev = Arc::new(Event::new());
    let q = Arc::new(Queue::<u32>::new());
    let (s, e, q2) = (sem.clone(), ev.clone(), q.clone());
    std::thread::spawn(move || {
        let s2 = s.clone();
        greenlet::spawn(move || s2.acquire().forget());
        let e2 = e.clone();
        greenlet::spawn(move || e2.wait());
        let q3 = q2.clone();
        greenlet::spawn(move || q3.get());
        greenlet::yield_now(); // all three park; then the thread exits
    })
    .join()
    .unwrap();
    assert_eq!(sem.waiters(), 0);
    assert_eq!(q.getters(), 0);
    sem.release();
    assert!(sem.try_acquire().is_some());
    ev.set();
    q.put(1).unwrap();
    assert_eq!(q.try_get(), Ok(1));
}

/// RLock and RwLock hammered from two hubs and two plain threads.
#[test]
fn rlock_and_rwlock_across_hubs_and_threads() {
    use greenlet::sync::{RLock, RwLock};
    let l = Arc::new(RLock::new());
    let inside = Arc::new(AtomicUsize::new(0));
    let (l2, in2) = (l.clone(), inside.clone());
    contend(move |i| {
        let _a = l2.lock();
        let _b = l2.lock(); // nests
        assert_eq!(in2.fetch_add(1, Ordering::SeqCst), 0);
        if i % 9 == 0 {
            greenlet::yield_now();
        }
        in2.fetch_sub(1, Ordering::SeqCst);
    });
    assert!(!l.is_locked());

    let rw = Arc::new(RwLock::new(0usize));
    let rw2 = rw.clone();
    contend(move |i| {
        if i % 4 == 0 {
            *rw2.write() += 1;
        } else {
            let r = rw2.read();
            if i % 11 == 0 {
                greenlet::yield_now();
            }
            drop(r);
        }
    });
    assert_eq!(*rw.read(), OPS / 4);
}

/// Timeouts racing with hand-offs from other threads: waiters with tiny timeouts,
/// permits released concurrently. A permit is never lost nor duplicated: at the end
/// the count is back to what it was.
#[test]
fn timeouts_racing_with_cross_thread_hand_offs() {
    let s = Arc::new(Semaphore::new(3));
    let got = Arc::new(AtomicUsize::new(0));
    let (s2, g2) = (s.clone(), got.clone());
    contend(move |i| {
        let t = Duration::from_micros((i % 50) as u64);
        if let Some(p) = s2.acquire_timeout(t) {
            g2.fetch_add(1, Ordering::SeqCst);
            if i % 3 == 0 {
                greenlet::yield_now();
            }
            drop(p);
        }
    });
    assert!(got.load(Ordering::SeqCst) > 0);
    assert_eq!(s.available_permits(), 3);
    assert_eq!(s.waiters(), 0);

    // The same with a queue: getters with tiny timeouts never lose an item.
    let q = Arc::new(Queue::new());
    let taken = Arc::new(AtomicUsize::new(0));
    let (q2, t2) = (q.clone(), taken.clone());
    contend(move |i| {
        if i % 2 == 0 {
            q2.put(1usize).unwrap();
        } else if let Ok(v) = q2.get_timeout(Duration::from_micros((i % 40) as u64)) {
            t2.fetch_add(v, Ordering::SeqCst);
        }
    });
    let left: usize = std::iter::from_fn(|| q.try_get().ok()).sum();
    assert_eq!(taken.load(Ordering::SeqCst) + left, OPS / 2);
}
