//! Event and AsyncResult: gevent-behaviours 1.G.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::sync::{AsyncResult, Event};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// 56: wait(timeout) is false after the timeout, true at once when set; every
/// waiter of a set wakes and sees true.
#[test]
fn wait_timeout_and_notify() {
    let ev = Rc::new(Event::new());
    assert!(!ev.wait_timeout(Duration::ZERO));
    let t = Instant::now();
    assert!(!ev.wait_timeout(ms(50)));
    let el = t.elapsed();
    assert!(el >= ms(50) && el < support::late(ms(2000)), "{el:?}");

    let gs: Vec<_> = (0..5)
        .map(|_| {
            let e = ev.clone();
            greenlet::spawn(move || e.wait_timeout(Duration::from_secs(10)))
        })
        .collect();
    greenlet::yield_now();
    ev.set();
    for r in greenlet::joinall(gs) {
        assert!(r.unwrap());
    }
    assert!(ev.wait_timeout(Duration::ZERO));
}

/// 57: set then clear without yielding still wakes every waiter, and they see true.
#[test]
fn set_then_clear_wakes_everyone() {
    for n in [1, 100, 1000] {
        let ev = Rc::new(Event::new());
        let gs: Vec<_> = (0..n)
            .map(|_| {
                let e = ev.clone();
                greenlet::spawn(move || e.wait_timeout(Duration::from_secs(10)))
            })
            .collect();
        greenlet::yield_now(); // every waiter is parked now
        ev.set();
        ev.clear();
        assert!(greenlet::joinall(gs).into_iter().all(|r| r.unwrap()));
    }
}

/// 58: a waiter that arrives after set+clear (here: the woken waiter clears and
/// waits again) is not woken by that set.
#[test]
fn waiter_added_after_clear_is_not_woken() {
    let ev = Rc::new(Event::new());
    let e = ev.clone();
    let g = greenlet::spawn(move || {
        e.wait();
        e.clear();
        e.wait_timeout(ms(10))
    });
    greenlet::yield_now();
    ev.set();
    assert!(!g.join().unwrap());
}

/// 59: a new wait on an already-set event returns without blocking, after the
/// woken waiters in spawn order.
#[test]
fn wait_while_notifying() {
    let ev = Rc::new(Event::new());
    let log = Rc::new(RefCell::new(Vec::new()));
    let gs: Vec<_> = (1..=2)
        .map(|i| {
            let (e, l) = (ev.clone(), log.clone());
            greenlet::spawn(move || {
                e.wait();
                l.borrow_mut().push(i);
            })
        })
        .collect();
    greenlet::yield_now();
    ev.set();
    let (e, l) = (ev.clone(), log.clone());
    let g3 = greenlet::spawn(move || {
        e.wait();
        l.borrow_mut().push(3);
    });
    greenlet::joinall(gs);
    g3.join().unwrap();
    assert_eq!(*log.borrow(), [1, 2, 3]);
}

/// 60: waiting twice on a set event works.
#[test]
fn wait_twice_when_set() {
    let ev = Event::new();
    ev.set();
    ev.wait();
    ev.wait();
    assert!(ev.is_set());
}

/// 61: every waiter sees the value (an error value too).
#[test]
fn async_result_every_waiter_sees_value() {
    let r: Rc<AsyncResult<Result<u32, String>>> = Rc::new(AsyncResult::new());
    let gs: Vec<_> = (0..3)
        .map(|_| {
            let r = r.clone();
            greenlet::spawn(move || r.get())
        })
        .collect();
    greenlet::yield_now();
    r.set(Err("boom".into())).unwrap();
    for g in greenlet::joinall(gs) {
        assert_eq!(g.unwrap(), Err("boom".to_string()));
    }
    // Write-once.
    assert_eq!(r.set(Ok(1)), Err(Ok(1)));
    assert_eq!(r.try_get(), Some(Err("boom".to_string())));
}

/// 62: try_get on empty is None; get_timeout gives up after the timeout;
/// with_timeout around get works.
#[test]
fn async_result_nonblocking_and_timeouts() {
    let r = AsyncResult::<u32>::new();
    assert_eq!(r.try_get(), None);
    let t = Instant::now();
    assert_eq!(r.get_timeout(ms(30)), None);
    assert!(t.elapsed() >= ms(30));
    assert!(greenlet::with_timeout(ms(10), || r.get()).is_err());
    r.set(5).unwrap();
    assert_eq!(r.get_timeout(ms(30)), Some(5));
    assert_eq!(greenlet::with_timeout(ms(10), || r.get()), Ok(5));
}

/// 63: a zero timeout beats a later set.
#[test]
fn zero_timeout_beats_later_set() {
    let r = Rc::new(AsyncResult::<u32>::new());
    let r2 = r.clone();
    let _setter = greenlet::spawn_later(ms(50), move || r2.set(1).unwrap());
    assert!(greenlet::with_timeout(Duration::ZERO, || r.get()).is_err());
    assert_eq!(r.get(), 1);
}

/// 64: a plain thread sets an Event/AsyncResult that an untimed waiter on another
/// hub waits for: in the thread's root and in a spawned greenlet.
#[test]
fn cross_thread_set_wakes_untimed_waiters() {
    for in_greenlet in [false, true] {
        let ev = Arc::new(Event::new());
        let res = Arc::new(AsyncResult::new());
        let (e, r) = (ev.clone(), res.clone());
        let waiter = std::thread::spawn(move || {
            let work = move || {
                e.wait();
                r.get()
            };
            if in_greenlet {
                greenlet::spawn(work).join().unwrap()
            } else {
                work()
            }
        });
        ev.set();
        res.set(7u32).unwrap();
        assert_eq!(waiter.join().unwrap(), 7);
    }
}

/// The reverse: the root of this thread waits, untimed, and another thread sets once
/// that wait is parked (the hub asleep in its poll with no deadline).
#[test]
fn untimed_wait_in_root_woken_by_thread() {
    let ev = Arc::new(Event::new());
    let e = ev.clone();
    let hub = support::parked::HubProbe::here();
    let t = std::thread::spawn(move || hub.wake_once_parked(|| e.set()));
    ev.wait();
    assert!(ev.is_set());
    t.join().unwrap();
}
