//! Joining: timed joins, `JoinAll` (count, timeout, raise_error), `wait()` for an
//! idle hub.

mod support;

use std::rc::Rc;
use std::time::{Duration, Instant};

use greenlet::{JoinAll, spawn, spawn_later};
use support::{FOREVER, Log, assert_prompt, assert_took, ms};

/// A greenlet that yields `n` times, then returns `v`: finish order without timing.
fn after_yields<T: 'static>(n: usize, v: T) -> greenlet::Greenlet<T> {
    spawn(move || {
        for _ in 0..n {
            greenlet::yield_now();
        }
        v
    })
}

/// A greenlet that yields `n` times, then panics with `msg`.
fn fail_after_yields(n: usize, msg: &'static str) -> greenlet::Greenlet<&'static str> {
    spawn(move || {
        for _ in 0..n {
            greenlet::yield_now();
        }
        panic!("{msg}")
    })
}

#[test]
fn wait_timeout_returns_false_after_the_timeout_with_the_greenlet_still_running() {
    // gevent TestJoin: join(timeout) returns after the timeout and does not kill.
    let base = greenlet::hub_stats();
    let g = spawn(|| {
        greenlet::sleep(FOREVER);
    });
    let start = Instant::now();
    assert!(!g.wait_timeout(ms(20)));
    assert_took(start, ms(20));
    assert!(g.is_started());
    assert!(!g.is_finished());
    g.kill();
    assert_eq!(greenlet::hub_stats(), base);
}

#[test]
fn wait_timeout_returns_true_once_finished() {
    let g = spawn(|| {
        greenlet::sleep(ms(5));
        1
    });
    let start = Instant::now();
    assert!(g.wait_timeout(FOREVER));
    assert_took(start, ms(5));
    assert!(g.is_finished());
    assert!(g.wait_timeout(Duration::ZERO), "already finished");
    assert_eq!(g.join().unwrap(), 1);
    assert_eq!(greenlet::hub_stats().timers, 0, "no timer left behind");
}

#[test]
fn wait_timeout_zero_does_not_block() {
    let g = spawn(|| greenlet::sleep(FOREVER));
    let start = Instant::now();
    assert!(!g.wait_timeout(Duration::ZERO));
    assert_prompt(start);
    g.kill();
}

#[test]
fn wait_does_not_consume_the_result() {
    let g = after_yields(2, String::from("value"));
    g.wait();
    assert!(g.is_finished());
    g.wait();
    assert_eq!(g.join().unwrap(), "value");
}

#[test]
fn several_greenlets_wait_for_the_same_one() {
    let log = Log::new();
    let l = log.clone();
    let target = Rc::new(spawn(move || {
        greenlet::sleep(ms(5));
        l.push("target done");
    }));
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let t = target.clone();
            let l = log.clone();
            spawn(move || {
                t.wait();
                l.push(format!("waiter {i} woke"));
            })
        })
        .collect();
    target.wait();
    greenlet::joinall(waiters);
    assert_eq!(
        log.get(),
        [
            "target done",
            "waiter 0 woke",
            "waiter 1 woke",
            "waiter 2 woke"
        ]
    );
}

#[test]
fn join_from_a_greenlet() {
    let inner = after_yields(3, 5);
    let outer = spawn(move || inner.join().unwrap() * 2);
    assert_eq!(outer.join().unwrap(), 10);
}

#[test]
fn joinall_count_one_returns_when_any_finishes_the_rest_keep_running() {
    // gevent test_joinall_count_raise_error.
    let gs = vec![
        spawn(|| {
            greenlet::sleep(FOREVER);
            0
        }),
        after_yields(0, 1),
        spawn(|| {
            greenlet::sleep(FOREVER);
            2
        }),
    ];
    let start = Instant::now();
    let done = JoinAll::new().count(1).wait(&gs).unwrap();
    assert_prompt(start);
    assert_eq!(done, [1]);
    assert!(!gs[0].is_finished() && gs[0].is_started());
    assert!(!gs[2].is_finished() && gs[2].is_started());
    greenlet::killall(&gs);
}

#[test]
fn joinall_count_one_counts_a_failure_without_raise_error() {
    let gs = vec![
        spawn(|| {
            greenlet::sleep(FOREVER);
            "slept"
        }),
        fail_after_yields(1, "failed"),
    ];
    let done = JoinAll::new().count(1).wait(&gs).unwrap();
    assert_eq!(done, [1]);
    assert!(!gs[0].is_finished());
    greenlet::killall(&gs);
    let results = greenlet::joinall(gs);
    assert!(results[0].as_ref().unwrap_err().is_killed());
    assert!(results[1].as_ref().unwrap_err().is_panic());
}

#[test]
fn joinall_count_two_of_three() {
    // Finish order: c (1 yield), a (2 yields), b (5 yields).
    let gs = vec![
        after_yields(2, 'a'),
        after_yields(5, 'b'),
        after_yields(1, 'c'),
    ];
    let done = JoinAll::new().count(2).wait(&gs).unwrap();
    assert_eq!(done, [2, 0]);
    assert!(!gs[1].is_finished());
    let all = JoinAll::new().wait(&gs).unwrap();
    assert_eq!(all, [2, 0, 1], "indices in finish order");
}

#[test]
fn joinall_with_a_timeout_returns_what_finished_without_killing() {
    // gevent TestJoinAll: returns after the timeout, a never-started greenlet included.
    let base = greenlet::hub_stats();
    let gs = vec![
        spawn(|| greenlet::sleep(FOREVER)),
        after_yields(1, ()),
        spawn_later(FOREVER, || ()),
    ];
    let start = Instant::now();
    let done = JoinAll::new().timeout(ms(20)).wait(&gs).unwrap();
    assert_took(start, ms(20));
    assert_eq!(done, [1]);
    assert!(gs[0].is_started() && !gs[0].is_finished());
    assert!(!gs[2].is_started() && !gs[2].is_finished());
    greenlet::killall(&gs);
    assert_eq!(greenlet::hub_stats(), base, "no timer or greenlet left");
}

#[test]
fn joinall_with_a_timeout_returns_early_when_all_finish() {
    let gs = vec![after_yields(1, 1), after_yields(3, 3)];
    let start = Instant::now();
    let done = JoinAll::new().timeout(FOREVER).wait(&gs).unwrap();
    assert_prompt(start);
    assert_eq!(done, [0, 1]);
    assert_eq!(greenlet::hub_stats().timers, 0);
}

#[test]
fn joinall_raise_error_returns_the_first_failure_at_once() {
    // gevent test_wait_error: y fails immediately, x sleeps then returns.
    let gs = vec![
        spawn(|| {
            greenlet::sleep(FOREVER);
            "x"
        }),
        fail_after_yields(0, "y failed"),
    ];
    let start = Instant::now();
    assert_eq!(JoinAll::new().raise_error(true).wait(&gs), Err(1));
    assert_prompt(start);
    assert!(
        !gs[0].is_finished(),
        "raise_error does not wait for the others"
    );
    greenlet::killall(&gs);
}

#[test]
fn joinall_raise_error_reports_the_earliest_failure_in_time() {
    // gevent test_joinall_exception_order: a fails later, b fails first: b is reported,
    // though a comes first in the list.
    let gs = vec![
        fail_after_yields(3, "first in the list, fails second"),
        fail_after_yields(1, "second in the list, fails first"),
    ];
    assert_eq!(JoinAll::new().raise_error(true).wait(&gs), Err(1));
    // Once both have failed, the earliest in time is still the one reported.
    gs[0].wait();
    assert!(gs.iter().all(|g| g.is_finished()));
    assert_eq!(JoinAll::new().raise_error(true).wait(&gs), Err(1));
    // A kill is a failure too.
    let gs = vec![after_yields(2, ()), spawn(|| greenlet::sleep(FOREVER))];
    greenlet::yield_now();
    gs[1].kill();
    assert_eq!(JoinAll::new().raise_error(true).wait(&gs), Err(1));
    gs[0].wait();
}

#[test]
fn joinall_raise_error_without_failures_returns_all() {
    let gs = vec![after_yields(2, 2), after_yields(0, 0), after_yields(1, 1)];
    let done = JoinAll::new().raise_error(true).wait(&gs).unwrap();
    assert_eq!(done, [1, 2, 0]);
    let values: Vec<i32> = greenlet::joinall(gs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(values, [2, 0, 1]);
}

#[test]
fn joinall_with_only_finished_greenlets_returns_at_once() {
    let gs: Vec<_> = (0..3).map(|i| spawn(move || i)).collect();
    greenlet::wait();
    let start = Instant::now();
    let mut done = JoinAll::new().timeout(FOREVER).count(3).wait(&gs).unwrap();
    assert_prompt(start);
    done.sort();
    assert_eq!(done, [0, 1, 2]);
    assert_eq!(JoinAll::new().wait::<()>(&[]), Ok(vec![]));
}

#[test]
fn joinall_leaves_no_waiter_behind() {
    // gevent test__iwait / issue467: a partial wait unregisters its waiter, so the
    // later finish of the others wakes nobody stale and they still finish normally.
    let gs = vec![after_yields(0, 0), after_yields(3, 1), after_yields(6, 2)];
    assert_eq!(JoinAll::new().count(1).wait(&gs).unwrap(), [0]);
    assert_eq!(JoinAll::new().count(2).wait(&gs).unwrap(), [0, 1]);
    let results: Vec<i32> = greenlet::joinall(gs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(results, [0, 1, 2]);
    assert_eq!(greenlet::hub_stats().timers, 0);
}

#[test]
fn wait_runs_until_the_hub_is_idle() {
    // gevent test__hub_join_timeout.py, each case repeated to catch state left behind.
    for _ in 0..2 {
        // Nothing to do: returns at once.
        let start = Instant::now();
        greenlet::wait();
        assert_prompt(start);

        // Only a finished greenlet: returns at once.
        let g = spawn(|| ());
        g.wait();
        let start = Instant::now();
        greenlet::wait();
        assert_prompt(start);

        // A spawn_later(20ms) and sleepers: returns once all have run.
        let log = Log::new();
        let l = log.clone();
        let start = Instant::now();
        spawn_later(ms(20), move || l.push("later"));
        for i in 0..3 {
            let l = log.clone();
            spawn(move || {
                greenlet::sleep(ms(5));
                l.push(format!("sleeper {i}"));
            });
        }
        greenlet::wait();
        assert_took(start, ms(20));
        assert_eq!(log.get(), ["sleeper 0", "sleeper 1", "sleeper 2", "later"]);
        assert_eq!(greenlet::hub_stats().live, 0);
        assert_eq!(greenlet::hub_stats().timers, 0);
    }
}

#[test]
fn wait_returns_with_greenlets_parked_forever() {
    // Greenlets parked on something nobody will ever wake are left parked.
    let g = spawn(|| greenlet::wake::park("nothing"));
    let start = Instant::now();
    greenlet::wait();
    assert_prompt(start);
    assert!(g.is_started() && !g.is_finished());
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
}

#[test]
fn wait_timeout_gives_up_with_a_spawn_later_pending() {
    for _ in 0..2 {
        let g = spawn_later(Duration::from_secs(10), || ());
        let start = Instant::now();
        assert!(!greenlet::wait_timeout(ms(20)));
        assert_took(start, ms(20));
        assert!(!g.is_started(), "the greenlet is still pending");
        assert_eq!(greenlet::hub_stats().timers, 1, "only its start timer");
        g.kill();
        let start = Instant::now();
        assert!(greenlet::wait_timeout(FOREVER));
        assert_prompt(start);
        assert_eq!(greenlet::hub_stats().timers, 0);
    }
}

#[test]
fn wait_timeout_returns_true_when_the_hub_goes_idle_in_time() {
    let log = Log::new();
    let l = log.clone();
    spawn(move || {
        greenlet::sleep(ms(5));
        l.push("done");
    });
    let start = Instant::now();
    assert!(greenlet::wait_timeout(FOREVER));
    assert_took(start, ms(5));
    assert_eq!(log.get(), ["done"]);
    assert_eq!(greenlet::hub_stats().timers, 0);
}
