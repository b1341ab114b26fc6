//! The `threading` programs of the seed tutorials, with greenlets in place of OS
//! threads: `spawn` is `Thread(...).start()` and `join` is `join()`.
//!
//! Seed `002` starts two threads that print numbers and letters, joins both, and
//! says so:
//!
//! ```python
//! import threading
//!
//! def print_numbers():
//!     for i in range(1, 6):
//!         print(f"Number: {i}")
//!
//! def print_letters():
//!     for letter in "abcde":
//!         print(f"Letter: {letter}")
//!
//! t1 = threading.Thread(target=print_numbers)
//! t2 = threading.Thread(target=print_letters)
//! t1.start()
//! t2.start()
//! t1.join()
//! t2.join()
//! print("Both threads are done!")
//! ```
//!
//! Seed `000` starts three workers with an argument and waits for all of them (seed
//! `004`'s `thread_example` has the same shape: `args=(i,)`, start, join):
//!
//! ```python
//! import time
//! import threading
//!
//! def worker(n):
//!     for i in range(n):
//!         print(f"Working {i}")
//!         time.sleep(0.5)
//!
//! threads = []
//! for i in range(3):
//!     t = threading.Thread(target=worker, args=(10,))
//!     threads.append(t)
//!     t.start()
//!
//! for thread in threads:
//!     thread.join()
//! print("All threads finished")
//! ```
//!
//! Run it with `cargo run --release --example threads_style`. Set `GREENLET_FAST=1`
//! to nap 5 ms instead of 0.5 s.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn main() {
    let nap = if std::env::var_os("GREENLET_FAST").is_some() {
        Duration::from_millis(5)
    } else {
        Duration::from_millis(500)
    };
    numbers_and_letters();
    println!();
    workers_with_arguments(nap);
}

/// Seed 002. Both greenlets append to one log: greenlets of a hub never run at the
/// same time and never leave their thread, so an `Rc<RefCell<_>>` is all they need
/// to share it (no `Arc`, no `Mutex`).
fn numbers_and_letters() {
    let log = Rc::new(RefCell::new(Vec::new()));

    let numbers = {
        let log = log.clone();
        move || {
            for i in 1..=5 {
                println!("Number: {i}");
                log.borrow_mut().push(i.to_string());
                // Greenlets are scheduled cooperatively: one runs until it blocks or
                // yields, and nothing preempts it. Without this line all five numbers
                // would print before the first letter. OS threads interleave because
                // the kernel switches them; greenlets interleave where the code says so.
                greenlet::yield_now();
            }
        }
    };
    let letters = {
        let log = log.clone();
        move || {
            for letter in "abcde".chars() {
                println!("Letter: {letter}");
                log.borrow_mut().push(letter.to_string());
                greenlet::yield_now(); // Same reason as above.
            }
        }
    };

    // `spawn` is `Thread(...)` and `start()` at once. The greenlets first run when
    // this code blocks, here in the first `join`.
    let t1 = greenlet::spawn(numbers);
    let t2 = greenlet::spawn(letters);
    t1.join().expect("print_numbers does not panic");
    t2.join().expect("print_letters does not panic");
    println!("Both greenlets are done!");
    println!("printed in this order: {}", log.borrow().join(" "));
}

/// Seed 000: `args=(10,)` becomes a `move` closure that calls `worker(10)`. A name
/// set with `Builder` shows in `greenlet::current()` (and in panic reports).
fn workers_with_arguments(nap: Duration) {
    let worker = move |n: u32| {
        for i in 0..n {
            println!("{} Working {i}", greenlet::current());
            // A blocking call is where a greenlet gives way: the other workers run
            // while this one naps, so three workers of ten naps take ten naps in all.
            greenlet::sleep(nap);
        }
    };

    let start = Instant::now();
    let greenlets: Vec<_> = (0..3)
        .map(|k| {
            greenlet::Builder::new()
                .name(format!("worker-{k}"))
                .spawn(move || worker(10))
                .expect("a stack for a greenlet")
        })
        .collect();
    for g in greenlets {
        g.join().expect("worker does not panic");
    }
    println!(
        "All greenlets finished in {:.1} naps (one after another would take 30)",
        start.elapsed().as_secs_f64() / nap.as_secs_f64()
    );
}
