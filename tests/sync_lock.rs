//! Mutex, Semaphore, BoundedSemaphore, RLock, RwLock, Condvar, Barrier:
//! gevent-behaviours 1.I, plus hand-off and unwinding rules.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenlet::sync::{Barrier, BoundedSemaphore, Condvar, Mutex, RLock, RwLock, Semaphore};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

type Log = Rc<RefCell<Vec<u32>>>;

#[test]
fn mutex_waiters_get_the_lock_in_arrival_order() {
    let m = Rc::new(Mutex::new(Vec::new()));
    let held = m.lock();
    let gs: Vec<_> = (0..5u32)
        .map(|i| {
            let m = m.clone();
            greenlet::spawn(move || m.lock().push(i))
        })
        .collect();
    greenlet::yield_now(); // all five queue up, in spawn order
    assert!(m.is_locked());
    drop(held);
    greenlet::joinall(gs);
    assert_eq!(*m.lock(), [0, 1, 2, 3, 4]);
}

#[test]
fn mutex_try_lock_and_timeout() {
    let m = Mutex::new(1);
    let g = m.lock();
    assert!(m.try_lock().is_none());
    let t = Instant::now();
    assert!(m.lock_timeout(ms(30)).is_none());
    assert!(t.elapsed() >= ms(30));
    drop(g);
    assert_eq!(*m.lock_timeout(ms(30)).unwrap(), 1);
    assert!(!m.is_locked());
}

/// 80: a guard dropped by unwinding (panic or kill) unlocks; no poisoning.
#[test]
fn mutex_released_by_panic_and_kill() {
    let m = Rc::new(Mutex::new(0));
    let m2 = m.clone();
    let g = greenlet::spawn(move || {
        let _g = m2.lock();
        panic!("boom");
    });
    assert!(g.join().unwrap_err().is_panic());
    assert!(!m.is_locked());
    *m.lock() += 1;

    let m3 = m.clone();
    let holder = greenlet::spawn(move || {
        let _g = m3.lock();
        greenlet::sleep(Duration::from_secs(60));
    });
    greenlet::yield_now();
    assert!(m.is_locked());
    holder.kill();
    assert!(!m.is_locked());
}

/// A waiter handed the lock and killed before it ran passes the lock on.
#[test]
fn mutex_killed_waiter_passes_the_lock_on() {
    let m = Rc::new(Mutex::new(Vec::new()));
    let held = m.lock();
    let (ma, mb) = (m.clone(), m.clone());
    let a = greenlet::spawn(move || ma.lock().push("a"));
    let b = greenlet::spawn(move || mb.lock().push("b"));
    greenlet::yield_now();
    drop(held); // hands the lock to `a`, which has not run yet
    a.kill();
    b.join().unwrap();
    assert!(a.join().unwrap_err().is_killed());
    assert_eq!(*m.lock(), ["b"]);
}

/// with_timeout around a lock: the timed-out waiter leaves the queue.
#[test]
fn mutex_with_timeout_leaves_no_entry() {
    let m = Rc::new(Mutex::new(()));
    let held = m.lock();
    let m2 = m.clone();
    let g = greenlet::spawn(move || greenlet::with_timeout(ms(10), || drop(m2.lock())).is_err());
    assert!(g.join().unwrap());
    drop(held);
    assert!(m.try_lock().is_some());
}

/// 75.
#[test]
fn semaphore_zero_acquire_timeout_is_none() {
    let s = Semaphore::new(0);
    let t = Instant::now();
    assert!(s.acquire_timeout(ms(10)).is_none());
    assert!(t.elapsed() >= ms(10));
}

/// 76: FIFO hand-off. Two greenlets keep taking the semaphore in turn; a third asks
/// once and must get it (an unfair semaphore lets the two starve it forever).
#[test]
fn semaphore_is_fair() {
    let s = Rc::new(Semaphore::new(1));
    let stop = Rc::new(std::cell::Cell::new(false));
    let keep_going = |s: Rc<Semaphore>, stop: Rc<std::cell::Cell<bool>>| {
        move || {
            let mut n = 0;
            while !stop.get() {
                let _p = s.acquire();
                greenlet::yield_now();
                n += 1;
            }
            n
        }
    };
    let k1 = greenlet::spawn(keep_going(s.clone(), stop.clone()));
    let k2 = greenlet::spawn(keep_going(s.clone(), stop.clone()));
    greenlet::yield_now();
    let (s3, stop3) = (s.clone(), stop.clone());
    let exiting = greenlet::spawn(move || {
        let _p = s3.acquire();
        stop3.set(true);
    });
    exiting.join().unwrap();
    assert!(k1.join().unwrap() >= 1);
    assert!(k2.join().unwrap() >= 1);
}

/// 77: Semaphore(7), ten waiters acquiring twice each: 7 in the first phase,
/// 7 more after 7 releases, then 6.
#[test]
fn semaphore_contended_acquire() {
    let s = Rc::new(Semaphore::new(7));
    let got = Rc::new(std::cell::Cell::new(0));
    let gs: Vec<_> = (0..10)
        .map(|_| {
            let (s, got) = (s.clone(), got.clone());
            greenlet::spawn(move || {
                for _ in 0..2 {
                    s.acquire().forget();
                    got.set(got.get() + 1);
                }
            })
        })
        .collect();
    for _ in 0..3 {
        greenlet::yield_now();
    }
    assert_eq!(got.get(), 7);
    assert!(s.try_acquire().is_none());
    s.add_permits(7);
    for _ in 0..3 {
        greenlet::yield_now();
    }
    assert_eq!(got.get(), 14);
    s.add_permits(6);
    greenlet::joinall(gs);
    assert_eq!(got.get(), 20);
}

/// 78.
#[test]
fn semaphore_try_acquire() {
    let s = Semaphore::new(2);
    let a = s.try_acquire().unwrap();
    let _b = s.try_acquire().unwrap();
    assert!(s.try_acquire().is_none());
    drop(a);
    assert!(s.try_acquire().is_some());
    assert_eq!(s.available_permits(), 1);
}

/// A waiter handed a permit and then timed out by with_timeout passes it on; one
/// that timed out on its own never took it.
#[test]
fn semaphore_timed_out_waiter_does_not_swallow_a_permit() {
    let s = Rc::new(Semaphore::new(0));
    let s1 = s.clone();
    let w = greenlet::spawn(move || s1.acquire_timeout(ms(5)).map(|p| p.forget()).is_some());
    assert!(!w.join().unwrap());
    s.release();
    assert_eq!(s.available_permits(), 1);

    let s = Rc::new(Semaphore::new(0));
    let (sa, sb) = (s.clone(), s.clone());
    let a = greenlet::spawn(move || sa.acquire().forget());
    let b = greenlet::spawn(move || sb.acquire().forget());
    greenlet::yield_now();
    s.release(); // handed to `a`
    a.kill(); // before it ran: `b` gets it
    b.join().unwrap();
    assert_eq!(s.available_permits(), 0);
    assert_eq!(s.waiters(), 0);
}

/// 79: bounded over-release panics; plain over-release adds a permit.
#[test]
fn bounded_semaphore_refuses_over_release() {
    let s = Semaphore::new(1);
    s.release();
    assert_eq!(s.available_permits(), 2);
    let b = BoundedSemaphore::new(1);
    b.acquire().forget();
    b.release();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.release()));
    assert!(r.is_err());
    assert_eq!(b.available_permits(), 1);
}

/// 79, 81: RLock nests for its owner, excludes other greenlets, and panics if a
/// guard is dropped by a greenlet that does not own it.
#[test]
fn rlock_reentrant_and_owned() {
    let l = Rc::new(RLock::new());
    let a = l.lock();
    let b = l.lock();
    assert!(l.is_owned());
    let l2 = l.clone();
    let other = greenlet::spawn(move || (l2.try_lock().is_none(), l2.is_owned()));
    assert_eq!(other.join().unwrap(), (true, false));
    drop(b);
    assert!(l.is_locked());
    let l3 = l.clone();
    let waiter = greenlet::spawn(move || {
        let _g = l3.lock();
        l3.is_owned()
    });
    greenlet::yield_now();
    drop(a);
    assert!(waiter.join().unwrap());
    assert!(!l.is_locked());

    let guard_in_other = greenlet::spawn({
        let l = l.clone();
        move || {
            let g = Box::leak(Box::new(l));
            let guard = g.lock();
            greenlet::spawn(move || drop(guard)).join()
        }
    });
    assert!(guard_in_other.join().unwrap().unwrap_err().is_panic());
}

#[test]
fn rwlock_readers_share_writers_exclude_fifo() {
    let l = Rc::new(RwLock::new(0));
    let log: Log = Rc::new(RefCell::new(Vec::new()));
    let r1 = l.read();
    let r2 = l.read();
    assert!(l.try_write().is_none());
    let (lw, logw) = (l.clone(), log.clone());
    let w = greenlet::spawn(move || {
        *lw.write() += 1;
        logw.borrow_mut().push(1);
    });
    greenlet::yield_now();
    // A reader arriving after a waiting writer queues behind it.
    assert!(l.try_read().is_none());
    let (lr, logr) = (l.clone(), log.clone());
    let r = greenlet::spawn(move || {
        let v = *lr.read();
        logr.borrow_mut().push(2);
        v
    });
    greenlet::yield_now();
    drop(r1);
    drop(r2);
    w.join().unwrap();
    assert_eq!(r.join().unwrap(), 1);
    assert_eq!(*log.borrow(), [1, 2]);
    assert!(l.write_timeout(ms(5)).is_some());
}

#[test]
fn condvar_notify_one_and_all() {
    let pair = Rc::new((Mutex::new(0u32), Condvar::new()));
    let gs: Vec<_> = (0..3)
        .map(|_| {
            let p = pair.clone();
            greenlet::spawn(move || {
                let g = p.1.wait_while(p.0.lock(), |n| *n == 0);
                *g
            })
        })
        .collect();
    greenlet::yield_now();
    *pair.0.lock() = 7;
    pair.1.notify_one();
    greenlet::yield_now();
    assert_eq!(gs.iter().filter(|g| g.is_finished()).count(), 1);
    pair.1.notify_all();
    assert!(greenlet::joinall(gs).into_iter().all(|r| r.unwrap() == 7));

    let (g, timed_out) = pair.1.wait_timeout(pair.0.lock(), ms(10));
    assert!(timed_out);
    assert_eq!(*g, 7);
}

#[test]
fn barrier_releases_all_with_one_leader() {
    let b = Rc::new(Barrier::new(3));
    let gs: Vec<_> = (0..3)
        .map(|_| {
            let b = b.clone();
            greenlet::spawn(move || (b.wait().is_leader(), b.wait().is_leader()))
        })
        .collect();
    let results: Vec<_> = greenlet::joinall(gs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(results.iter().filter(|r| r.0).count(), 1);
    assert_eq!(results.iter().filter(|r| r.1).count(), 1);
}

#[test]
fn primitives_are_send_and_sync() {
    fn both<T: Send + Sync>() {}
    both::<Mutex<Vec<u8>>>();
    both::<RwLock<Vec<u8>>>();
    both::<Semaphore>();
    both::<BoundedSemaphore>();
    both::<RLock>();
    both::<Condvar>();
    both::<Barrier>();
    both::<greenlet::sync::Event>();
    both::<greenlet::sync::AsyncResult<String>>();
    both::<greenlet::queue::Queue<String>>();
    both::<greenlet::queue::Channel<String>>();
}

/// 81: a plain lock may be released by another greenlet than the one that took it
/// (the guard moves; it is only `!Send`).
#[test]
fn mutex_guard_released_by_another_greenlet() {
    static M: Mutex<u32> = Mutex::new(0);
    let guard = M.lock();
    let g = greenlet::spawn(move || {
        let mut guard = guard;
        *guard += 1;
    });
    g.join().unwrap();
    assert!(!M.is_locked());
    assert_eq!(*M.lock(), 1);
}

/// A spurious wake-up (a stale waker of the same wait) does not make a waiter
/// return without its grant: it waits again.
#[test]
fn spurious_wake_is_tolerated() {
    let q = Rc::new(greenlet::queue::Queue::new());
    let stash = Rc::new(Cell::new(None));
    let (q2, s2) = (q.clone(), stash.clone());
    let g = greenlet::spawn(move || {
        // The waker the get below will also use: nothing parks in between.
        s2.set(Some(greenlet::wake::waker()));
        q2.get().unwrap()
    });
    greenlet::yield_now();
    stash.take().unwrap().wake();
    greenlet::yield_now();
    greenlet::yield_now();
    assert!(!g.is_finished(), "woken without an item");
    q.put(5).unwrap();
    assert_eq!(g.join().unwrap(), 5);
}

/// A condition variable between a greenlet and a plain thread: they take turns,
/// the thread making the value odd and the greenlet making it even, 100 times each.
/// Each side records the value it found when its wait ended: a lost or a doubled
/// hand-off, or a wait that ended without its condition, shows in those records.
#[test]
fn condvar_across_threads() {
    use std::sync::Arc;
    let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
    let p = pair.clone();
    let t = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..100 {
            let mut g = p.1.wait_while(p.0.lock(), |n| *n % 2 == 1);
            seen.push(*g);
            *g += 1;
            p.1.notify_all();
        }
        seen
    });
    let p = pair.clone();
    let g = greenlet::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..100 {
            let mut g = p.1.wait_while(p.0.lock(), |n| *n % 2 == 0);
            seen.push(*g);
            *g += 1;
            p.1.notify_all();
        }
        seen
    });
    let by_greenlet = g.join().unwrap();
    let by_thread = t.join().unwrap();
    // The thread found every even value from 0, the greenlet every odd one from 1.
    assert_eq!(by_thread, (0..100).map(|i| 2 * i).collect::<Vec<u32>>());
    assert_eq!(
        by_greenlet,
        (0..100).map(|i| 2 * i + 1).collect::<Vec<u32>>()
    );
    assert_eq!(*pair.0.lock(), 200);
}

/// A greenlet killed in Condvar::wait leaves the mutex unlocked and its entry gone;
/// a notification handed to it passes to the next waiter.
#[test]
fn condvar_killed_waiter() {
    let pair = Rc::new((Mutex::new(0u32), Condvar::new()));
    let p = pair.clone();
    let a = greenlet::spawn(move || drop(p.1.wait(p.0.lock())));
    let p = pair.clone();
    let b = greenlet::spawn(move || *p.1.wait(p.0.lock()));
    greenlet::yield_now();
    *pair.0.lock() = 9;
    pair.1.notify_one(); // handed to `a`
    a.kill(); // `a` unwinds: `b` gets the notification
    assert_eq!(b.join().unwrap(), 9);
    assert!(!pair.0.is_locked());
}

/// A writer that times out at the front of the queue lets the readers behind it in.
#[test]
fn rwlock_writer_timeout_lets_readers_in() {
    let l = Rc::new(RwLock::new(1));
    let r = l.read();
    let lw = l.clone();
    let w = greenlet::spawn(move || lw.write_timeout(ms(10)).is_none());
    greenlet::yield_now();
    let lr = l.clone();
    let reader = greenlet::spawn(move || *lr.read());
    greenlet::yield_now();
    assert!(!reader.is_finished(), "queued behind the writer");
    assert!(w.join().unwrap());
    assert_eq!(reader.join().unwrap(), 1);
    drop(r);
}

/// A waiter killed before the barrier opens no longer counts.
#[test]
fn barrier_killed_waiter_is_not_counted() {
    let b = Rc::new(Barrier::new(2));
    let b1 = b.clone();
    let dies = greenlet::spawn(move || {
        let _ = b1.wait();
    });
    greenlet::yield_now();
    dies.kill();
    let b2 = b.clone();
    let first = greenlet::spawn(move || b2.wait().is_leader());
    greenlet::yield_now();
    assert!(!first.is_finished(), "one arrival of two");
    assert!(b.wait().is_leader());
    assert!(!first.join().unwrap());
}
