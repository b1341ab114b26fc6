//! Timeouts and kill: gevent's `Timeout` / `with_timeout` and `Greenlet.kill`.
//!
//! The seed tutorials have no timeouts; this is the gevent program the example
//! mirrors, step by step:
//!
//! ```python
//! import gevent
//! from gevent import Timeout
//!
//! print(gevent.with_timeout(2, lambda: (gevent.sleep(1), "finished")[1]))
//! try:
//!     gevent.with_timeout(1, gevent.sleep, 5)
//! except Timeout as t:
//!     print("timed out:", t)
//!
//! def sleeper():
//!     try:
//!         gevent.sleep(100)
//!     finally:
//!         print("sleeper cleans up")        # runs when killed
//!
//! g = gevent.spawn(sleeper)
//! gevent.sleep(1)
//! g.kill()                                  # returns once sleeper has finished
//! print(g.dead, g.exception)                # True, GreenletExit
//!
//! never = gevent.spawn(print, "never printed")
//! never.kill()                              # an unstarted greenlet never runs
//!
//! with Timeout(5):                          # nested: the inner one fires
//!     try:
//!         with Timeout(1):
//!             gevent.sleep(10)
//!     except Timeout:
//!         print("inner fired")
//! ```
//!
//! Run it with `cargo run --release --example timeout`. Set `GREENLET_FAST=1` for
//! ticks of 10 ms instead of 1 s.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Prints when dropped, and records that it was.
struct Cleanup {
    who: &'static str,
    dropped: Rc<Cell<bool>>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        println!("  drop: {} cleans up", self.who);
        self.dropped.set(true);
    }
}

fn main() {
    let tick = if std::env::var_os("GREENLET_FAST").is_some() {
        Duration::from_millis(10)
    } else {
        Duration::from_secs(1)
    };
    let ticks = |d: Duration| d.as_secs_f64() / tick.as_secs_f64();

    // 1. A timeout that does not fire: the closure's value comes back in `Ok`.
    let r = greenlet::with_timeout(2 * tick, || {
        greenlet::sleep(tick);
        "finished"
    });
    println!("1. sleep 1 tick under a 2-tick timeout: {r:?}");

    // 2. A timeout that fires: the sleep inside unwinds and `Err(Elapsed)` comes back
    //    on time. It works the same here on the thread's own stack as in a greenlet.
    let start = Instant::now();
    let r = greenlet::with_timeout(tick, || greenlet::sleep(5 * tick));
    println!(
        "2. sleep 5 ticks under a 1-tick timeout: elapsed={} after {:.1} ticks",
        r.is_err(),
        ticks(start.elapsed())
    );

    // 3. Kill a sleeping greenlet. It unwinds from its sleep with a private payload,
    //    so its destructors run (once), and `kill` returns only once they have.
    let dropped = Rc::new(Cell::new(false));
    let sleeper = {
        let dropped = dropped.clone();
        greenlet::Builder::new()
            .name("sleeper")
            .spawn(move || {
                let _cleanup = Cleanup {
                    who: "sleeper",
                    dropped,
                };
                println!("  sleeper: going to sleep for 100 ticks");
                greenlet::sleep(100 * tick);
                println!("  sleeper: never printed");
            })
            .expect("a stack for a greenlet")
    };
    greenlet::sleep(tick); // Let it start and reach its sleep.
    println!("3. killing {:?}", sleeper.name().unwrap_or("?"));
    sleeper.kill();
    println!("3. kill() returned; Drop had run: {}", dropped.get());
    match sleeper.join() {
        Err(e) if e.is_killed() => println!("3. join: {e}"),
        other => println!("3. join: unexpected {other:?}"),
    }

    // 4. Kill a greenlet that has not started: it never runs, and what its closure
    //    owns is dropped without running it.
    let ran = Rc::new(Cell::new(false));
    let dropped = Rc::new(Cell::new(false));
    let never = {
        let ran = ran.clone();
        let cleanup = Cleanup {
            who: "the unstarted greenlet's closure",
            dropped: dropped.clone(),
        };
        greenlet::spawn(move || {
            let _cleanup = cleanup;
            ran.set(true);
            println!("  never printed");
        })
    };
    let started = never.is_started();
    never.kill();
    println!(
        "4. unstarted greenlet killed: had started={started}, ran={}, closure dropped={}, killed={}",
        ran.get(),
        dropped.get(),
        never.join().is_err_and(|e| e.is_killed())
    );

    // 5a. Nested timeouts, inner one shorter: the inner `with_timeout` returns
    //     `Err` to its caller, and the outer one goes on and returns `Ok`.
    let start = Instant::now();
    let outer = greenlet::with_timeout(5 * tick, || {
        let inner = greenlet::with_timeout(tick, || greenlet::sleep(10 * tick));
        format!(
            "inner Err={} after {:.1} ticks",
            inner.is_err(),
            ticks(start.elapsed())
        )
    });
    println!("5a. outer 5 ticks, inner 1 tick: outer {outer:?}");

    // 5b. Nested timeouts, outer one shorter: it unwinds through the inner
    //     `with_timeout`, which never returns, to its own caller. `Elapsed` says
    //     which deadline it was.
    let start = Instant::now();
    let inner_returned = Cell::new(false);
    let outer = greenlet::with_timeout(tick, || {
        let _ = greenlet::with_timeout(5 * tick, || greenlet::sleep(10 * tick));
        inner_returned.set(true);
    });
    match outer {
        Err(e) => println!(
            "5b. outer 1 tick, inner 5 ticks: the {:.0}-tick timeout fired after {:.1} ticks; \
             inner returned: {}",
            ticks(e.duration()),
            ticks(start.elapsed()),
            inner_returned.get()
        ),
        Ok(()) => println!("5b. unexpected: outer returned Ok"),
    }

    // Timeouts that did not fire left no timer behind, and every greenlet is gone.
    let stats = greenlet::hub_stats();
    println!(
        "pending timers at the end: {}, live greenlets: {}",
        stats.timers, stats.live
    );
}
