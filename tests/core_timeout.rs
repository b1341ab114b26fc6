//! `with_timeout`: fires on time, not when the closure finishes first, nested
//! timeouts report the one that fired, no timer left behind, `Drop`s run.

mod support;

use std::time::{Duration, Instant};

use greenlet::{spawn, with_timeout};
use support::{Drops, FOREVER, Log, assert_prompt, assert_took, ms};

#[test]
fn with_timeout_around_a_long_sleep_elapses_on_time() {
    let base = greenlet::hub_stats();
    let start = Instant::now();
    let r = with_timeout(ms(20), || greenlet::sleep(FOREVER));
    assert_took(start, ms(20));
    let e = r.unwrap_err();
    assert_eq!(e.duration(), ms(20));
    assert!(e.to_string().contains("elapsed"), "{e}");
    assert_eq!(greenlet::hub_stats(), base);
}

#[test]
fn with_timeout_around_a_long_sleep_elapses_on_time_in_a_greenlet() {
    let g = spawn(|| {
        let start = Instant::now();
        let r = with_timeout(ms(20), || greenlet::sleep(FOREVER));
        (r, start.elapsed())
    });
    let (r, took) = g.join().unwrap();
    assert_eq!(r.unwrap_err().duration(), ms(20));
    assert!(took >= ms(20), "fired early: {took:?}");
    assert!(took < ms(20) + support::slack(), "fired late: {took:?}");
    assert_eq!(greenlet::hub_stats().timers, 0);
}

#[test]
fn with_timeout_around_a_short_sleep_returns_ok() {
    let base = greenlet::hub_stats();
    let start = Instant::now();
    let r = with_timeout(ms(500), || {
        greenlet::sleep(ms(5));
        "done"
    });
    assert_eq!(r, Ok("done"));
    assert_took(start, ms(5));
    assert_eq!(greenlet::hub_stats(), base, "the unfired timer is removed");
    // Nothing stays armed: a later sleep past the old deadline is not interrupted.
    let r = with_timeout(ms(5), || ());
    assert_eq!(r, Ok(()));
    greenlet::sleep(ms(15));
}

#[test]
fn with_timeout_around_code_that_never_blocks_returns_ok() {
    assert_eq!(with_timeout(ms(100), || 1 + 1), Ok(2));
    assert_eq!(with_timeout(Duration::ZERO, || 3), Ok(3));
    // CPU-bound past the deadline, never blocking: it cannot be interrupted, and the
    // deadline does not leak into the next blocking call.
    let r = with_timeout(ms(5), || {
        let t = Instant::now();
        while t.elapsed() < ms(20) {
            std::hint::spin_loop();
        }
        4
    });
    assert_eq!(r, Ok(4));
    greenlet::sleep(ms(1));
    greenlet::yield_now();
    assert_eq!(greenlet::hub_stats().timers, 0);
}

#[test]
fn with_timeout_of_a_huge_duration_never_fires() {
    // gevent's Timeout(None): too far to represent means no timer at all.
    let r = with_timeout(Duration::MAX, || {
        assert_eq!(greenlet::hub_stats().timers, 0, "no timer for the timeout");
        greenlet::sleep(ms(1));
        5
    });
    assert_eq!(r, Ok(5));
    assert_eq!(greenlet::hub_stats().timers, 0);
}

#[test]
fn nested_timeouts_inner_shorter_fires_and_is_reported_by_the_inner() {
    let log = Log::new();
    let start = Instant::now();
    let outer = with_timeout(FOREVER, || {
        let inner = with_timeout(ms(20), || {
            greenlet::sleep(FOREVER);
            log.push("inner body finished");
        });
        log.push("after inner");
        inner
    });
    assert_took(start, ms(20));
    let inner = outer.expect("the outer timeout did not fire");
    assert_eq!(inner.unwrap_err().duration(), ms(20));
    assert_eq!(log.get(), ["after inner"]);
    assert_eq!(greenlet::hub_stats().timers, 0);
}

#[test]
fn nested_timeouts_outer_shorter_fires_and_is_reported_by_the_outer() {
    let log = Log::new();
    let start = Instant::now();
    let outer = with_timeout(ms(20), || {
        let inner = with_timeout(FOREVER, || {
            greenlet::sleep(FOREVER);
            log.push("inner body finished");
        });
        log.push(format!("inner returned {inner:?}"));
    });
    assert_took(start, ms(20));
    assert_eq!(outer.unwrap_err().duration(), ms(20));
    assert!(
        log.get().is_empty(),
        "the inner must never return: {:?}",
        log.get()
    );
    assert_eq!(greenlet::hub_stats().timers, 0);
}

#[test]
fn nested_timeouts_in_a_greenlet() {
    let g = spawn(|| {
        let inner_shorter =
            with_timeout(FOREVER, || with_timeout(ms(5), || greenlet::sleep(FOREVER)));
        let outer_shorter = with_timeout(ms(5), || {
            let _ = with_timeout(FOREVER, || greenlet::sleep(FOREVER));
            unreachable!("the inner with_timeout returned");
        });
        (inner_shorter, outer_shorter)
    });
    let (inner_shorter, outer_shorter) = g.join().unwrap();
    assert_eq!(inner_shorter.unwrap().unwrap_err().duration(), ms(5));
    assert_eq!(outer_shorter.unwrap_err().duration(), ms(5));
    assert_eq!(greenlet::hub_stats().timers, 0);
}

#[test]
fn three_nested_timeouts_the_middle_one_fires() {
    let r = with_timeout(FOREVER, || {
        let middle = with_timeout(ms(10), || {
            let _ = with_timeout(FOREVER, || greenlet::sleep(FOREVER));
            unreachable!("the innermost with_timeout returned");
        });
        middle.map_err(|e| e.duration())
    });
    assert_eq!(r, Ok(Err(ms(10))));
    assert_eq!(greenlet::hub_stats().timers, 0);
}

#[test]
fn a_timeout_that_did_not_fire_leaves_no_timer_behind() {
    let base = greenlet::hub_stats();
    assert_eq!(with_timeout(FOREVER, || 1), Ok(1));
    assert_eq!(greenlet::hub_stats(), base);
    assert_eq!(
        with_timeout(FOREVER, || {
            greenlet::sleep(ms(1));
            2
        }),
        Ok(2)
    );
    assert_eq!(greenlet::hub_stats(), base);
    let nested = with_timeout(FOREVER, || {
        with_timeout(FOREVER, || {
            assert_eq!(greenlet::hub_stats().timers, base.timers + 2);
            greenlet::yield_now();
            3
        })
    });
    assert_eq!(nested, Ok(Ok(3)));
    assert_eq!(greenlet::hub_stats(), base);
    // And one that fired leaves nothing either.
    assert!(with_timeout(ms(1), || greenlet::sleep(FOREVER)).is_err());
    assert_eq!(greenlet::hub_stats(), base);
    // Many in a row, from greenlets too.
    let gs: Vec<_> = (0..100)
        .map(|i| spawn(move || with_timeout(FOREVER, move || i)))
        .collect();
    for (i, r) in greenlet::joinall(gs).into_iter().enumerate() {
        assert_eq!(r.unwrap(), Ok(i));
    }
    assert_eq!(greenlet::hub_stats(), base);
}

#[test]
fn drops_inside_the_interrupted_closure_run_once() {
    let drops = Drops::new();
    let log = Log::new();
    let r = with_timeout(ms(5), || {
        let _guard = drops.guard();
        let _logged = log.on_drop("closure frame dropped");
        greenlet::sleep(FOREVER);
        log.push("after sleep");
    });
    log.push("with_timeout returned");
    assert!(r.is_err());
    assert_eq!(drops.count(), 1);
    assert_eq!(
        log.get(),
        ["closure frame dropped", "with_timeout returned"]
    );
}

#[test]
fn with_timeout_interrupts_a_join() {
    let log = Log::new();
    let l = log.clone();
    let sleeper = spawn(move || {
        greenlet::sleep(ms(30));
        l.push("sleeper finished");
        9
    });
    let start = Instant::now();
    let r = with_timeout(ms(5), || sleeper.wait());
    assert!(r.is_err());
    assert!(start.elapsed() >= ms(5));
    assert!(
        !sleeper.is_finished(),
        "a timeout on the joiner leaves the target alone"
    );
    assert!(log.get().is_empty());
    assert_eq!(sleeper.join().unwrap(), 9);
    assert_eq!(log.get(), ["sleeper finished"]);
}

#[test]
fn with_timeout_interrupts_a_yield_loop() {
    // gevent test__sleep0.py: `with Timeout(0.01): while True: sleep(0)` terminates.
    let start = Instant::now();
    let r = with_timeout(ms(10), || {
        loop {
            greenlet::yield_now();
        }
    });
    assert!(r.is_err());
    assert_took(start, ms(10));

    let g = spawn(|| {
        with_timeout(ms(10), || {
            loop {
                greenlet::yield_now();
            }
        })
    });
    assert!(g.join().unwrap().is_err());
}

#[test]
fn with_timeout_interrupts_a_yield_loop_alongside_other_yielders() {
    let stop = std::rc::Rc::new(std::cell::Cell::new(false));
    let s = stop.clone();
    let other = spawn(move || {
        while !s.get() {
            greenlet::yield_now();
        }
    });
    let start = Instant::now();
    let r = with_timeout(ms(10), || {
        loop {
            greenlet::yield_now();
        }
    });
    assert!(r.is_err());
    assert_took(start, ms(10));
    stop.set(true);
    other.join().unwrap();
}

#[test]
fn the_outer_timeout_is_not_lost_in_an_inner_timed_wait() {
    // gevent's test_outer_timeout_is_not_lost: an outer deadline wrapping a wait that
    // has its own, longer timeout surfaces as the outer one.
    let sleeper = spawn(|| greenlet::sleep(FOREVER));
    let start = Instant::now();
    let r = with_timeout(ms(5), || sleeper.wait_timeout(FOREVER));
    assert_eq!(r.unwrap_err().duration(), ms(5));
    assert_prompt(start);

    let gs = [sleeper];
    let r = with_timeout(ms(5), || {
        greenlet::JoinAll::new().timeout(FOREVER).wait(&gs)
    });
    assert_eq!(r.unwrap_err().duration(), ms(5));
    assert_prompt(start);

    let r = with_timeout(ms(5), || greenlet::wait_timeout(FOREVER));
    assert_eq!(r.unwrap_err().duration(), ms(5));
    assert_prompt(start);

    greenlet::killall(&gs);
    assert_eq!(greenlet::hub_stats().timers, 0);
}

#[test]
fn a_timeout_can_be_used_again_after_firing() {
    // gevent test__timeout.py::test_expires: fires, and fires again when restarted.
    for _ in 0..3 {
        let start = Instant::now();
        assert!(with_timeout(ms(5), || greenlet::sleep(FOREVER)).is_err());
        assert_took(start, ms(5));
    }
    // A fired timeout is not redelivered to later blocking calls.
    let start = Instant::now();
    greenlet::sleep(ms(10));
    assert_took(start, ms(10));
    assert_eq!(with_timeout(ms(50), || greenlet::sleep(ms(1))), Ok(()));
}

#[test]
fn sibling_timeouts_in_greenlets_fire_independently() {
    let gs: Vec<_> = [10u64, 200, 20]
        .into_iter()
        .map(|t| {
            spawn(move || {
                with_timeout(ms(t), || {
                    greenlet::sleep(ms(100));
                    t
                })
            })
        })
        .collect();
    let results: Vec<_> = greenlet::joinall(gs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(results[0].unwrap_err().duration(), ms(10));
    assert_eq!(results[1], Ok(200));
    assert_eq!(results[2].unwrap_err().duration(), ms(20));
}

#[test]
fn elapsed_converts_to_a_timed_out_io_error() {
    let e = with_timeout(ms(1), || greenlet::sleep(FOREVER)).unwrap_err();
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
}
