//! The pools of the seed tutorials, with greenlets instead of processes.
//!
//! Seed `003`: `Pool(4)` runs five tasks of random length; `apply_async` starts
//! each, `close` and `join` wait for all.
//!
//! ```python
//! def long_time_task(name):
//!     print('Run task %s (%s)...' % (name, os.getpid()))
//!     start = time.time()
//!     time.sleep(random.random() * 3)
//!     end = time.time()
//!     print('Task %s runs %0.2f seconds.' % (name, (end - start)))
//!
//! p = Pool(4)
//! for i in range(5):
//!     p.apply_async(long_time_task, args=(i,))
//! print('Waiting for all subprocesses done...')
//! p.close()
//! p.join()
//! print('All subprocesses done.')
//! ```
//!
//! Seed `002`: a pool of two runs workers A, B and C, then "All processes have
//! finished". Here `apply_async` also gets a callback and an error callback (which
//! would get the payload of a worker's panic).
//!
//! Run with `cargo run --release --example pool`; `GREENLET_FAST=1` scales a
//! second down to 10 ms.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenlet::pool::Pool;

/// A tiny xorshift PRNG: `random.random()` without a dependency.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn main() {
    let second = if std::env::var_os("GREENLET_FAST").is_some() {
        Duration::from_millis(10)
    } else {
        Duration::from_secs(1)
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut rng = Rng(seed);

    println!("Parent process {}.", std::process::id());
    let p = Pool::new(4);
    let done = Rc::new(Cell::new(0));
    for i in 0..5 {
        let length = second.mul_f64(rng.next_f64() * 3.0);
        let d = done.clone();
        p.apply_async(
            move || {
                println!("Run task {i} ({})...", greenlet::current());
                let start = Instant::now();
                greenlet::sleep(length);
                (i, start.elapsed())
            },
            move |(i, took)| {
                println!(
                    "Task {i} runs {:.2} seconds.",
                    took.as_secs_f64() / second.as_secs_f64()
                );
                d.set(d.get() + 1);
            },
            |_| eprintln!("a task failed"),
        );
    }
    println!("Waiting for all subprocesses done...");
    p.close();
    p.join();
    println!("All subprocesses done. ({} callbacks)", done.get());

    // Seed 002: a pool of two, three workers.
    let pool = Pool::new(2);
    for name in ["A", "B", "C"] {
        pool.apply_async(
            move || {
                println!("Worker {name} is working");
                greenlet::sleep(second / 10);
                name
            },
            |name| println!("Worker {name} has finished"),
            |e| {
                let msg = e.downcast_ref::<String>().map_or("?", String::as_str);
                println!("error callback: {msg}");
            },
        );
    }
    pool.close();
    pool.join();
    println!("All processes have finished");
}
