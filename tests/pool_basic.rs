//! Group and Pool: gevent-behaviours 1.J.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenlet::pool::{Group, Pool};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// 84: Pool(1).spawn blocks while the pool is full.
#[test]
fn spawn_blocks_while_full() {
    let pool = Pool::new(1);
    let start = Instant::now();
    pool.spawn(|| greenlet::sleep(ms(30)));
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.free_count(), 0);
    pool.spawn(|| greenlet::sleep(ms(30))); // waits for the first
    assert!(start.elapsed() >= ms(30));
    assert_eq!(pool.len(), 1);
    pool.join();
    assert!(start.elapsed() >= ms(60));
    assert_eq!(pool.len(), 0);
    assert_eq!(pool.free_count(), 1);
}

/// 85: join_timeout is false while running, true once done; an empty pool's join
/// returns at once without switching.
#[test]
fn join_timeout_and_empty_join() {
    let pool = Pool::new(2);
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let _other = greenlet::spawn(move || r.set(true)); // not in the pool
    pool.join();
    assert!(pool.join_timeout(ms(1)));
    assert!(!ran.get(), "an empty join must not switch");
    pool.spawn(|| greenlet::sleep(ms(30)));
    assert!(!pool.join_timeout(ms(5)));
    assert!(pool.join_timeout(Duration::from_secs(10)));
}

/// 86, 87: free_count; Pool(0) is always full.
#[test]
fn free_count_and_pool_zero() {
    let pool = Pool::new(2);
    assert_eq!(pool.free_count(), 2);
    let g = pool.spawn(|| greenlet::sleep(ms(5)));
    assert_eq!(pool.free_count(), 1);
    g.join().unwrap();
    assert_eq!(pool.free_count(), 2);
    let zero = Pool::new(0);
    assert!(zero.is_full());
    assert_eq!(zero.free_count(), 0);
}

/// 88: map and imap keep input order; imap_unordered follows completion order,
/// which for a pool of one is input order; empty inputs give empty outputs.
#[test]
fn map_imap_and_imap_unordered_order() {
    for size in [1, 2, 3, 10] {
        let pool = Pool::new(size);
        let f = |x: u64| {
            greenlet::sleep(ms(x));
            x
        };
        assert_eq!(pool.map(f, [10, 1, 2]).unwrap(), [10, 1, 2]);
        let v: Vec<u64> = pool.imap(f, [10, 1, 2]).map(Result::unwrap).collect();
        assert_eq!(v, [10, 1, 2]);
        let v: Vec<u64> = pool
            .imap_unordered(f, [10, 1, 2])
            .map(Result::unwrap)
            .collect();
        if size == 1 {
            assert_eq!(v, [10, 1, 2]);
        } else {
            assert_eq!(v, [1, 2, 10], "size {size}");
        }
        assert!(pool.map(f, []).unwrap().is_empty());
        assert_eq!(pool.imap(f, []).count(), 0);
        let n: Vec<u64> = pool.imap(|x: u64| x, 0..1000).map(Result::unwrap).collect();
        assert_eq!(n, (0..1000).collect::<Vec<_>>());
    }
}

/// 89: imap applies back-pressure: with a slow reader, started tasks stay within
/// consumed + pool size.
#[test]
fn imap_is_bounded() {
    let pool = Pool::new(2);
    let started = Rc::new(Cell::new(0));
    let s = started.clone();
    let mut consumed = 0;
    for r in pool.imap_unordered(
        move |x: u32| {
            s.set(s.get() + 1);
            x
        },
        0..20,
    ) {
        r.unwrap();
        consumed += 1;
        greenlet::sleep(ms(1)); // a slow reader
        assert!(
            started.get() <= consumed + 2,
            "{} > {consumed} + 2",
            started.get()
        );
    }
    assert_eq!(consumed, 20);
}

/// 90: errors in workers: map gives the error; imap yields it at its position and
/// goes on.
#[test]
fn errors_in_workers() {
    let pool = Pool::new(3);
    let f = |x: u32| {
        if x == 2 {
            panic!("division by zero");
        }
        x
    };
    assert!(pool.map(f, [1, 2, 3]).unwrap_err().is_panic());
    let v: Vec<_> = pool.imap(f, [1, 2, 3]).map(|r| r.ok()).collect();
    assert_eq!(v, [Some(1), None, Some(3)]);
    assert_eq!(pool.free_count(), 3);
}

/// 91: apply from inside a pool worker runs inline instead of deadlocking.
#[test]
fn apply_is_reentrant() {
    let pool = Rc::new(Pool::new(1));
    let p = pool.clone();
    assert_eq!(pool.apply(move || p.apply(|| 5) + 1), 6);
}

/// 92: slots are never leaked: a panicking task, a killed task and one killed
/// before it started all give their slot back.
#[test]
fn slots_never_leak() {
    let pool = Pool::new(1);
    assert!(pool.spawn(|| panic!("boom")).join().is_err());
    assert_eq!(pool.free_count(), 1);
    let g = pool.spawn(|| greenlet::sleep(Duration::from_secs(60)));
    greenlet::yield_now();
    g.kill();
    assert_eq!(pool.free_count(), 1);
    let g = pool.spawn(|| greenlet::sleep(Duration::from_secs(60)));
    g.kill(); // never started
    assert_eq!(pool.free_count(), 1);
    assert_eq!(pool.apply(|| 7), 7);
}

/// 93: kill of a busy pool is fast.
#[test]
fn kill_is_fast() {
    let pool = Pool::new(4);
    let start = Instant::now();
    for _ in 0..4 {
        pool.spawn(|| greenlet::sleep(Duration::from_secs(60)));
    }
    greenlet::yield_now();
    pool.kill();
    assert!(pool.is_empty());
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// 94: apply_async runs the callback after the result, or the error callback.
#[test]
fn apply_async_callbacks() {
    let pool = Pool::new(2);
    let log = Rc::new(RefCell::new(Vec::new()));
    let (l1, l2) = (log.clone(), log.clone());
    pool.apply_async(
        || {
            greenlet::sleep(ms(10));
            21 * 2
        },
        move |v| l1.borrow_mut().push(format!("ok {v}")),
        |_| unreachable!(),
    );
    pool.apply_async(
        || -> u32 { panic!("bad") },
        |_| unreachable!(),
        move |p| {
            let msg = p.downcast_ref::<&str>().copied().unwrap_or("?");
            l2.borrow_mut().push(format!("err {msg}"));
        },
    );
    pool.close();
    pool.join();
    assert_eq!(*log.borrow(), ["err bad", "ok 42"]);
}

/// 95: group membership tracks liveness; join waits for the slowest.
#[test]
fn group_tracks_liveness() {
    let group = Group::new();
    let start = Instant::now();
    group.spawn(|| greenlet::sleep(ms(20)));
    group.spawn(|| greenlet::sleep(ms(40)));
    assert_eq!(group.len(), 2);
    greenlet::sleep(ms(30));
    assert_eq!(group.len(), 1);
    group.join();
    assert!(group.is_empty());
    let el = start.elapsed();
    assert!(el >= ms(40) && el < ms(2000), "{el:?}");
    let g = group.spawn(|| greenlet::sleep(Duration::from_secs(60)));
    assert!(!group.join_timeout(ms(5)));
    group.kill();
    assert!(g.join().unwrap_err().is_killed());
}

/// 90: an input iterator that blocks (a queue fed later) does not end imap early.
#[test]
fn imap_over_a_blocking_iterator() {
    let q = Rc::new(greenlet::queue::Queue::new());
    let q2 = q.clone();
    let feeder = greenlet::spawn(move || {
        for i in 0..5u32 {
            greenlet::sleep(ms(1));
            q2.put(i).unwrap();
        }
        q2.close();
    });
    let pool = Pool::new(2);
    let v: Vec<u32> = pool
        .imap(|x: u32| x * 10, q.iter())
        .map(Result::unwrap)
        .collect();
    assert_eq!(v, [0, 10, 20, 30, 40]);
    feeder.join().unwrap();
}

#[test]
fn spawn_on_a_closed_pool_panics() {
    let pool = Pool::new(1);
    pool.close();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.spawn(|| ())));
    assert!(r.is_err());
}

/// 86, 87: non-blocking and timed spawns on a full pool give the closure back;
/// wait_available waits for a free slot without taking it; Pool(0) never has one.
#[test]
fn try_spawn_spawn_timeout_and_wait_available() {
    let pool = Pool::new(1);
    let g = pool.spawn(|| greenlet::sleep(ms(20)));
    assert!(pool.try_spawn(|| ()).is_err());
    let t = Instant::now();
    assert!(pool.spawn_timeout(|| (), ms(5)).is_err());
    assert!(t.elapsed() >= ms(5));
    assert_eq!(pool.wait_available(ms(1)), 0);
    assert_eq!(pool.wait_available(Duration::from_secs(10)), 1);
    g.join().unwrap();
    let h = pool.try_spawn(|| 3).ok().unwrap();
    assert_eq!(h.join().unwrap(), 3);

    let zero = Pool::new(0);
    assert_eq!(zero.wait_available(ms(10)), 0);
    assert!(zero.try_spawn(|| ()).is_err());
}
