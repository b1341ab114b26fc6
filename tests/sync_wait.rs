//! wait / iwait over greenlets, events, async results and queues (gevent's
//! `wait(objects, timeout, count)`), and greenlet-local storage.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::queue::Queue;
use greenlet::sync::{AsyncResult, Event, Waitable, iwait, wait};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn iwait_yields_in_readiness_order_over_mixed_objects() {
    // One object becomes ready at a time, each once the consumer has taken the one
    // before: a handshake, not sleeps. With 5 ms sleeps between them, a consumer late
    // by 5 ms (under valgrind, which translates code when it first runs, every time)
    // found two ready at once and took them in list order.
    let ev = Rc::new(Event::new());
    let res = Rc::new(AsyncResult::new());
    let q = Rc::new(Queue::new());
    let go = Rc::new(Event::new());
    let taken = Rc::new(Queue::new());
    let g = {
        let go = go.clone();
        greenlet::spawn(move || go.wait())
    };
    let (e, r, q2, t) = (ev.clone(), res.clone(), q.clone(), taken.clone());
    greenlet::spawn(move || {
        r.set(1).unwrap();
        t.get().unwrap();
        q2.put(2).unwrap();
        t.get().unwrap();
        go.set(); // g finishes when it next runs
        t.get().unwrap();
        e.set();
    });
    let objects: [&dyn Waitable; 4] = [&*ev, &*res, &*q, &g];
    let mut order = Vec::new();
    for i in iwait(&objects, None) {
        order.push(i);
        taken.put(()).unwrap();
    }
    assert_eq!(order, [1, 2, 3, 0]);
}

#[test]
fn wait_count_and_timeout() {
    let a = Rc::new(Event::new());
    let b = Event::new();
    let a2 = a.clone();
    greenlet::spawn(move || {
        greenlet::sleep(ms(5));
        a2.set();
    });
    let objects: [&dyn Waitable; 2] = [&*a, &b];
    let t = Instant::now();
    assert_eq!(wait(&objects, None, Some(1)), [0]);
    assert!(t.elapsed() >= ms(5));
    let t = Instant::now();
    assert_eq!(wait(&objects, Some(ms(20)), None), [0]);
    assert!(t.elapsed() >= ms(20));
    // Already-ready objects come back at once; waiting twice works (60).
    assert_eq!(wait(&objects, Some(Duration::ZERO), None), [0]);
    assert!(wait(&[], None, None).is_empty());
}

/// An untimed wait on an Event set by another thread (64, over `wait`), once the
/// wait is parked.
#[test]
fn wait_woken_from_another_thread() {
    let ev = Arc::new(Event::new());
    let e = ev.clone();
    let hub = support::parked::HubProbe::here();
    let t = std::thread::spawn(move || hub.wake_once_parked(|| e.set()));
    let objects: [&dyn Waitable; 1] = [&*ev];
    assert_eq!(wait(&objects, None, None), [0]);
    t.join().unwrap();
}

/// A wait that times out leaves no registration behind: a later set wakes nobody
/// stale, and the hub has no timer left.
#[test]
fn timed_out_wait_leaves_nothing_behind() {
    let ev = Event::new();
    let objects: [&dyn Waitable; 1] = [&ev];
    assert!(wait(&objects, Some(ms(5)), None).is_empty());
    assert_eq!(greenlet::hub_stats().timers, 0);
    ev.set();
    assert_eq!(wait(&objects, None, None), [0]);
}

greenlet::greenlet_local! {
    static COUNTER: Cell<u32> = Cell::new(0);
    static DROPS: Rc<Cell<u32>> = Rc::new(Cell::new(0));
}

struct CountDrop(Rc<Cell<u32>>);
impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

greenlet::greenlet_local! {
    static GUARD: std::cell::RefCell<Option<CountDrop>> = std::cell::RefCell::new(None);
}

#[test]
fn greenlet_local_values_are_per_greenlet_and_dropped_with_it() {
    COUNTER.with(|c| c.set(100));
    let drops = DROPS.with(|d| d.clone()); // the thread's own value
    let gs: Vec<_> = (1..=3)
        .map(|i| {
            let drops = drops.clone();
            greenlet::spawn(move || {
                assert_eq!(COUNTER.with(Cell::get), 0);
                COUNTER.with(|c| c.set(i));
                GUARD.with(|g| *g.borrow_mut() = Some(CountDrop(drops)));
                greenlet::yield_now();
                COUNTER.with(Cell::get)
            })
        })
        .collect();
    let seen: Vec<u32> = greenlet::joinall(gs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(seen, [1, 2, 3]);
    assert_eq!(
        drops.get(),
        3,
        "each greenlet's values are dropped when it ends"
    );
    assert_eq!(COUNTER.with(Cell::get), 100);

    // A killed greenlet's values are dropped too.
    let d = drops.clone();
    let g = greenlet::spawn(move || {
        GUARD.with(|g| *g.borrow_mut() = Some(CountDrop(d)));
        greenlet::sleep(Duration::from_secs(60));
    });
    greenlet::yield_now();
    g.kill();
    assert_eq!(drops.get(), 4);

    // Another thread has its own value.
    let other = std::thread::spawn(|| COUNTER.with(Cell::get))
        .join()
        .unwrap();
    assert_eq!(other, 0);
}

/// 83: waiting on a semaphore with a free permit returns at once; on an exhausted
/// one, until a release.
#[test]
fn wait_on_semaphore() {
    let s = Rc::new(greenlet::sync::Semaphore::new(1));
    let objects: [&dyn Waitable; 1] = [&*s];
    assert_eq!(wait(&objects, None, None), [0]);
    let p = s.acquire();
    assert!(wait(&objects, Some(ms(5)), None).is_empty());
    let s2 = s.clone();
    let _g = greenlet::spawn(move || {
        greenlet::sleep(ms(5));
        s2.release();
    });
    p.forget();
    assert_eq!(wait(&objects, None, None), [0]);
}
