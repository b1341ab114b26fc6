//! Spawning: when a greenlet first runs, start order, joinall, detaching, `current()`,
//! sharing `Rc<RefCell<_>>`.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use greenlet::{Builder, spawn};
use support::{Drops, FOREVER, Log, assert_prompt, assert_took, ms};

#[test]
fn spawn_returns_at_once_without_running_the_greenlet() {
    let log = Log::new();
    let l = log.clone();
    let start = Instant::now();
    let g = spawn(move || {
        l.push("greenlet");
        greenlet::sleep(FOREVER);
    });
    assert_prompt(start);
    assert!(!g.is_started(), "spawn must not run the greenlet");
    assert!(!g.is_finished());
    assert!(log.get().is_empty());
    log.push("spawner");
    assert_eq!(greenlet::hub_stats().live, 1);
    g.kill();
    assert!(g.is_finished());
}

#[test]
fn greenlet_first_runs_when_the_spawner_yields() {
    let log = Log::new();
    let l = log.clone();
    let g = spawn(move || l.push("greenlet"));
    log.push("spawner before yield");
    greenlet::yield_now();
    log.push("spawner after yield");
    assert!(g.is_finished());
    assert_eq!(
        log.get(),
        ["spawner before yield", "greenlet", "spawner after yield"]
    );
}

#[test]
fn greenlet_first_runs_when_the_spawner_blocks() {
    let log = Log::new();
    let l = log.clone();
    let g = spawn(move || {
        l.push("greenlet");
        7
    });
    log.push("spawner before join");
    let v = g.join().unwrap();
    log.push("spawner after join");
    assert_eq!(v, 7);
    assert_eq!(
        log.get(),
        ["spawner before join", "greenlet", "spawner after join"]
    );
}

#[test]
fn child_first_runs_when_its_greenlet_spawner_yields() {
    let log = Log::new();
    let l = log.clone();
    let parent = spawn(move || {
        let lc = l.clone();
        let child = spawn(move || lc.push("child"));
        l.push("parent spawned");
        assert!(!child.is_started());
        greenlet::yield_now();
        l.push("parent resumed");
        assert!(child.is_finished());
    });
    parent.join().unwrap();
    assert_eq!(log.get(), ["parent spawned", "child", "parent resumed"]);
}

#[test]
fn greenlets_start_in_fifo_spawn_order() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let gs: Vec<_> = (0..20)
        .map(|i| {
            let order = order.clone();
            spawn(move || order.borrow_mut().push(i))
        })
        .collect();
    assert!(order.borrow().is_empty());
    let results = greenlet::joinall(gs);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(*order.borrow(), (0..20).collect::<Vec<_>>());
}

#[test]
fn greenlets_spawned_by_greenlets_start_in_fifo_order() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let o = order.clone();
    let parent = spawn(move || {
        let gs: Vec<_> = (0..5)
            .map(|i| {
                let o = o.clone();
                spawn(move || o.borrow_mut().push(i))
            })
            .collect();
        greenlet::joinall(gs);
    });
    parent.join().unwrap();
    assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
}

#[test]
fn joinall_of_30_20_10_ms_sleepers_returns_in_input_order_after_about_30ms() {
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
    let results: Vec<u64> = greenlet::joinall(gs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    // They sleep concurrently: about 30 ms in all, not 60.
    assert_took(start, ms(30));
    assert!(start.elapsed() < ms(60) + support::slack());
    assert_eq!(results, [30, 20, 10]);
}

#[test]
fn joinall_results_are_in_input_order_whatever_the_finish_order() {
    let finished = Log::new();
    // Greenlet i yields (3 - i) times before returning, so they finish 3, 2, 1, 0.
    let gs: Vec<_> = (0..4)
        .map(|i| {
            let finished = finished.clone();
            spawn(move || {
                for _ in 0..(3 - i) {
                    greenlet::yield_now();
                }
                finished.push(format!("g{i}"));
                format!("result {i}")
            })
        })
        .collect();
    let results: Vec<String> = greenlet::joinall(gs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(finished.get(), ["g3", "g2", "g1", "g0"]);
    assert_eq!(results, ["result 0", "result 1", "result 2", "result 3"]);
}

#[test]
fn joinall_of_nothing_returns_nothing() {
    let results = greenlet::joinall(Vec::<greenlet::Greenlet<()>>::new());
    assert!(results.is_empty());
}

#[test]
fn a_child_outlives_the_greenlet_that_spawned_it() {
    let log = Log::new();
    let l = log.clone();
    let parent = spawn(move || {
        let lc = l.clone();
        // The handle is dropped at once: the child is detached.
        spawn(move || {
            lc.push("child started");
            for _ in 0..3 {
                greenlet::yield_now();
            }
            lc.push("child finished");
        });
        l.push("parent returns");
    });
    parent.join().unwrap();
    assert_eq!(log.get()[0], "parent returns");
    assert!(
        !log.get().contains(&"child finished".to_string()),
        "the child cannot have finished before its parent was joined: {:?}",
        log.get()
    );
    greenlet::wait();
    assert_eq!(
        log.get(),
        ["parent returns", "child started", "child finished"]
    );
    assert_eq!(greenlet::hub_stats().live, 0);
}

#[test]
fn dropping_a_handle_detaches_the_greenlet() {
    let log = Log::new();
    let drops = Drops::new();
    // Dropped before the greenlet ever ran.
    {
        let l = log.clone();
        let guard = drops.guard();
        drop(spawn(move || {
            let _guard = guard;
            l.push("a start");
            greenlet::sleep(ms(2));
            l.push("a end");
        }));
    }
    // Dropped while the greenlet is parked in a sleep.
    let l = log.clone();
    let guard = drops.guard();
    let b = spawn(move || {
        let _guard = guard;
        l.push("b start");
        greenlet::sleep(ms(2));
        l.push("b end");
    });
    greenlet::yield_now();
    assert!(b.is_started() && !b.is_finished());
    drop(b);
    assert_eq!(drops.count(), 0, "dropping a handle must not kill");
    greenlet::wait();
    let mut events = log.get();
    events.sort();
    assert_eq!(events, ["a end", "a start", "b end", "b start"]);
    assert_eq!(drops.count(), 2);
    assert_eq!(greenlet::hub_stats().live, 0);
}

#[test]
fn join_returns_owned_non_copy_values() {
    let g = spawn(|| vec![String::from("a"), String::from("b")]);
    assert_eq!(g.join().unwrap(), ["a", "b"]);
    let g = spawn(|| Box::new(5u8));
    assert_eq!(*g.join().unwrap(), 5);
}

#[test]
fn greenlets_share_rc_refcell_state() {
    // Rc is !Send: this only compiles because spawn needs no Send.
    let shared = Rc::new(RefCell::new(Vec::new()));
    let gs: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            let shared = shared.clone();
            spawn(move || {
                for round in 0..3 {
                    shared.borrow_mut().push(format!("{name}{round}"));
                    greenlet::yield_now();
                }
                Rc::strong_count(&shared)
            })
        })
        .collect();
    for r in greenlet::joinall(gs) {
        assert!(r.unwrap() >= 2);
    }
    assert_eq!(
        *shared.borrow(),
        ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]
    );
    assert_eq!(Rc::strong_count(&shared), 1, "every clone was dropped");
}

#[test]
fn current_inside_a_greenlet_matches_its_handle() {
    let g = Builder::new()
        .name("x")
        .spawn(|| {
            let c = greenlet::current();
            (c.is_greenlet(), c.id(), c.name().map(str::to_owned))
        })
        .unwrap();
    assert_eq!(g.name(), Some("x"));
    let id = g.id();
    let (is_greenlet, inner_id, name) = g.join().unwrap();
    assert!(is_greenlet);
    assert_eq!(inner_id, id);
    assert_eq!(name.as_deref(), Some("x"));

    let g = spawn(|| {
        let c = greenlet::current();
        (c.is_greenlet(), c.id(), c.name().is_none())
    });
    assert_eq!(g.name(), None);
    let id = g.id();
    assert_eq!(g.join().unwrap(), (true, id, true));
}

#[test]
fn current_outside_a_greenlet_is_the_thread() {
    let c = greenlet::current();
    assert!(!c.is_greenlet());
    assert_eq!(c.name(), std::thread::current().name());
    // The thread keeps one id, distinct from its greenlets'.
    assert_eq!(greenlet::current().id(), c.id());
    let g = spawn(|| greenlet::current().id());
    let gid = g.id();
    assert_eq!(g.join().unwrap(), gid);
    assert_ne!(gid, c.id());
    // Back on the thread's stack after running a greenlet.
    assert!(!greenlet::current().is_greenlet());
    assert_eq!(greenlet::current().id(), c.id());

    let named = std::thread::Builder::new()
        .name("plain-thread".into())
        .spawn(|| {
            let c = greenlet::current();
            (c.is_greenlet(), c.name().map(str::to_owned))
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(named, (false, Some("plain-thread".to_string())));
}

#[test]
fn greenlet_ids_are_distinct() {
    let gs: Vec<_> = (0..100).map(|_| spawn(|| ())).collect();
    let mut ids: Vec<_> = gs.iter().map(|g| g.id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 100);
    greenlet::joinall(gs);
}

#[test]
fn builder_stack_size_spawns_a_working_greenlet() {
    let g = Builder::new()
        .name("small")
        .stack_size(64 * 1024)
        .spawn(|| {
            let buf = [1u8; 16 * 1024];
            greenlet::yield_now();
            buf.iter().map(|&b| b as usize).sum::<usize>()
        })
        .unwrap();
    assert_eq!(g.join().unwrap(), 16 * 1024);
}

#[test]
fn many_greenlets_run_and_leave_nothing_behind() {
    let base = greenlet::hub_stats();
    let counter = Rc::new(RefCell::new(0u32));
    let gs: Vec<_> = (0..10_000u32)
        .map(|i| {
            let counter = counter.clone();
            spawn(move || {
                greenlet::yield_now();
                *counter.borrow_mut() += 1;
                i
            })
        })
        .collect();
    assert_eq!(greenlet::hub_stats().live, base.live + 10_000);
    let results = greenlet::joinall(gs);
    assert!(results.into_iter().map(Result::unwrap).eq(0..10_000));
    assert_eq!(*counter.borrow(), 10_000);
    assert_eq!(greenlet::hub_stats(), base);
}

#[test]
fn a_waker_kept_from_a_finished_greenlet_never_wakes_the_next_one_in_its_slot() {
    // Regression: slots are reused, and a new greenlet used to start at epoch 0, so
    // a stale waker of the slot's previous greenlet could cut its sleep short.
    let stale = Rc::new(RefCell::new(None));
    let s = stale.clone();
    spawn(move || *s.borrow_mut() = Some(greenlet::wake::waker()))
        .join()
        .unwrap();
    let waker = stale.borrow_mut().take().unwrap();
    let start = Instant::now();
    let sleeper = spawn(|| greenlet::sleep(ms(50)));
    // Let the sleeper (most likely in the freed slot) park, then fire the stale waker.
    greenlet::yield_now();
    waker.wake();
    sleeper.join().unwrap();
    assert_took(start, ms(50));
}

#[test]
fn stacks_released_after_a_burst_serve_later_greenlets_correctly() {
    // A burst leaves more free stacks than the pool keeps resident; the hub releases
    // their memory when it next waits idle. Stacks handed out after that (zero pages
    // again) must work like fresh ones.
    fn burst(n: usize) -> u64 {
        let gs: Vec<_> = (0..n)
            .map(|i| {
                spawn(move || {
                    let buf = std::hint::black_box([i as u8; 2048]);
                    greenlet::yield_now();
                    buf.iter().map(|&b| b as u64).sum::<u64>()
                })
            })
            .collect();
        greenlet::joinall(gs).into_iter().map(Result::unwrap).sum()
    }
    let expected: u64 = (0..3000usize).map(|i| (i as u8) as u64 * 2048).sum();
    assert_eq!(burst(3000), expected);
    // An idle wait trims the pool.
    greenlet::sleep(ms(1));
    assert_eq!(burst(3000), expected);
}

/// Every way of spawning records the user's call as the spawn site.
#[test]
fn spawned_at_names_the_callers_file_and_line() {
    fn site<T: 'static>(g: &greenlet::Greenlet<T>) -> (&'static str, u32) {
        (g.spawned_at().file(), g.spawned_at().line())
    }
    let g = greenlet::spawn(|| ());
    assert_eq!(site(&g), (file!(), line!() - 1));
    let b = Builder::new().name("b").spawn(|| ()).unwrap();
    assert_eq!(site(&b), (file!(), line!() - 1));
    let l = greenlet::spawn_later(std::time::Duration::ZERO, || ());
    assert_eq!(site(&l), (file!(), line!() - 1));
    let group = greenlet::pool::Group::new();
    let m = group.spawn(|| ());
    assert_eq!(site(&m), (file!(), line!() - 1));
    let pool = greenlet::pool::Pool::new(2);
    let p = pool.spawn(|| ());
    assert_eq!(site(&p), (file!(), line!() - 1));
    let handle = greenlet::Handle::current();
    let r = handle.spawn(|| ());
    let at = r.spawned_at();
    assert_eq!((at.file(), at.line()), (file!(), line!() - 2));
    for g in [g, b, l, m, p] {
        g.join().unwrap();
    }
    r.join().unwrap();
}
