//! One hub per OS thread: the library works the same from the test's own thread (like
//! `fn main`), from inside a greenlet and from a plain `std::thread`; the wake seam
//! across threads.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::Instant;

use greenlet::{GreenletId, spawn, wake};
use support::parked::HubProbe;
use support::{FOREVER, Log, assert_took, ms};

/// Everything a program does with the core, with its checks; returns the ids of the
/// greenlets it spawned.
fn scenario() -> Vec<GreenletId> {
    let mut ids = Vec::new();

    // spawn + joinall: concurrent sleeps, results in input order.
    let start = Instant::now();
    let gs: Vec<_> = [30u64, 20, 10]
        .into_iter()
        .map(|n| {
            spawn(move || {
                greenlet::sleep(ms(n));
                n
            })
        })
        .collect();
    ids.extend(gs.iter().map(|g| g.id()));
    let results: Vec<u64> = greenlet::joinall(gs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(results, [30, 20, 10]);
    assert_took(start, ms(30));

    // Deterministic order on this hub.
    let log = Log::new();
    let gs: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let log = log.clone();
            spawn(move || {
                for round in 0..2 {
                    log.push(format!("{name}{round}"));
                    greenlet::yield_now();
                }
            })
        })
        .collect();
    ids.extend(gs.iter().map(|g| g.id()));
    greenlet::joinall(gs);
    assert_eq!(log.get(), ["a0", "b0", "a1", "b1"]);

    // sleep and with_timeout.
    let start = Instant::now();
    greenlet::sleep(ms(2));
    assert_took(start, ms(2));
    let start = Instant::now();
    assert!(greenlet::with_timeout(ms(10), || greenlet::sleep(FOREVER)).is_err());
    assert_took(start, ms(10));
    assert_eq!(greenlet::with_timeout(FOREVER, || 3), Ok(3));

    // kill.
    let g = spawn(|| greenlet::sleep(FOREVER));
    ids.push(g.id());
    greenlet::yield_now();
    g.kill();
    assert!(g.join().unwrap_err().is_killed());

    // current() matches the handle inside a greenlet.
    let g = greenlet::Builder::new()
        .name("worker")
        .spawn(|| {
            let c = greenlet::current();
            (c.is_greenlet(), c.id(), c.name().map(str::to_owned))
        })
        .unwrap();
    let id = g.id();
    ids.push(id);
    assert_eq!(g.join().unwrap(), (true, id, Some("worker".to_string())));

    ids
}

#[test]
fn works_from_the_tests_own_thread() {
    assert!(!greenlet::current().is_greenlet());
    scenario();
    assert_eq!(greenlet::hub_stats().live, 0);
    assert_eq!(greenlet::hub_stats().timers, 0);
}

#[test]
fn works_from_inside_a_greenlet() {
    let g = spawn(|| {
        assert!(greenlet::current().is_greenlet());
        scenario();
        // Nested one level deeper.
        spawn(scenario).join().unwrap();
    });
    g.join().unwrap();
    assert_eq!(greenlet::hub_stats().live, 0);
    assert_eq!(greenlet::hub_stats().timers, 0);
}

#[test]
fn works_from_a_plain_std_thread() {
    std::thread::Builder::new()
        .name("plain".into())
        .spawn(|| {
            let c = greenlet::current();
            assert!(!c.is_greenlet());
            assert_eq!(c.name(), Some("plain"));
            scenario();
            assert_eq!(greenlet::hub_stats().live, 0);
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn several_threads_at_once_each_with_its_own_hub() {
    let n = 8;
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let ids = scenario();
                assert_eq!(greenlet::hub_stats().live, 0);
                ids
            })
        })
        .collect();
    let mut ids: Vec<GreenletId> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "greenlet ids are unique across threads");
}

#[test]
fn greenlets_stay_on_the_hub_that_spawned_them() {
    // Thread A spawns a greenlet and does not block; thread B running its own hub
    // to idle must not run it. A runs it when A blocks.
    let ran = Arc::new(AtomicBool::new(false));
    let (spawned_tx, spawned_rx) = mpsc::channel::<()>();
    let (checked_tx, checked_rx) = mpsc::channel::<()>();
    let r = ran.clone();
    let a = std::thread::spawn(move || {
        let r2 = r.clone();
        let g = spawn(move || {
            r2.store(true, Ordering::SeqCst);
            std::thread::current().id()
        });
        assert_eq!(greenlet::hub_stats().live, 1);
        spawned_tx.send(()).unwrap();
        checked_rx.recv().unwrap(); // an OS block: this hub does not run
        assert!(!r.load(Ordering::SeqCst));
        let tid = g.join().unwrap();
        assert!(r.load(Ordering::SeqCst));
        assert_eq!(tid, std::thread::current().id());
    });
    spawned_rx.recv().unwrap();
    let b = std::thread::spawn(|| {
        assert_eq!(
            greenlet::hub_stats().live,
            0,
            "a new thread has an empty hub"
        );
        greenlet::wait();
        greenlet::sleep(ms(5));
    });
    b.join().unwrap();
    assert_eq!(greenlet::hub_stats().live, 0);
    assert!(
        !ran.load(Ordering::SeqCst),
        "another thread ran A's greenlet"
    );
    checked_tx.send(()).unwrap();
    a.join().unwrap();
}

#[test]
fn a_thread_exiting_with_live_greenlets_drops_them_once() {
    struct CountDrop(Arc<AtomicUsize>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let woke = Arc::new(AtomicBool::new(false));
    let d = drops.clone();
    let w = woke.clone();
    std::thread::spawn(move || {
        // Started and sleeping.
        let guard = CountDrop(d.clone());
        let w2 = w.clone();
        spawn(move || {
            let _guard = guard;
            greenlet::sleep(FOREVER);
            w2.store(true, Ordering::SeqCst);
        });
        greenlet::yield_now();
        // Never started.
        let guard = CountDrop(d.clone());
        let w2 = w.clone();
        spawn(move || {
            let _guard = guard;
            w2.store(true, Ordering::SeqCst);
        });
        // Waiting for a spawn_later start.
        let guard = CountDrop(d.clone());
        greenlet::spawn_later(FOREVER, move || drop(guard));
    })
    .join()
    .unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    assert!(!woke.load(Ordering::SeqCst));
}

/// The thread wakes only once the greenlet (and the root joining it) are parked and
/// the hub sleeps in its poll; `woken` is set just before the wake, so a park that
/// returned before it would find it unset.
#[test]
fn a_waker_woken_from_another_thread_wakes_a_parked_greenlet() {
    let log = Log::new();
    let l = log.clone();
    let g = spawn(move || {
        let w = wake::waker();
        let guard = w.expect_remote();
        let woken = Arc::new(AtomicBool::new(false));
        let hub = HubProbe::here();
        let flag = woken.clone();
        let t = std::thread::spawn(move || {
            hub.wake_once_parked(|| {
                flag.store(true, Ordering::SeqCst);
                w.wake();
            })
        });
        l.push("parking");
        wake::park("a thread's signal");
        assert!(
            woken.load(Ordering::SeqCst),
            "park returned before the wake"
        );
        l.push("woken");
        drop(guard);
        t.join().unwrap();
    });
    g.join().unwrap();
    assert_eq!(log.get(), ["parking", "woken"]);
}

/// The same with the thread's own stack parked.
#[test]
fn a_waker_woken_from_another_thread_wakes_the_parked_thread() {
    let w = wake::waker();
    let guard = w.expect_remote();
    let woken = Arc::new(AtomicBool::new(false));
    let hub = HubProbe::here();
    let flag = woken.clone();
    let t = std::thread::spawn(move || {
        hub.wake_once_parked(|| {
            flag.store(true, Ordering::SeqCst);
            w.wake();
        })
    });
    wake::park("a thread's signal");
    assert!(
        woken.load(Ordering::SeqCst),
        "park returned before the wake"
    );
    drop(guard);
    t.join().unwrap();
}

#[test]
fn a_waker_woken_before_park_makes_park_return_at_once() {
    let g = spawn(|| {
        let w = wake::waker();
        std::thread::spawn(move || w.wake()).join().unwrap();
        let start = Instant::now();
        wake::park("already woken");
        start.elapsed()
    });
    assert!(g.join().unwrap() < support::slack());

    let w = wake::waker();
    w.wake();
    wake::park("already woken locally");
}

#[test]
fn many_greenlets_woken_from_several_threads() {
    let n = 200;
    let (tx, rx) = mpsc::channel::<wake::Waker>();
    let woken = Rc::new(Cell::new(0));
    let gs: Vec<_> = (0..n)
        .map(|_| {
            let tx = tx.clone();
            let woken = woken.clone();
            spawn(move || {
                let w = wake::waker();
                let _guard = w.expect_remote();
                tx.send(w).unwrap();
                wake::park("remote");
                woken.set(woken.get() + 1);
            })
        })
        .collect();
    drop(tx);
    greenlet::yield_now(); // every greenlet takes its waker and parks
    assert_eq!(woken.get(), 0);
    let wakers: Vec<wake::Waker> = rx.try_iter().collect();
    assert_eq!(wakers.len(), n);
    let threads: Vec<_> = wakers
        .chunks(n / 4)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            std::thread::spawn(move || {
                for w in chunk {
                    assert!(!w.is_local());
                    w.wake();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for r in greenlet::joinall(gs) {
        r.unwrap();
    }
    assert_eq!(woken.get(), n);
}

#[test]
fn stale_and_repeated_wakes_do_nothing() {
    // G parks three times with fresh wakers; stale wakers (local and remote) and a
    // second wake of a used waker must never end a later park.
    let log = Log::new();
    let current = Rc::new(Cell::new(None::<wake::Waker>));
    let l = log.clone();
    let c = current.clone();
    let g = spawn(move || {
        let w1 = wake::waker();
        assert!(w1.is_local());
        w1.wake();
        wake::park("first"); // returns at once: woken before parking
        l.push("first park over");
        c.set(Some(w1)); // now stale
        greenlet::yield_now();
        let w2 = wake::waker();
        assert_ne!(w1, w2);
        c.set(Some(w2));
        wake::park("second");
        l.push("second park over");
        let w3 = wake::waker();
        c.set(Some(w3));
        wake::park("third");
        l.push("third park over");
    });
    greenlet::yield_now();
    assert_eq!(log.get(), ["first park over"]);
    let stale = current.get().unwrap();
    greenlet::yield_now(); // G parks for the second time
    let w2 = current.get().unwrap();
    assert_ne!(stale, w2);

    // The stale waker, locally, twice, and from another thread.
    stale.wake();
    stale.wake();
    std::thread::spawn(move || stale.wake()).join().unwrap();
    greenlet::yield_now();
    greenlet::yield_now();
    assert_eq!(log.get(), ["first park over"], "a stale wake ended a park");

    // The right waker, twice: one wake.
    w2.wake();
    w2.wake();
    greenlet::yield_now();
    assert_eq!(log.get(), ["first park over", "second park over"]);
    let w3 = current.get().unwrap();
    // w2 again, now stale, from here and from a thread: the third park holds.
    w2.wake();
    std::thread::spawn(move || w2.wake()).join().unwrap();
    greenlet::yield_now();
    greenlet::yield_now();
    assert_eq!(log.get(), ["first park over", "second park over"]);
    assert!(!g.is_finished());

    // w3 from another thread, twice.
    let guard = w3.expect_remote();
    std::thread::spawn(move || {
        w3.wake();
        w3.wake();
    })
    .join()
    .unwrap();
    drop(guard);
    g.join().unwrap();
    assert_eq!(
        log.get(),
        ["first park over", "second park over", "third park over"]
    );
    // And after the park ended, waking it once more is harmless.
    w3.wake();
    greenlet::wait();
}

#[test]
fn waking_a_waker_of_an_exited_thread_does_nothing() {
    let w = std::thread::spawn(|| {
        let g = spawn(|| greenlet::sleep(FOREVER));
        greenlet::yield_now();
        let w = wake::waker();
        drop(g);
        w
    })
    .join()
    .unwrap();
    w.wake();
    w.wake();
    // A new thread may reuse the dead hub's shared part: the old waker still does
    // nothing there.
    std::thread::spawn(move || {
        let log = Log::new();
        let l = log.clone();
        let g = spawn(move || {
            let mine = wake::waker();
            let _guard = mine.expect_remote();
            l.push("parked");
            // Only the stale waker is woken below; the park must hold until timeout.
            let r = greenlet::with_timeout(ms(30), || wake::park("never"));
            l.push(if r.is_err() { "timed out" } else { "woken" });
        });
        greenlet::yield_now();
        w.wake();
        g.join().unwrap();
        assert_eq!(log.get(), ["parked", "timed out"]);
    })
    .join()
    .unwrap();
}
