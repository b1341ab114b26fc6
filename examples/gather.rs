//! The `asyncio` programs of the seed tutorials, with greenlets: no `async`, no
//! `await`, no event loop to start. A worker is a plain function that sleeps.
//!
//! Seed `002` runs workers concurrently with `gather`; seed `000` has workers that
//! sleep `n` seconds, return a string, and are waited for with `asyncio.wait`:
//!
//! ```python
//! import asyncio
//!
//! async def worker(n):
//!     await asyncio.sleep(n)
//!     return 'Done sleeping...'
//!
//! async def main():
//!     tasks = []
//!     for n in (1, 2, 3):
//!         task = asyncio.create_task(worker(n))
//!         tasks.append(task)
//!
//!     done, pending = await asyncio.wait(tasks)
//!     results = [t.result() for t in done]
//!     print(results)
//!
//! asyncio.run(main())  # and `await asyncio.gather(*tasks)` in seed 002
//! ```
//!
//! `asyncio.gather` is `greenlet::joinall`: results in input order, and the whole
//! wait lasts as long as the slowest worker (3 s), not the sum (6 s). The workers
//! here sleep 3, 1 and 2 s in that order, so that input order and finishing order
//! differ and the output shows which one `joinall` keeps. `asyncio.wait` with
//! `FIRST_COMPLETED` is `JoinAll::new().count(1)`.
//!
//! Run it with `cargo run --release --example gather`. Set `GREENLET_FAST=1` to
//! scale every second to 10 ms; the times printed stay in (scaled) seconds.

use std::time::{Duration, Instant};

use greenlet::{Greenlet, JoinAll};

fn main() {
    let second = if std::env::var_os("GREENLET_FAST").is_some() {
        println!("(GREENLET_FAST: 1 s is scaled to 10 ms)");
        Duration::from_millis(10)
    } else {
        Duration::from_secs(1)
    };
    let secs = |d: Duration| d.as_secs_f64() / second.as_secs_f64();

    // asyncio.gather(worker("A", 3), worker("B", 1), worker("C", 2))
    let start = Instant::now();
    let results: Vec<String> = greenlet::joinall(spawn_workers(second))
        .into_iter()
        .map(|r| r.expect("a worker does not panic"))
        .collect();
    println!("results in input order: {results:?}");
    println!(
        "took {:.1} s in all, not 6 s: the workers slept at the same time",
        secs(start.elapsed())
    );

    // done, pending = await asyncio.wait(tasks, return_when=FIRST_COMPLETED)
    println!();
    let start = Instant::now();
    let workers = spawn_workers(second);
    let first = JoinAll::new()
        .count(1)
        .wait(&workers)
        .expect("no raise_error");
    println!(
        "FIRST_COMPLETED after {:.1} s: done {first:?} (worker B); the others go on",
        secs(start.elapsed())
    );

    // done, pending = await asyncio.wait(tasks)  (ALL_COMPLETED)
    let done = JoinAll::new().wait(&workers).expect("no raise_error");
    println!(
        "ALL_COMPLETED after {:.1} s: done {done:?}, in the order they finished",
        secs(start.elapsed())
    );
    // `wait` consumes nothing: the results are still there for `join`.
    let results: Vec<String> = greenlet::joinall(workers)
        .into_iter()
        .map(|r| r.expect("a worker does not panic"))
        .collect();
    let in_done_order: Vec<&String> = done.iter().map(|&i| &results[i]).collect();
    println!("[t.result() for t in done]: {in_done_order:?}");
}

/// Spawns workers A, B and C, which sleep 3, 1 and 2 seconds.
fn spawn_workers(second: Duration) -> Vec<Greenlet<String>> {
    [("A", 3), ("B", 1), ("C", 2)]
        .into_iter()
        .map(|(name, n)| greenlet::spawn(move || worker(name, n, second)))
        .collect()
}

fn worker(name: &str, n: u32, second: Duration) -> String {
    println!("Worker {name} is working ({n} s)");
    greenlet::sleep(second * n);
    println!("Worker {name} has finished");
    format!("{name} slept {n} s")
}
