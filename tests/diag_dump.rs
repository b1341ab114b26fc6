//! `greenlet::dump()`: every hub and every greenlet with its state, spawn site and
//! parent; a busy hub that cannot answer; backtraces of parks; the dump on a signal.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::Builder;
use greenlet::sync::Event;
use support::child::{CHILD_OK, is_child, run_child};

/// The dump's line for the greenlet `id`.
fn line_of(dump: &str, id: greenlet::GreenletId) -> String {
    let tag = format!("({id})");
    let tag2 = format!("greenlet {id}:");
    dump.lines()
        .find(|l| l.contains(&tag) || l.contains(&tag2))
        .unwrap_or_else(|| panic!("no line for {id} in:\n{dump}"))
        .to_string()
}

/// The number in "for N ms" on a line.
fn parked_ms(line: &str) -> u64 {
    let (_, rest) = line.split_once(" for ").expect("a duration");
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

fn sleep_long() {
    greenlet::sleep(Duration::from_secs(60));
}

#[test]
fn the_dump_lists_greenlets_in_every_state() {
    greenlet::dump::keep_finished();
    let started = Instant::now();
    // Parked: sleeping.
    let sleeper = Builder::new().name("sleeper").spawn(sleep_long).unwrap();
    let sleeper_line = line!() - 1;
    // Parked on an event, spawned by another greenlet (its parent).
    let ev = std::rc::Rc::new(Event::new());
    let e = ev.clone();
    let parent = greenlet::spawn(move || {
        let child = greenlet::spawn(move || e.wait());
        (greenlet::current().id(), child)
    });
    // Finished, and its handle kept.
    let done = Builder::new().name("done").spawn(|| 7).unwrap();
    greenlet::yield_now(); // they all run once: sleeper parks, parent spawns and ends
    greenlet::yield_now(); // the child parks on the event
    let (parent_id, child) = parent.join().unwrap();
    greenlet::sleep(Duration::from_millis(50)); // the sleeper has parked for >= 50 ms
    // Runnable, not started yet: the dump pictures this hub before anything runs.
    let fresh = Builder::new().name("fresh").spawn(|| ()).unwrap();

    let dump = greenlet::dump().to_string();
    let waited = started.elapsed();
    let here = std::thread::current();
    let header = format!("hub of thread '{}'", here.name().unwrap_or("<unnamed>"));
    assert!(dump.contains(&header), "{dump}");

    let s = line_of(&dump, sleeper.id());
    assert!(
        s.contains("greenlet 'sleeper'") && s.contains("parked on sleep"),
        "{s}"
    );
    assert!(
        s.contains(&format!("spawned at {}:{sleeper_line}", file!())),
        "{s}"
    );
    let ms = parked_ms(&s);
    assert!(
        ms >= 50,
        "parked for {ms} ms, but it has been at least 50: {s}"
    );
    assert!(u128::from(ms) <= waited.as_millis() + 1000, "{s}");

    let c = line_of(&dump, child.id());
    assert!(c.contains("parked on Event::wait"), "{c}");
    assert!(c.ends_with(&format!("by {parent_id}")), "{c}");
    let p = line_of(&dump, done.id());
    assert!(p.ends_with("by the root"), "{p}");

    let d = line_of(&dump, done.id());
    assert!(d.contains("finished, not joined"), "{d}");

    let f = line_of(&dump, fresh.id());
    assert!(f.contains("runnable (not started)"), "{f}");

    // A greenlet that dumps sees itself running.
    let me = greenlet::spawn(|| {
        let dump = greenlet::dump().to_string();
        let id = greenlet::current().id();
        line_of(&dump, id)
    });
    let m = me.join().unwrap();
    assert!(m.contains(": running"), "{m}");

    // Joined now: no longer listed.
    assert_eq!(done.join().unwrap(), 7);
    assert!(!greenlet::dump().to_string().contains("greenlet 'done'"));
    sleeper.kill();
    ev.set();
    child.join().unwrap();
    fresh.join().unwrap();
}

#[test]
fn a_dump_lists_other_hubs_and_says_when_one_is_busy() {
    let go = Arc::new(Event::new());
    let (g, started) = (go.clone(), Arc::new(Event::new()));
    let s = started.clone();
    // The spinner blocks its thread in a futex wait (std's channel): no hook of the
    // `monkey` feature reaches that, so the hub stays busy in either feature state.
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let blocked = Arc::new(std::sync::Mutex::new(Some(blocked)));
    // Hub 0 parks a named greenlet; hub 1's root keeps its thread busy for a while.
    let hubs = greenlet::Hubs::new(2).name("dumped").start(move |i| {
        if i == 0 {
            let g = g.clone();
            let w = Builder::new()
                .name("waiter-on-hub-0")
                .spawn(move || g.wait())
                .unwrap();
            w.join().unwrap();
        } else {
            // A greenlet that does not give way: it blocks its thread until released.
            let blocked = blocked.lock().unwrap().take().expect("one hub 1");
            let spinner = Builder::new()
                .name("spinner")
                .spawn(move || {
                    let _ = blocked.recv_timeout(Duration::from_secs(20));
                })
                .unwrap();
            s.set();
            spinner.join().unwrap();
        }
    });
    started.wait();
    // Let hub 0's waiter park and hub 1's spinner start.
    greenlet::sleep(Duration::from_millis(100));
    let dump = greenlet::dump().to_string();
    assert!(dump.contains("hub of thread 'dumped-0'"), "{dump}");
    assert!(dump.contains("greenlet 'waiter-on-hub-0'"), "{dump}");
    let busy = dump
        .lines()
        .find(|l| l.contains("'dumped-1'"))
        .unwrap_or_else(|| panic!("{dump}"));
    assert!(
        busy.contains("did not answer") && busy.contains("busy"),
        "{busy}"
    );
    release.send(()).unwrap();
    go.set();
    for r in hubs.join() {
        r.unwrap();
    }
}

#[test]
fn with_trace_parks_each_parked_greenlet_shows_where() {
    const NAME: &str = "with_trace_parks_each_parked_greenlet_shows_where";
    if is_child(NAME) {
        let g = Builder::new()
            .name("traced")
            .spawn(|| greenlet::sleep(Duration::from_secs(60)))
            .unwrap();
        greenlet::yield_now();
        let dump = greenlet::dump().to_string();
        let at = dump.find("greenlet 'traced'").expect("listed");
        let after: Vec<&str> = dump[at..].lines().skip(1).take(40).collect();
        // The backtrace shows the timed park of its sleep, and not the recording.
        assert!(after.iter().any(|l| l.contains("park_timed")), "{dump}");
        assert!(!after.iter().any(|l| l.contains("record_park")), "{dump}");
        g.kill();
        println!("{CHILD_OK}");
        return;
    }
    // SAFETY: only this test sets the variable; the child inherits it.
    unsafe { std::env::set_var("GREENLET_TRACE_PARKS", "1") };
    let out = run_child(NAME);
    // SAFETY: as above.
    unsafe { std::env::remove_var("GREENLET_TRACE_PARKS") };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(CHILD_OK),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dump_on_signal_prints_it_to_stderr() {
    const NAME: &str = "dump_on_signal_prints_it_to_stderr";
    if is_child(NAME) {
        greenlet::dump::on_signal(libc::SIGUSR2).unwrap();
        let g = Builder::new()
            .name("signalled")
            .spawn(|| greenlet::sleep(Duration::from_secs(60)))
            .unwrap();
        greenlet::yield_now();
        // Wait until the dump thread listens, then signal ourselves.
        let start = Instant::now();
        while greenlet::__private::signal_waiters(libc::SIGUSR2) == 0 {
            assert!(
                start.elapsed() < support::FOREVER,
                "the dump thread never listened"
            );
            std::thread::yield_now();
        }
        // SAFETY: kill(2) on our own pid.
        unsafe { libc::kill(libc::getpid(), libc::SIGUSR2) };
        // The dump thread asks this hub to describe itself: let the hub run.
        greenlet::sleep(Duration::from_millis(300));
        g.kill();
        println!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("greenlet dump:"), "{stderr}");
    assert!(stderr.contains("greenlet 'signalled'"), "{stderr}");
    assert!(stderr.contains("parked on sleep"), "{stderr}");
}
