//! The producer-consumer of the seed tutorial (`003`), with queues instead of a
//! generator: the producer hands each item to the consumer and waits for its reply.
//!
//! ```python
//! def consumer():
//!     r = ''
//!     while True:
//!         n = yield r
//!         if not n:
//!             return
//!         print('[CONSUMER] Consuming %s...' % n)
//!         r = '200 OK'
//!
//! def produce(c):
//!     c.send(None)
//!     n = 0
//!     while n < 5:
//!         n = n + 1
//!         print('[PRODUCER] Producing %s...' % n)
//!         r = c.send(n)
//!         print('[PRODUCER] Consumer return: %s' % r)
//!     c.close()
//! ```
//!
//! Then the same queues between a greenlet and a plain thread: the primitives do not
//! care which side is which. Run with `cargo run --release --example
//! producer_consumer` (`GREENLET_FAST=1` makes the consumer's work shorter).

use std::sync::Arc;
use std::time::Duration;

use greenlet::queue::{Channel, Queue};

fn main() {
    let work = if std::env::var_os("GREENLET_FAST").is_some() {
        Duration::from_millis(1)
    } else {
        Duration::from_millis(100)
    };

    // Two greenlets on this thread, talking over rendezvous channels.
    let requests = Arc::new(Channel::new());
    let replies = Arc::new(Channel::new());
    let (rq, rp) = (requests.clone(), replies.clone());
    let consumer = greenlet::spawn(move || {
        let mut consumed = 0;
        for n in rq.iter() {
            println!("[CONSUMER] Consuming {n}...");
            greenlet::sleep(work);
            consumed += 1;
            rp.put("200 OK").unwrap();
        }
        consumed
    });
    for n in 1..=5 {
        println!("[PRODUCER] Producing {n}...");
        requests.put(n).unwrap();
        let r = replies.get().unwrap();
        println!("[PRODUCER] Consumer return: {r}");
    }
    requests.close();
    let consumed = consumer.join().unwrap();
    println!("greenlets: 5 produced, {consumed} consumed");

    // A greenlet producer on this hub, a plain-thread consumer, a bounded queue.
    let q = Arc::new(Queue::bounded(2));
    let q2 = q.clone();
    let consumer = std::thread::spawn(move || q2.iter().sum::<u64>());
    let producer = greenlet::spawn(move || {
        for n in 1..=1000u64 {
            q.put(n).unwrap(); // blocks this greenlet (not the thread) while full
        }
        q.close();
    });
    producer.join().unwrap();
    let sum = consumer.join().unwrap();
    println!("greenlet -> thread: 1000 items, sum {sum}");
}
