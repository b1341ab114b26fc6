//! When something is wrong: what every greenlet is doing (`greenlet::dump()`, gevent's
//! `print_run_info`), and who keeps a hub from running the others
//! (`greenlet::monitor`, gevent's monitor thread).
//!
//! ```text
//! cargo run --release --example diagnostics
//! GREENLET_TRACE_PARKS=1 cargo run --release --example diagnostics   # with park backtraces
//! ```

use std::rc::Rc;
use std::time::{Duration, Instant};

use greenlet::Builder;
use greenlet::sync::Event;

fn main() {
    greenlet::dump::keep_finished();

    // A few greenlets in different states.
    let never = Rc::new(Event::new());
    let n = never.clone();
    let waiter = Builder::new()
        .name("waits-for-an-event")
        .spawn(move || n.wait())
        .unwrap();
    let sleeper = Builder::new()
        .name("sleeps")
        .spawn(|| greenlet::sleep(Duration::from_secs(60)))
        .unwrap();
    let done = Builder::new().name("done-not-joined").spawn(|| 42).unwrap();
    greenlet::sleep(Duration::from_millis(20));
    let fresh = Builder::new().name("not-started").spawn(|| ()).unwrap();

    println!("{}", greenlet::dump());

    // The monitor: a greenlet that computes for 150 ms without giving way.
    greenlet::monitor::start(Duration::from_millis(50));
    greenlet::monitor::on_block(|report| println!("on_block: {report}"));
    let hog = Builder::new()
        .name("hog")
        .spawn(|| {
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(150) {
                std::hint::spin_loop();
            }
        })
        .unwrap();
    hog.join().unwrap();
    greenlet::sleep(Duration::from_millis(50)); // let the monitor see the episode end

    sleeper.kill();
    never.set();
    waiter.join().unwrap();
    fresh.join().unwrap();
    println!("done-not-joined returned {}", done.join().unwrap());
}
