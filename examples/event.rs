//! Event and AsyncResult hand-offs, as in the gevent tutorial.
//!
//! ```python
//! evt = Event()
//! def setter():
//!     print('A: Hey wait for me, I have to do something')
//!     gevent.sleep(3)
//!     print("Ok, I'm done")
//!     evt.set()
//! def waiter():
//!     print("I'll wait for you")
//!     evt.wait()
//!     print("It's about time")
//! gevent.joinall([gevent.spawn(setter)] + [gevent.spawn(waiter) for _ in range(3)])
//!
//! a = AsyncResult()
//! def setter(): gevent.sleep(1); a.set('Hello!')
//! def waiter(): print(a.get())
//! ```
//!
//! Then a plain thread sets an AsyncResult that this thread waits for with no
//! timeout. Run with `cargo run --release --example event`; `GREENLET_FAST=1`
//! scales a second down to 10 ms.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::sync::{AsyncResult, Event};

fn main() {
    let second = if std::env::var_os("GREENLET_FAST").is_some() {
        Duration::from_millis(10)
    } else {
        Duration::from_secs(1)
    };

    let evt = Rc::new(Event::new());
    let e = evt.clone();
    let mut gs = vec![greenlet::spawn(move || {
        println!("A: Hey wait for me, I have to do something");
        greenlet::sleep(3 * second);
        println!("Ok, I'm done");
        e.set();
    })];
    for i in 0..3 {
        let e = evt.clone();
        gs.push(greenlet::spawn(move || {
            println!("I'll wait for you ({i})");
            e.wait();
            println!("It's about time ({i})");
        }));
    }
    greenlet::joinall(gs);

    let a = Rc::new(AsyncResult::new());
    let a2 = a.clone();
    let setter = greenlet::spawn(move || {
        greenlet::sleep(second);
        a2.set("Hello!").unwrap();
    });
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let a = a.clone();
            greenlet::spawn(move || a.get())
        })
        .collect();
    for w in greenlet::joinall(waiters) {
        println!("{}", w.unwrap());
    }
    setter.join().unwrap();

    // Across threads: nobody on this hub could set it, and the wait has no timeout.
    let r = Arc::new(AsyncResult::new());
    let r2 = r.clone();
    let start = Instant::now();
    let t = std::thread::spawn(move || {
        std::thread::sleep(second);
        r2.set(format!("from {:?}", std::thread::current().id()))
            .unwrap();
    });
    let v = r.get();
    t.join().unwrap();
    println!(
        "thread -> AsyncResult: got {v:?} after {:.1} s",
        start.elapsed().as_secs_f64() / second.as_secs_f64()
    );
}
