//! Kill: unstarted greenlets never run, started ones unwind from their blocking point
//! with their `Drop`s run once, `kill` waits for the unwinding, killing twice is
//! harmless, "undead" greenlets that catch the unwind, `kill_nowait`, `killall`.

mod support;

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenlet::{GreenletExit, spawn, spawn_later};
use support::{Drops, FOREVER, Log, assert_prompt, ms};

#[test]
fn killing_an_unstarted_greenlet_means_it_never_runs() {
    let base = greenlet::hub_stats();
    let ran = Rc::new(Cell::new(false));
    let drops = Drops::new();
    let r = ran.clone();
    let guard = drops.guard();
    let g = spawn(move || {
        let _guard = guard;
        r.set(true);
    });
    g.kill();
    assert!(g.is_finished());
    assert_eq!(
        drops.count(),
        1,
        "the closure's captures are dropped by kill"
    );
    greenlet::wait();
    assert!(
        !ran.get(),
        "a greenlet killed before it started must never run"
    );
    assert_eq!(drops.count(), 1, "captures are dropped exactly once");
    let err = g.join().unwrap_err();
    assert!(err.is_killed());
    assert!(!err.is_panic());
    assert_eq!(greenlet::hub_stats(), base);
}

#[test]
fn killing_an_unstarted_greenlet_does_not_disturb_the_others() {
    let log = Log::new();
    let gs: Vec<_> = (0..3)
        .map(|i| {
            let log = log.clone();
            spawn(move || log.push(format!("g{i}")))
        })
        .collect();
    gs[1].kill();
    let results = greenlet::joinall(gs);
    assert_eq!(log.get(), ["g0", "g2"]);
    assert!(results[0].is_ok());
    assert!(results[1].as_ref().unwrap_err().is_killed());
    assert!(results[2].is_ok());
}

#[test]
fn killing_a_sleeping_greenlet_unwinds_it_with_drops_run_once() {
    let base = greenlet::hub_stats();
    let log = Log::new();
    let drops = Drops::new();
    let l = log.clone();
    let guard = drops.guard();
    let g = spawn(move || {
        let _guard = guard;
        l.push("start");
        greenlet::sleep(FOREVER);
        l.push("after sleep");
    });
    greenlet::yield_now(); // runs it up to its sleep
    assert!(g.is_started() && !g.is_finished());
    assert_eq!(drops.count(), 0);
    let start = Instant::now();
    g.kill();
    assert_prompt(start);
    assert!(g.is_finished());
    assert_eq!(drops.count(), 1);
    greenlet::wait();
    assert_eq!(log.get(), ["start"], "code after the sleep must never run");
    assert_eq!(drops.count(), 1);
    assert!(g.join().unwrap_err().is_killed());
    // The sleep's timer went with it.
    assert_eq!(greenlet::hub_stats(), base);
}

#[test]
fn kill_returns_only_after_the_targets_drops_have_run() {
    // gevent test__api.py::test_killing_dormant: start, except, finished.
    let log = Log::new();
    let l = log.clone();
    let g = spawn(move || {
        let _outer = l.on_drop("outer dropped");
        l.push("start");
        {
            let _inner = l.on_drop("inner dropped");
            greenlet::sleep(FOREVER);
        }
        l.push("after sleep");
    });
    greenlet::yield_now();
    log.push("killing");
    g.kill();
    log.push("kill returned");
    assert_eq!(
        log.get(),
        [
            "start",
            "killing",
            "inner dropped",
            "outer dropped",
            "kill returned"
        ]
    );
}

#[test]
fn kill_from_another_greenlet_waits_for_the_unwinding() {
    let log = Log::new();
    let l = log.clone();
    let target = Rc::new(spawn(move || {
        let _d = l.on_drop("target dropped");
        l.push("target sleeps");
        greenlet::sleep(FOREVER);
    }));
    let l = log.clone();
    let t = target.clone();
    let killer = spawn(move || {
        l.push("killer kills");
        t.kill();
        l.push("killer: kill returned");
        t.is_finished()
    });
    assert!(killer.join().unwrap());
    assert_eq!(
        log.get(),
        [
            "target sleeps",
            "killer kills",
            "target dropped",
            "killer: kill returned"
        ]
    );
    assert!(target.is_finished());
}

#[test]
fn kill_waits_for_a_drop_that_blocks_while_unwinding() {
    struct SlowDrop(Log);
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            self.0.push("cleanup starts");
            greenlet::sleep(ms(5));
            greenlet::yield_now();
            self.0.push("cleanup ends");
        }
    }
    let log = Log::new();
    let l = log.clone();
    let g = spawn(move || {
        let _slow = SlowDrop(l.clone());
        l.push("start");
        greenlet::sleep(FOREVER);
    });
    greenlet::yield_now();
    let start = Instant::now();
    g.kill();
    log.push("kill returned");
    assert!(start.elapsed() >= ms(5));
    assert_eq!(
        log.get(),
        ["start", "cleanup starts", "cleanup ends", "kill returned"]
    );
    assert!(g.join().unwrap_err().is_killed());
}

#[test]
fn killing_a_greenlet_waiting_in_its_run_queue_turn() {
    // Started, then yielded: it is runnable, not parked. It unwinds from yield_now.
    let log = Log::new();
    let drops = Drops::new();
    let l = log.clone();
    let guard = drops.guard();
    let g = spawn(move || {
        let _guard = guard;
        l.push("a0");
        greenlet::yield_now();
        l.push("a1");
    });
    greenlet::yield_now();
    assert_eq!(log.get(), ["a0"]);
    g.kill();
    assert_eq!(drops.count(), 1);
    greenlet::wait();
    assert_eq!(log.get(), ["a0"]);
    assert!(g.join().unwrap_err().is_killed());
}

#[test]
fn killing_a_finished_greenlet_is_harmless() {
    let g = spawn(|| 42);
    g.wait();
    assert!(g.is_finished());
    g.kill();
    g.kill_nowait();
    assert!(g.kill_timeout(ms(1)));
    assert_eq!(g.join().unwrap(), 42, "kill after finish keeps the result");
}

#[test]
fn killing_twice_is_harmless() {
    let drops = Drops::new();
    let guard = drops.guard();
    let started = spawn(move || {
        let _guard = guard;
        greenlet::sleep(FOREVER);
    });
    greenlet::yield_now();
    started.kill();
    started.kill();
    started.kill_nowait();
    assert_eq!(drops.count(), 1);

    let guard = drops.guard();
    let unstarted = spawn(move || drop(guard));
    unstarted.kill();
    unstarted.kill();
    assert_eq!(drops.count(), 2);

    greenlet::wait();
    assert_eq!(drops.count(), 2);
    assert!(started.join().unwrap_err().is_killed());
    assert!(unstarted.join().unwrap_err().is_killed());
}

#[test]
fn join_of_a_killed_greenlet_reports_it_killed() {
    let g = greenlet::Builder::new()
        .name("victim")
        .spawn(|| greenlet::sleep(FOREVER))
        .unwrap();
    let id = g.id();
    greenlet::yield_now();
    g.kill();
    let err = g.join().unwrap_err();
    assert!(err.is_killed());
    assert!(!err.is_panic());
    assert_eq!(err.id(), id);
    assert_eq!(err.name(), Some("victim"));
    let msg = err.to_string();
    assert!(msg.contains("victim"), "{msg}");
    assert!(msg.contains("killed"), "{msg}");
    let err = err.try_into_panic().unwrap_err();
    assert!(err.is_killed());
}

#[test]
fn a_greenlet_that_catches_the_kill_keeps_running_and_kill_waits_for_it() {
    let log = Log::new();
    let l = log.clone();
    let g = spawn(move || {
        l.push("start");
        let r = panic::catch_unwind(AssertUnwindSafe(|| greenlet::sleep(FOREVER)));
        let payload = r.unwrap_err();
        assert!(payload.is::<GreenletExit>());
        l.push("caught the kill");
        // Undead: it goes on blocking, and the kill is not redelivered.
        greenlet::sleep(ms(5));
        greenlet::yield_now();
        l.push("finishing");
        42
    });
    greenlet::yield_now();
    log.push("kill");
    let start = Instant::now();
    g.kill();
    log.push("kill returned");
    assert!(
        start.elapsed() >= ms(5),
        "kill returned before the greenlet ended"
    );
    assert!(g.is_finished());
    assert_eq!(
        log.get(),
        [
            "start",
            "kill",
            "caught the kill",
            "finishing",
            "kill returned"
        ]
    );
    // join reports how it really ended.
    assert_eq!(g.join().unwrap(), 42);
}

#[test]
fn kill_timeout_gives_up_on_an_undead_greenlet() {
    // gevent test__greenletset.py::test_kill_fires_once: kill(block, timeout) gives up
    // and leaves the target alive.
    let log = Log::new();
    let l = log.clone();
    let g = spawn(move || {
        let _d = l.on_drop("dropped");
        if panic::catch_unwind(AssertUnwindSafe(|| greenlet::sleep(FOREVER))).is_err() {
            l.push("caught");
        }
        greenlet::sleep(FOREVER);
    });
    greenlet::yield_now();
    let start = Instant::now();
    assert!(!g.kill_timeout(ms(20)));
    support::assert_took(start, ms(20));
    assert!(!g.is_finished());
    assert_eq!(log.get(), ["caught"]);
    // A second kill reaches it in its second sleep.
    g.kill();
    assert_eq!(log.get(), ["caught", "dropped"]);
    assert!(g.join().unwrap_err().is_killed());
}

#[test]
fn kill_nowait_only_schedules_the_kill() {
    let drops = Drops::new();
    let guard = drops.guard();
    let g = spawn(move || {
        let _guard = guard;
        greenlet::sleep(FOREVER);
    });
    greenlet::yield_now();
    g.kill_nowait();
    assert!(!g.is_finished(), "kill_nowait must not run the target");
    assert_eq!(drops.count(), 0);
    greenlet::yield_now(); // one loop spin
    assert!(g.is_finished());
    assert_eq!(drops.count(), 1);
    assert!(g.join().unwrap_err().is_killed());
}

#[test]
fn kill_nowait_from_a_greenlet_takes_effect_when_it_blocks() {
    let log = Log::new();
    let l = log.clone();
    let target = Rc::new(spawn(move || {
        let _d = l.on_drop("target dropped");
        greenlet::sleep(FOREVER);
    }));
    let l = log.clone();
    let t = target.clone();
    let killer = spawn(move || {
        t.kill_nowait();
        l.push(format!("after kill_nowait: finished={}", t.is_finished()));
        greenlet::yield_now();
        l.push(format!("after yield: finished={}", t.is_finished()));
    });
    killer.join().unwrap();
    assert_eq!(
        log.get(),
        [
            "after kill_nowait: finished=false",
            "target dropped",
            "after yield: finished=true"
        ]
    );
}

#[test]
fn kill_nowait_of_an_unstarted_greenlet_drops_it_at_once() {
    let drops = Drops::new();
    let guard = drops.guard();
    let g = spawn(move || drop(guard));
    g.kill_nowait();
    assert!(g.is_finished());
    assert_eq!(drops.count(), 1);
    greenlet::wait();
    assert_eq!(drops.count(), 1);
    assert!(g.join().unwrap_err().is_killed());
}

#[test]
fn killall_kills_started_and_unstarted_greenlets() {
    let base = greenlet::hub_stats();
    let drops = Drops::new();
    let log = Log::new();
    let mut gs = Vec::new();
    for i in 0..3 {
        let guard = drops.guard();
        let l = log.clone();
        gs.push(spawn(move || {
            let _guard = guard;
            l.push(format!("g{i} sleeps"));
            greenlet::sleep(FOREVER);
            l.push(format!("g{i} woke"));
        }));
    }
    greenlet::yield_now();
    let guard = drops.guard();
    let l = log.clone();
    gs.push(spawn(move || {
        let _guard = guard;
        l.push("unstarted ran");
    }));
    let start = Instant::now();
    greenlet::killall(&gs);
    assert_prompt(start);
    assert!(gs.iter().all(|g| g.is_finished()));
    assert_eq!(drops.count(), 4);
    greenlet::wait();
    assert_eq!(log.get(), ["g0 sleeps", "g1 sleeps", "g2 sleeps"]);
    for r in greenlet::joinall(gs) {
        assert!(r.unwrap_err().is_killed());
    }
    assert_eq!(greenlet::hub_stats(), base);
}

#[test]
fn killall_of_nothing_and_of_finished_greenlets() {
    greenlet::killall::<()>(&[]);
    let gs: Vec<_> = (0..3).map(|i| spawn(move || i)).collect();
    greenlet::wait();
    greenlet::killall(&gs);
    let results: Vec<i32> = greenlet::joinall(gs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(results, [0, 1, 2]);
}

#[test]
fn killing_a_spawn_later_greenlet_before_its_start_means_it_never_runs() {
    let base = greenlet::hub_stats();
    let ran = Rc::new(Cell::new(false));
    let drops = Drops::new();
    let r = ran.clone();
    let guard = drops.guard();
    let g = spawn_later(ms(5), move || {
        let _guard = guard;
        r.set(true);
    });
    assert_eq!(greenlet::hub_stats().timers, base.timers + 1);
    g.kill();
    assert_eq!(drops.count(), 1);
    assert_eq!(greenlet::hub_stats(), base, "its start timer is gone");
    greenlet::sleep(ms(20)); // well past its start time
    assert!(!ran.get());
    assert_eq!(drops.count(), 1);
    assert!(g.join().unwrap_err().is_killed());
}

#[test]
fn killing_a_spawn_later_that_would_never_start_frees_it() {
    // A delay too large to represent: it waits until killed.
    let base = greenlet::hub_stats();
    let ran = Rc::new(Cell::new(false));
    let drops = Drops::new();
    let r = ran.clone();
    let guard = drops.guard();
    let g = spawn_later(Duration::MAX, move || {
        let _guard = guard;
        r.set(true);
    });
    assert_eq!(greenlet::hub_stats().live, base.live + 1);
    g.kill();
    assert_eq!(drops.count(), 1);
    greenlet::wait();
    assert!(!ran.get());
    assert!(g.join().unwrap_err().is_killed());
    assert_eq!(
        greenlet::hub_stats(),
        base,
        "a killed greenlet must not stay live in the hub"
    );
}

#[test]
fn a_greenlet_killed_before_it_ran_never_counts_as_started() {
    let g = spawn(|| ());
    assert!(!g.is_started());
    g.kill();
    assert!(g.is_finished());
    assert!(
        !g.is_started(),
        "is_started() means \"has started running\"; this one never ran"
    );
    let g = spawn_later(ms(1), || ());
    g.kill();
    assert!(!g.is_started());
}

#[test]
fn killing_a_greenlet_in_with_timeout_reports_the_kill() {
    let base = greenlet::hub_stats();
    let drops = Drops::new();
    let guard = drops.guard();
    let g = spawn(move || {
        let r = greenlet::with_timeout(FOREVER, || {
            let _guard = guard;
            greenlet::sleep(FOREVER);
        });
        // The kill is not turned into Elapsed, and is not swallowed.
        unreachable!("with_timeout returned {r:?} to a killed greenlet");
    });
    greenlet::yield_now();
    g.kill();
    assert_eq!(drops.count(), 1);
    assert!(g.join().unwrap_err().is_killed());
    assert_eq!(greenlet::hub_stats(), base, "the timeout's timer is gone");
}

#[test]
fn killing_a_joiner_leaves_the_joined_greenlet_alone() {
    let log = Log::new();
    let l = log.clone();
    let joined = Rc::new(spawn(move || {
        for _ in 0..3 {
            greenlet::yield_now();
        }
        l.push("joined finished");
        7
    }));
    let l = log.clone();
    let j = joined.clone();
    let joiner = spawn(move || {
        let _d = l.on_drop("joiner dropped");
        j.wait();
        l.push("joiner woke");
    });
    greenlet::yield_now(); // the joiner parks in wait
    joiner.kill();
    assert_eq!(log.get(), ["joiner dropped"]);
    greenlet::wait();
    assert_eq!(log.get(), ["joiner dropped", "joined finished"]);
    let joined = Rc::try_unwrap(joined).unwrap();
    assert_eq!(joined.join().unwrap(), 7);
    assert!(joiner.join().unwrap_err().is_killed());
}

#[test]
fn kill_is_prompt_for_many_sleepers() {
    // gevent test__greenletset.py::test_kill_block: killing long sleepers is fast.
    let gs: Vec<_> = (0..1000)
        .map(|_| spawn(|| greenlet::sleep(FOREVER)))
        .collect();
    greenlet::yield_now();
    let start = Instant::now();
    greenlet::killall(&gs);
    assert_prompt(start);
    assert_eq!(greenlet::hub_stats().live, 0);
    assert_eq!(greenlet::hub_stats().timers, 0);
}

/// Runs this test binary's test `name` again in a child process with
/// `GREENLET_CHILD=name`, for scenarios that could abort the process.
fn run_in_child(name: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("GREENLET_CHILD", name)
        .output()
        .unwrap()
}

fn is_child(name: &str) -> bool {
    std::env::var("GREENLET_CHILD").is_ok_and(|v| v == name)
}

#[test]
fn killing_again_while_the_first_kill_unwinds_is_harmless() {
    // gevent 1.D #35: killing an already killed greenlet is harmless, also while its
    // unwinding is blocked in a Drop (the second kill must not be delivered into the
    // destructor: that would abort the process).
    const NAME: &str = "killing_again_while_the_first_kill_unwinds_is_harmless";
    if is_child(NAME) {
        struct SlowDrop;
        impl Drop for SlowDrop {
            fn drop(&mut self) {
                println!("[child] cleanup starts");
                greenlet::sleep(ms(20));
                println!("[child] cleanup ends");
            }
        }
        let g = spawn(|| {
            let _slow = SlowDrop;
            greenlet::sleep(FOREVER);
        });
        greenlet::yield_now();
        g.kill_nowait();
        greenlet::yield_now(); // the first kill unwinds into SlowDrop's sleep
        assert!(!g.is_finished());
        println!("[child] second kill");
        g.kill();
        println!("[child] kill returned");
        assert!(g.join().unwrap_err().is_killed());
        println!("[child] joined");
        return;
    }
    let out = run_in_child(NAME);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.find("[child] ").map(|i| &l[i + "[child] ".len()..]))
        .collect();
    assert!(
        out.status.success(),
        "the child failed ({}): {events:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        events,
        [
            "cleanup starts",
            "second kill",
            "cleanup ends",
            "kill returned",
            "joined"
        ]
    );
}

#[test]
fn a_deadline_that_fires_while_a_kill_unwinds_through_a_blocking_drop_waits_its_turn() {
    // An interrupt delivered inside a destructor that blocks while the greenlet
    // unwinds from a kill would be a panic during cleanup (an abort). It must stay
    // pending instead, and the kill completes normally.
    struct SlowDrop(Log);
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            self.0.push("drop starts");
            greenlet::sleep(ms(30));
            self.0.push("drop ends");
        }
    }
    let log = Log::new();
    let l = log.clone();
    let g = spawn(move || {
        greenlet::with_timeout(ms(10), || {
            let _s = SlowDrop(l);
            greenlet::sleep(FOREVER);
        })
    });
    greenlet::yield_now();
    g.kill();
    assert_eq!(log.get(), ["drop starts", "drop ends"]);
    assert!(g.join().unwrap_err().is_killed());
    assert_eq!(greenlet::hub_stats().timers, 0);
}
