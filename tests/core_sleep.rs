//! Sleeping, yielding and `spawn_later`: never early, round-robin, timers not starved.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenlet::{spawn, spawn_later};
use support::{FOREVER, Log, assert_prompt, assert_took, ms};

const DURATIONS: [Duration; 7] = [
    Duration::from_micros(1),
    Duration::from_micros(100),
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_micros(2500),
    Duration::from_millis(5),
    Duration::from_millis(20),
];

#[test]
fn sleep_never_returns_early_on_the_thread() {
    for d in DURATIONS {
        for _ in 0..3 {
            let start = Instant::now();
            greenlet::sleep(d);
            assert_took(start, d);
        }
    }
}

#[test]
fn sleep_never_returns_early_in_a_greenlet() {
    let g = spawn(|| {
        for d in DURATIONS {
            for _ in 0..3 {
                let start = Instant::now();
                greenlet::sleep(d);
                assert_took(start, d);
            }
        }
    });
    g.join().unwrap();
}

#[test]
fn sleep_never_returns_early_with_many_sleepers() {
    // 200 greenlets with interleaved deadlines: none wakes before its own.
    let gs: Vec<_> = (0..200u64)
        .map(|i| {
            spawn(move || {
                let d = Duration::from_micros(100 + (i * 37) % 3000);
                let start = Instant::now();
                greenlet::sleep(d);
                (start.elapsed(), d)
            })
        })
        .collect();
    for r in greenlet::joinall(gs) {
        let (took, d) = r.unwrap();
        assert!(took >= d, "woke early: {took:?} < {d:?}");
    }
}

#[test]
fn sleepers_sleep_concurrently() {
    let start = Instant::now();
    let gs: Vec<_> = (0..100)
        .map(|_| spawn(|| greenlet::sleep(ms(20))))
        .collect();
    greenlet::joinall(gs);
    // 100 sleeps of 20 ms overlap: about 20 ms, not 2 s.
    assert_took(start, ms(20));
}

#[test]
fn sleep_after_burning_cpu_is_measured_from_now() {
    // gevent test__api_timeout: the timer is armed relative to now, not a stale loop time.
    let g = spawn(|| {
        greenlet::yield_now();
        let burn = Instant::now();
        while burn.elapsed() < ms(30) {
            std::hint::spin_loop();
        }
        let start = Instant::now();
        greenlet::sleep(ms(10));
        start.elapsed()
    });
    let took = g.join().unwrap();
    assert!(took >= ms(10), "slept only {took:?}");
}

#[test]
fn sleep_until_never_returns_early() {
    let when = Instant::now() + ms(15);
    greenlet::sleep_until(when);
    assert!(Instant::now() >= when);
    // A past instant returns at once.
    let start = Instant::now();
    greenlet::sleep_until(start - ms(5));
    assert_prompt(start);
}

#[test]
fn the_thread_sleeping_runs_greenlets_meanwhile() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let g = spawn(move || r.set(true));
    greenlet::sleep(ms(1));
    assert!(ran.get());
    assert!(g.is_finished());
}

#[test]
fn sleep_zero_round_robins() {
    // gevent test__order.py::TestSleep0: "1A 2A 1B 2B".
    let log = Log::new();
    let gs: Vec<_> = [1, 2]
        .into_iter()
        .map(|i| {
            let log = log.clone();
            spawn(move || {
                log.push(format!("{i}A"));
                greenlet::sleep(Duration::ZERO);
                log.push(format!("{i}B"));
            })
        })
        .collect();
    greenlet::joinall(gs);
    assert_eq!(log.get(), ["1A", "2A", "1B", "2B"]);
}

#[test]
fn yield_now_round_robins_runnable_greenlets() {
    let log = Log::new();
    let gs: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            let log = log.clone();
            spawn(move || {
                for round in 0..3 {
                    log.push(format!("{name}{round}"));
                    greenlet::yield_now();
                }
            })
        })
        .collect();
    greenlet::joinall(gs);
    assert_eq!(
        log.get(),
        ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]
    );
}

#[test]
fn yield_now_with_uneven_work_keeps_round_robin() {
    // a yields 1 time, b 3 times, c 2 times: each round, the runnable ones in order.
    let log = Log::new();
    let gs: Vec<_> = [("a", 1), ("b", 3), ("c", 2)]
        .into_iter()
        .map(|(name, n)| {
            let log = log.clone();
            spawn(move || {
                for round in 0..n {
                    log.push(format!("{name}{round}"));
                    greenlet::yield_now();
                }
                log.push(format!("{name} done"));
            })
        })
        .collect();
    greenlet::joinall(gs);
    assert_eq!(
        log.get(),
        [
            "a0", "b0", "c0", //
            "a done", "b1", "c1", //
            "b2", "c done", //
            "b done"
        ]
    );
}

#[test]
fn yield_now_from_the_thread_runs_every_ready_greenlet_once() {
    let log = Log::new();
    let gs: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let log = log.clone();
            spawn(move || {
                for round in 0..3 {
                    log.push(format!("{name}{round}"));
                    greenlet::yield_now();
                }
            })
        })
        .collect();
    greenlet::yield_now();
    assert_eq!(log.get(), ["a0", "b0"]);
    greenlet::yield_now();
    assert_eq!(log.get(), ["a0", "b0", "a1", "b1"]);
    greenlet::joinall(gs);
    assert_eq!(log.get(), ["a0", "b0", "a1", "b1", "a2", "b2"]);
}

#[test]
fn yield_now_alone_returns() {
    let start = Instant::now();
    for _ in 0..1000 {
        greenlet::yield_now();
    }
    spawn(|| {
        for _ in 0..1000 {
            greenlet::yield_now();
        }
    })
    .join()
    .unwrap();
    assert_prompt(start);
}

#[test]
fn yielding_greenlets_do_not_starve_timers() {
    // gevent test__sleep0.py: a sleep(0) loop still lets an expired timer fire.
    let woke = Rc::new(Cell::new(false));
    let w = woke.clone();
    let sleeper = spawn(move || {
        greenlet::sleep(ms(10));
        w.set(true);
    });
    let w = woke.clone();
    let spinner = spawn(move || {
        let mut spins = 0u64;
        while !w.get() {
            greenlet::yield_now();
            spins += 1;
        }
        spins
    });
    let start = Instant::now();
    sleeper.join().unwrap();
    assert!(spinner.join().unwrap() > 0);
    assert_took(start, ms(10));
}

#[test]
fn a_sleeping_thread_is_not_starved_by_yielding_greenlets() {
    let stop = Rc::new(Cell::new(false));
    let s = stop.clone();
    let spinner = spawn(move || {
        while !s.get() {
            greenlet::yield_now();
        }
    });
    let start = Instant::now();
    greenlet::sleep(ms(10));
    assert_took(start, ms(10));
    stop.set(true);
    spinner.join().unwrap();
}

#[test]
fn spawn_later_runs_no_earlier_than_its_delay() {
    for delay in [ms(1), ms(10), ms(30)] {
        let spawned = Instant::now();
        let g = spawn_later(delay, move || spawned.elapsed());
        assert!(!g.is_started());
        let started_after = g.join().unwrap();
        assert!(
            started_after >= delay,
            "started after {started_after:?}, before its delay {delay:?}"
        );
        assert_took(spawned, delay);
    }
}

#[test]
fn spawn_later_does_not_run_until_the_hub_runs() {
    // gevent test__api.py::test_timer_fired: nothing happens until the spawner blocks.
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let g = spawn_later(ms(1), move || r.set(true));
    // The thread busy for 5 ms without the hub running (with the `monkey` feature a
    // `std::thread::sleep` here would park the root and run the hub).
    let busy = Instant::now();
    while busy.elapsed() < ms(5) {
        std::hint::spin_loop();
    }
    assert!(!ran.get());
    assert!(!g.is_started());
    greenlet::sleep(ms(1));
    assert!(ran.get());
    assert!(g.is_finished());
}

#[test]
fn spawn_later_with_equal_delays_starts_in_spawn_order() {
    let log = Log::new();
    let gs: Vec<_> = (0..5)
        .map(|i| {
            let log = log.clone();
            spawn_later(ms(5), move || log.push(format!("g{i}")))
        })
        .collect();
    greenlet::joinall(gs);
    assert_eq!(log.get(), ["g0", "g1", "g2", "g3", "g4"]);
}

#[test]
fn spawn_later_zero_runs_like_spawn() {
    let log = Log::new();
    let l = log.clone();
    let g = spawn_later(Duration::ZERO, move || l.push("later"));
    log.push("spawner");
    g.join().unwrap();
    assert_eq!(log.get(), ["spawner", "later"]);
}

#[test]
fn spawn_later_from_a_greenlet() {
    // gevent test__api.py::test_spawn_is_not_cancelled, with a delay.
    let log = Log::new();
    let l = log.clone();
    let parent = spawn(move || {
        let start = Instant::now();
        let l2 = l.clone();
        spawn_later(ms(10), move || {
            l2.push(format!("{}", start.elapsed() >= ms(10)))
        });
        l.push("parent returns");
    });
    parent.join().unwrap();
    greenlet::wait();
    assert_eq!(log.get(), ["parent returns", "true"]);
}

#[test]
fn sleeps_leave_no_timer_behind() {
    let base = greenlet::hub_stats();
    greenlet::sleep(ms(1));
    let gs: Vec<_> = (0..10).map(|_| spawn(|| greenlet::sleep(ms(1)))).collect();
    greenlet::joinall(gs);
    assert_eq!(greenlet::hub_stats(), base);
}

#[test]
fn sleep_forever_is_interrupted_by_a_timeout() {
    // A duration too large to represent sleeps until interrupted.
    let start = Instant::now();
    let r = greenlet::with_timeout(ms(10), || greenlet::sleep(Duration::MAX));
    assert!(r.is_err());
    assert_took(start, ms(10));
    let r = greenlet::with_timeout(ms(10), || greenlet::sleep(FOREVER));
    assert!(r.is_err());
}
