//! `--child count KIND N`: one hot loop run N times and nothing else, for
//! `valgrind --tool=callgrind` to count its instructions (`callgrind.sh` runs it).
//!
//! The loop bodies are those of the timed scenarios: `spawn` is scenario 1 at N =
//! 1,000 (per greenlet), `yield` is scenario 2 (`switch`)
//! with two greenlets, `raw`, `event` and `channel` are the greenlet side of
//! scenario 3 (`ping-pong`, module `sync`; `raw` uses its very `Side`). Each loop
//! also checks a count, a few instructions per round trip, so that a loop that stops
//! switching or delivering panics instead of counting nothing.

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;

use greenlet::queue::Channel;
use greenlet::sync::Event;

use super::sync::Side;

/// Entry point of `--child count KIND N`; `args` is `[KIND, N]`.
pub(super) fn child(args: &[String]) {
    let usage = "usage: bench --child count yield|raw|event|channel|spawn N";
    let kind = args.first().map(String::as_str).expect(usage);
    let n: usize = args.get(1).and_then(|n| n.parse().ok()).expect(usage);
    let n = black_box(n);
    match kind {
        "yield" => yield_pair(n),
        "raw" => raw(n),
        "event" => event(n),
        "channel" => channel(n),
        "spawn" => spawn_join(n),
        other => panic!("unknown count kind {other:?}; {usage}"),
    }
    println!("count {kind} {n}: ok");
}

/// Scenario 1 (`spawn`) at N = 1,000: n greenlets in batches of 1,000, each batch
/// spawned, then joined with `joinall`; "per round trip" is per greenlet.
fn spawn_join(n: usize) {
    const BATCH: usize = 1000;
    let mut done = 0;
    while done < n {
        let k = BATCH.min(n - done);
        let gs: Vec<_> = (0..k).map(|_| greenlet::spawn(|| black_box(()))).collect();
        let finished = greenlet::joinall(gs)
            .into_iter()
            .filter(Result::is_ok)
            .count();
        assert_eq!(finished, k, "a greenlet did not finish");
        done += k;
    }
}

/// Runs `a` and `b` as two greenlets on this hub and joins them.
fn pair(a: impl FnOnce() + 'static, b: impl FnOnce() + 'static) {
    let ga = greenlet::spawn(a);
    let gb = greenlet::spawn(b);
    ga.join().expect("ping greenlet failed");
    gb.join().expect("pong greenlet failed");
}

/// Two greenlets each calling `yield_now` n times: n round trips of 2 yields. After
/// its yield, each sees that the other has run at least as many iterations.
fn yield_pair(n: usize) {
    let counts = Rc::new([Cell::new(0usize), Cell::new(0usize)]);
    let gs: Vec<_> = (0..2)
        .map(|me| {
            let counts = counts.clone();
            greenlet::spawn(move || {
                let (mine, other) = (&counts[me], &counts[1 - me]);
                for i in 0..n {
                    mine.set(i + 1);
                    greenlet::yield_now();
                    assert!(other.get() > i, "yield_now did not run the other greenlet");
                }
            })
        })
        .collect();
    for r in greenlet::joinall(gs) {
        r.expect("yield greenlet failed");
    }
    assert_eq!(counts[0].get() + counts[1].get(), 2 * n);
}

/// `sync::raw_green`: a flag and a stored `wake::waker()`, woken then `park()`ed.
fn raw(n: usize) {
    let (ping, pong) = (Rc::new(Side::default()), Rc::new(Side::default()));
    let hits = Rc::new(Cell::new(0usize));
    let (ping2, pong2, hits1, hits2) = (ping.clone(), pong.clone(), hits.clone(), hits.clone());
    pair(
        move || {
            for i in 0..n {
                ping.signal();
                pong.take();
                assert_eq!(hits1.get(), i + 1, "pong did not run once per round trip");
            }
        },
        move || {
            for _ in 0..n {
                ping2.take();
                hits2.set(hits2.get() + 1);
                pong2.signal();
            }
        },
    );
    assert_eq!(black_box(hits.get()), n);
}

/// `sync::event_green`: two Events, set; wait; clear.
fn event(n: usize) {
    let (ping, pong) = (Rc::new(Event::new()), Rc::new(Event::new()));
    let hits = Rc::new(Cell::new(0usize));
    let (ping2, pong2, hits1, hits2) = (ping.clone(), pong.clone(), hits.clone(), hits.clone());
    pair(
        move || {
            for i in 0..n {
                ping.set();
                pong.wait();
                pong.clear();
                assert_eq!(hits1.get(), i + 1, "pong did not run once per round trip");
            }
        },
        move || {
            for _ in 0..n {
                ping2.wait();
                ping2.clear();
                hits2.set(hits2.get() + 1);
                pong2.set();
            }
        },
    );
    assert_eq!(black_box(hits.get()), n);
}

/// `sync::channel_green`: two rendezvous Channels, one each way; the item comes back.
fn channel(n: usize) {
    let (ping, pong) = (Rc::new(Channel::new()), Rc::new(Channel::new()));
    let (ping2, pong2) = (ping.clone(), pong.clone());
    let hits = Rc::new(Cell::new(0usize));
    let hits2 = hits.clone();
    pair(
        move || {
            for i in 0..n {
                ping.put(i).expect("open");
                let back = black_box(pong.get().expect("open"));
                assert_eq!(back, i, "the item did not come back");
            }
        },
        move || {
            for _ in 0..n {
                let i = ping2.get().expect("open");
                hits2.set(hits2.get() + 1);
                pong2.put(i).expect("open");
            }
        },
    );
    assert_eq!(black_box(hits.get()), n);
}
