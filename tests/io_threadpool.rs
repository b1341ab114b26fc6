//! The thread pool: values, panics, bounds, retirement, cross-thread wakes.

mod support;

use std::time::{Duration, Instant};

use greenlet::threadpool::{self, ThreadPool};
use support::parked::HubProbe;

#[test]
fn value_comes_back_with_no_timer_armed() {
    // Nothing else on the hub: the only thing that can wake it is the worker's wake.
    // The job ends only once the caller is parked and the hub sleeps in its poll with
    // no deadline (so with no timer armed): the wake always finds it there.
    let hub = HubProbe::here();
    let t = Instant::now();
    let v = threadpool::apply(move || hub.wake_once_parked(|| 42));
    assert_eq!(v, 42);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "slow wake: {:?}",
        t.elapsed()
    );
    // Same from a greenlet, while the hub has no timer.
    let g = greenlet::spawn(move || {
        threadpool::apply(move || hub.wake_once_parked(|| "from a worker"))
    });
    greenlet::yield_now();
    assert_eq!(greenlet::hub_stats().timers, 0);
    assert_eq!(g.join().unwrap(), "from a worker");
}

#[test]
fn the_hub_keeps_running_meanwhile() {
    let ticker = greenlet::spawn(|| {
        let mut n = 0;
        for _ in 0..5 {
            greenlet::sleep(Duration::from_millis(10));
            n += 1;
        }
        n
    });
    let t = Instant::now();
    threadpool::apply(|| std::thread::sleep(Duration::from_millis(300)));
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(ticker.is_finished(), "the hub stalled while the job ran");
    assert_eq!(ticker.join().unwrap(), 5);
}

#[test]
fn panic_resumes_in_the_caller() {
    let g = greenlet::spawn(|| threadpool::apply(|| -> u32 { panic!("boom in a worker") }));
    let e = g.join().unwrap_err();
    assert!(e.is_panic());
    let p = e.try_into_panic().unwrap();
    assert_eq!(*p.downcast::<&str>().unwrap(), "boom in a worker");
}

#[test]
fn workers_are_bounded_and_idle_ones_retire() {
    let pool = ThreadPool::with_idle_timeout(2, Duration::from_millis(50));
    let t = Instant::now();
    let gs: Vec<_> = (0..6)
        .map(|i| {
            let pool = pool.clone();
            greenlet::spawn(move || {
                pool.apply(move || {
                    std::thread::sleep(Duration::from_millis(30));
                    i
                })
            })
        })
        .collect();
    greenlet::sleep(Duration::from_millis(10));
    assert_eq!(pool.workers(), 2);
    let got: Vec<i32> = greenlet::joinall(gs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, [0, 1, 2, 3, 4, 5]);
    assert!(
        t.elapsed() >= Duration::from_millis(90),
        "more than 2 ran at once"
    );
    let t = Instant::now();
    while pool.workers() > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "idle workers never retired"
        );
        greenlet::sleep(Duration::from_millis(10));
    }
    // A retired pool starts workers again.
    assert_eq!(pool.apply(|| 7), 7);
}

#[test]
fn kill_while_waiting_for_a_job() {
    // The caller unwinds at once; the job (1 s) runs on.
    let g = greenlet::spawn(|| threadpool::apply(|| std::thread::sleep(Duration::from_secs(1))));
    greenlet::yield_now();
    let t = Instant::now();
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
    assert!(t.elapsed() < Duration::from_millis(500));
    let t = Instant::now();
    let r = greenlet::with_timeout(Duration::from_millis(10), || {
        threadpool::apply(|| std::thread::sleep(Duration::from_secs(1)))
    });
    assert!(r.is_err());
    assert!(t.elapsed() < Duration::from_millis(500));
}

#[test]
fn from_plain_threads() {
    let hs: Vec<_> = (0..4)
        .map(|i| std::thread::spawn(move || threadpool::apply(move || i * 2)))
        .collect();
    let got: Vec<i32> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, [0, 2, 4, 6]);
}

#[test]
fn many_lookups_in_parallel() {
    use greenlet::net::ToSocketAddrs;
    let gs: Vec<_> = (0..50)
        .map(|i| {
            greenlet::spawn(move || ("localhost", 1000 + i).to_socket_addrs().map(|a| a.count()))
        })
        .collect();
    for r in greenlet::joinall(gs) {
        assert!(r.unwrap().unwrap() >= 1);
    }
    let e = "no-port-here".to_socket_addrs().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}
