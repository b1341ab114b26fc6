//! The seeds' Lock lesson: a shared balance changed by many workers stays right only
//! under a lock.
//!
//! ```python
//! balance = 0
//! lock = threading.Lock()
//!
//! def change_it(n):
//!     global balance
//!     balance = balance + n
//!     balance = balance - n
//!
//! def run_thread(n):
//!     for i in range(100000):
//!         lock.acquire()
//!         try:
//!             change_it(n)
//!         finally:
//!             lock.release()
//! ```
//!
//! Greenlets only switch where they block, so the race needs a switch inside the
//! read-modify-write; it is made explicit here with `yield_now`. Then one
//! `greenlet::sync::Mutex` serves greenlets on two hubs and plain threads at once.
//! Run with `cargo run --release --example lock_counter`.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use greenlet::sync::Mutex;

fn main() {
    let rounds = if std::env::var_os("GREENLET_FAST").is_some() {
        1_000
    } else {
        100_000
    };

    // Without a lock: read, switch, write. Deposits get lost.
    let deposits = rounds / 10;
    let balance = Rc::new(Cell::new(0u64));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let b = balance.clone();
            greenlet::spawn(move || {
                for _ in 0..deposits {
                    let x = b.get();
                    greenlet::yield_now(); // the other greenlet runs here
                    b.set(x + 1);
                }
            })
        })
        .collect();
    greenlet::joinall(workers);
    println!(
        "without a lock: balance = {} (expected {})",
        balance.get(),
        2 * deposits
    );

    // With the lock held across the switch, no deposit is lost.
    let balance = Rc::new(Mutex::new(0u64));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let b = balance.clone();
            greenlet::spawn(move || {
                for _ in 0..deposits {
                    let mut g = b.lock();
                    let x = *g;
                    greenlet::yield_now(); // the other greenlet queues on the lock
                    *g = x + 1;
                }
            })
        })
        .collect();
    greenlet::joinall(workers);
    println!(
        "with a lock: balance = {} (expected {})",
        *balance.lock(),
        2 * deposits
    );

    // One Mutex, greenlets on two hubs and two plain threads.
    let counter = Arc::new(Mutex::new(0u64));
    let mut threads = Vec::new();
    for _ in 0..2 {
        let c = counter.clone();
        threads.push(std::thread::spawn(move || {
            let gs: Vec<_> = (0..4)
                .map(|_| {
                    let c = c.clone();
                    greenlet::spawn(move || {
                        for i in 0..rounds {
                            let mut g = c.lock();
                            *g += 1;
                            if i % 64 == 0 {
                                greenlet::yield_now();
                            }
                        }
                    })
                })
                .collect();
            greenlet::joinall(gs);
        }));
    }
    for _ in 0..2 {
        let c = counter.clone();
        threads.push(std::thread::spawn(move || {
            for _ in 0..rounds {
                *c.lock() += 1;
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    println!(
        "2 hubs x 4 greenlets + 2 threads x {rounds} increments: counter = {} (expected {})",
        *counter.lock(),
        10 * rounds
    );
}
