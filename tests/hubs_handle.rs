//! Many hubs in one process: `Handle::spawn` from plain threads and from greenlets of
//! other hubs, results, panics and kills across hubs, handles to hubs that are gone,
//! `Hubs` running concurrently, panics in a hub's root, pinning, and the existing
//! primitives carrying traffic between hubs.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, ThreadId};
use std::time::Duration;

use greenlet::queue::{Channel, Queue};
use greenlet::sync::Event;
use greenlet::{Handle, Hubs};

/// A hub on a thread of its own, kept alive until `stop` is set; returns its handle
/// and the thread (whose join says it ended).
fn hub_thread(stop: Arc<Event>) -> (Handle, ThreadId, thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        tx.send((Handle::current(), thread::current().id()))
            .unwrap();
        stop.wait();
    });
    let (h, id) = rx.recv().unwrap();
    (h, id, t)
}

#[test]
fn spawn_from_a_plain_thread_runs_on_the_target_hub() {
    let stop = Arc::new(Event::new());
    let (handle, hub_id, t) = hub_thread(stop.clone());
    // This test's thread is a plain thread as far as the target hub is concerned.
    let remote = handle.spawn(move || {
        let before = thread::current().id();
        greenlet::sleep(Duration::from_millis(5)); // parks, resumes: still there
        greenlet::yield_now();
        (before, thread::current().id(), 6 * 7)
    });
    let (before, after, v) = remote.join().unwrap();
    assert_eq!(
        (before, after),
        (hub_id, hub_id),
        "it ran on the target hub only"
    );
    assert_eq!(v, 42);
    stop.set();
    t.join().unwrap();
}

#[test]
fn spawn_from_a_greenlet_of_another_hub() {
    let results = Hubs::new(2).run(|i| i);
    assert_eq!(results.len(), 2);
    let stop = Arc::new(Event::new());
    let (target, target_id, t) = hub_thread(stop.clone());
    let out = Hubs::new(1).run(move |_| {
        let me = thread::current().id();
        let target = target.clone();
        // A greenlet of this hub spawns onto the other one and joins it, while the
        // root of this hub waits for that greenlet.
        greenlet::spawn(move || {
            let r = target.spawn(|| thread::current().id()).join().unwrap();
            (me, r)
        })
        .join()
        .unwrap()
    });
    let (me, ran_on) = out.into_iter().next().unwrap().unwrap();
    assert_eq!(ran_on, target_id);
    assert_ne!(me, target_id);
    stop.set();
    t.join().unwrap();
}

#[test]
fn a_panic_comes_back_through_join() {
    let stop = Arc::new(Event::new());
    let (handle, _, t) = hub_thread(stop.clone());
    let remote = handle.spawn(|| -> u32 { panic!("remote boom") });
    let err = remote.join().unwrap_err();
    assert!(err.is_panic(), "{err}");
    assert!(err.to_string().contains("remote boom"), "{err}");
    // The hub goes on.
    assert_eq!(handle.spawn(|| 5).join().unwrap(), 5);
    stop.set();
    t.join().unwrap();
}

#[test]
fn kill_unwinds_it_on_its_own_hub() {
    let stop = Arc::new(Event::new());
    let (handle, hub_id, t) = hub_thread(stop.clone());
    let dropped_on = Arc::new(parking_lot::Mutex::new(None));
    let started = Arc::new(Event::new());
    let (d, s) = (dropped_on.clone(), started.clone());
    let remote = handle.spawn(move || {
        struct OnDrop(Arc<parking_lot::Mutex<Option<ThreadId>>>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                *self.0.lock() = Some(thread::current().id());
            }
        }
        let _guard = OnDrop(d);
        s.set();
        greenlet::sleep(Duration::MAX); // until killed
    });
    started.wait(); // it runs and is about to park
    remote.kill();
    assert!(remote.is_finished());
    assert_eq!(*dropped_on.lock(), Some(hub_id), "its Drop ran there");
    let err = remote.join().unwrap_err();
    assert!(err.is_killed() && !err.is_hub_exited(), "{err}");
    stop.set();
    t.join().unwrap();
}

#[test]
fn a_handle_to_a_hub_whose_thread_ended_never_hangs() {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(Handle::current()).unwrap())
        .join()
        .unwrap();
    let gone = rx.recv().unwrap();
    let remote = gone.spawn(|| 1);
    assert!(remote.is_finished(), "nothing to wait for");
    let err = remote.join().unwrap_err();
    assert!(err.is_hub_exited() && err.is_killed(), "{err}");
    assert!(err.to_string().contains("hub's thread has exited"), "{err}");
    // Killing it is harmless.
    let remote = gone.spawn(|| 2);
    remote.kill();
}

#[test]
fn a_hub_that_exits_with_a_remote_greenlet_parked_reports_it() {
    let stop = Arc::new(Event::new());
    let (handle, _, t) = hub_thread(stop.clone());
    let started = Arc::new(Event::new());
    let s = started.clone();
    // Parked on something nobody sets: the hub's thread ends with it still there.
    let never = Arc::new(Event::new());
    let n = never.clone();
    let remote = handle.spawn(move || {
        s.set();
        n.wait();
    });
    started.wait();
    stop.set();
    t.join().unwrap();
    let err = remote.join().unwrap_err();
    assert!(err.is_hub_exited(), "{err}");
    drop(never);
}

#[test]
fn spawn_on_the_current_hub_through_a_handle() {
    let handle = Handle::current();
    assert!(handle.is_current());
    let remote = handle.spawn(|| thread::current().id());
    assert_eq!(remote.join().unwrap(), thread::current().id());
}

#[test]
fn hubs_run_concurrently() {
    // Each hub waits, on its own OS thread, for the other to arrive: only concurrent
    // hubs get through.
    let arrived = Arc::new([Event::new(), Event::new()]);
    let results = Hubs::new(2).run(move |i| {
        arrived[i].set();
        arrived[1 - i].wait_timeout(support::FOREVER)
    });
    let ok: Vec<bool> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(ok, [true, true]);
}

#[test]
fn a_panic_in_one_hubs_root_is_named_and_spares_the_other() {
    let results = Hubs::new(2).name("pan").run(|i| {
        if i == 1 {
            panic!("root boom");
        }
        greenlet::sleep(Duration::from_millis(20));
        "survived"
    });
    assert_eq!(results[0].as_ref().unwrap(), &"survived");
    let err = results[1].as_ref().unwrap_err();
    assert!(err.is_panic(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("hub 'pan-1'") && msg.contains("root boom"),
        "{msg}"
    );
}

#[test]
fn pin_binds_each_hub_to_one_cpu() {
    let allowed = allowed_cpus();
    let n = allowed.len().max(2);
    let results = Hubs::new(n).pin(true).run(|_| allowed_cpus());
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap(), [allowed[i % allowed.len()]], "hub {i}");
    }
    // Unpinned hubs keep the process's set.
    let results = Hubs::new(2).run(|_| allowed_cpus());
    for r in results {
        assert_eq!(r.unwrap(), allowed);
    }
}

fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
            0
        );
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

#[test]
fn handles_of_running_hubs_spawn_while_the_roots_wait() {
    let go = Arc::new(Event::new());
    let g = go.clone();
    let hubs = Hubs::new(2).start(move |_| g.wait());
    let counts: Vec<_> = hubs
        .handles()
        .iter()
        .map(|h| h.spawn(|| thread::current().name().map(String::from)))
        .collect();
    let names: Vec<_> = counts.into_iter().map(|r| r.join().unwrap()).collect();
    assert_eq!(
        names,
        [Some("hub-0".to_string()), Some("hub-1".to_string())]
    );
    go.set();
    for r in hubs.join() {
        r.unwrap();
    }
}

const ITEMS: usize = 100_000;

#[test]
fn a_channel_carries_traffic_between_hubs() {
    let ch = Arc::new(Channel::new());
    let c = ch.clone();
    let results = Hubs::new(2).run(move |i| {
        if i == 0 {
            for n in 1..=ITEMS as u64 {
                c.put(n).unwrap();
            }
            0
        } else {
            (0..ITEMS).map(|_| c.get().unwrap()).sum::<u64>()
        }
    });
    let sums: Vec<u64> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(sums[1], (ITEMS as u64) * (ITEMS as u64 + 1) / 2);
    drop(ch);
}

#[test]
fn a_queue_fed_by_greenlets_of_two_hubs_loses_nothing() {
    let q = Arc::new(Queue::bounded(64));
    let total = Arc::new(AtomicUsize::new(0));
    let (qq, t) = (q.clone(), total.clone());
    let results = Hubs::new(2).run(move |i| {
        if i == 0 {
            // Ten producer greenlets on hub 0.
            let gs: Vec<_> = (0..10)
                .map(|p| {
                    let q = qq.clone();
                    greenlet::spawn(move || {
                        for n in 0..ITEMS / 10 {
                            q.put((p * (ITEMS / 10) + n) as u64).unwrap();
                        }
                    })
                })
                .collect();
            greenlet::joinall(gs);
        } else {
            // Ten consumer greenlets on hub 1.
            let gs: Vec<_> = (0..10)
                .map(|_| {
                    let (q, t) = (qq.clone(), t.clone());
                    greenlet::spawn(move || {
                        let mut sum = 0u64;
                        for _ in 0..ITEMS / 10 {
                            sum += q.get().unwrap();
                        }
                        t.fetch_add(1, Ordering::Relaxed);
                        sum
                    })
                })
                .collect();
            let sum: u64 = greenlet::joinall(gs).into_iter().map(Result::unwrap).sum();
            assert_eq!(sum, (ITEMS as u64) * (ITEMS as u64 - 1) / 2);
        }
    });
    for r in results {
        r.unwrap();
    }
    assert_eq!(total.load(Ordering::Relaxed), 10);
    assert!(q.is_empty());
}

#[test]
fn events_ping_pong_between_hubs() {
    let events = Arc::new([Event::new(), Event::new()]);
    let done = Arc::new(AtomicBool::new(false));
    let (e, d) = (events.clone(), done.clone());
    let rounds = 10_000;
    let results = Hubs::new(2).run(move |i| {
        let (mine, theirs) = (&e[i], &e[1 - i]);
        for r in 0..rounds {
            if i == 0 {
                theirs.set();
                mine.wait();
                mine.clear();
            } else {
                mine.wait();
                mine.clear();
                theirs.set();
            }
            if r == rounds - 1 && i == 0 {
                d.store(true, Ordering::Relaxed);
            }
        }
        rounds
    });
    for r in results {
        assert_eq!(r.unwrap(), rounds);
    }
    assert!(done.load(Ordering::Relaxed));
}
