//! The gevent program of the seed tutorial (`002`): two workers print the current
//! greenlet and a counter, sleep, and `joinall` waits for both.
//!
//! ```python
//! import gevent
//!
//! def worker(n):
//!     for i in range(n):
//!         print(gevent.getcurrent(), i)
//!         gevent.sleep(1)
//!
//! greenlets = [gevent.spawn(worker, 3), gevent.spawn(worker, 2)]
//! gevent.joinall(greenlets)
//! ```
//!
//! Run it with `cargo run --release --example spawn_joinall`. Set `GREENLET_FAST=1`
//! to sleep 10 ms instead of 1 s.

use std::time::{Duration, Instant};

fn main() {
    let tick = if std::env::var_os("GREENLET_FAST").is_some() {
        Duration::from_millis(10)
    } else {
        Duration::from_secs(1)
    };
    let worker = move |n: u32| {
        for i in 0..n {
            println!("{} {i}", greenlet::current());
            greenlet::sleep(tick);
        }
    };
    let start = Instant::now();
    let greenlets = vec![
        greenlet::spawn(move || worker(3)),
        greenlet::spawn(move || worker(2)),
    ];
    greenlet::joinall(greenlets);
    println!(
        "both done in {:.1} ticks (one after another would take 5)",
        start.elapsed().as_secs_f64() / tick.as_secs_f64()
    );
}
