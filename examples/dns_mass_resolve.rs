//! gevent's `examples/dns_mass_resolve.py`: many host-name lookups at once, each in
//! its own greenlet with a timeout; the lookups run on the thread pool, so the hub
//! never blocks in the resolver.
//!
//! To keep the example off the network it resolves `localhost` (answered from
//! `/etc/hosts`) many times over. Run it with
//! `cargo run --release --example dns_mass_resolve`; `GREENLET_FAST=1` does fewer.

use std::time::{Duration, Instant};

use greenlet::net::ToSocketAddrs;

fn main() {
    let n = if std::env::var_os("GREENLET_FAST").is_some() {
        100
    } else {
        1000
    };
    let t = Instant::now();
    let lookups: Vec<_> = (0..n)
        .map(|i| {
            greenlet::spawn(move || {
                greenlet::with_timeout(Duration::from_secs(2), || {
                    ("localhost", 8000 + i as u16)
                        .to_socket_addrs()
                        .map(|a| a.count())
                })
            })
        })
        .collect();
    let (mut ok, mut failed, mut timed_out) = (0, 0, 0);
    for r in greenlet::joinall(lookups) {
        match r.expect("a lookup greenlet does not panic") {
            Ok(Ok(count)) if count > 0 => ok += 1,
            Ok(_) => failed += 1,
            Err(_) => timed_out += 1,
        }
    }
    println!(
        "finished {n} lookups within {:?}: success={ok}, failed={failed}, timed out={timed_out}",
        t.elapsed()
    );
    println!(
        "pool workers used: {}",
        greenlet::threadpool::default_pool().workers()
    );
}
