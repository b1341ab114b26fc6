//! The blocking-hub monitor: a greenlet that does not give way is reported once, with
//! its name and spawn site, within twice the threshold; sleeping, IO and frequent
//! yields are never reported; a std `Mutex` wait that blocks the hub is. Each
//! scenario runs in a child process: the monitor watches every hub of its process.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use greenlet::Builder;
use greenlet::monitor::BlockReport;
use support::child::{CHILD_OK, is_child, run_child};

const THRESHOLD: Duration = Duration::from_millis(100);

/// Starts the monitor and collects its reports (with when each came).
fn collect() -> Arc<Mutex<Vec<(Instant, BlockReport)>>> {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let r = reports.clone();
    greenlet::monitor::start(THRESHOLD);
    greenlet::monitor::on_block(move |b| r.lock().unwrap().push((Instant::now(), b.clone())));
    reports
}

/// Busy for `d` without giving way: the thread blocks in a futex wait (std's
/// channel, with its sender alive), which keeps the CPU free and which no hook of
/// the `monkey` feature reaches (an OS sleep would park the greenlet there).
fn hold_the_hub(d: Duration) {
    let (_alive, never) = std::sync::mpsc::channel::<()>();
    let t = Instant::now();
    while t.elapsed() < d {
        let _ = never.recv_timeout(d.saturating_sub(t.elapsed()));
    }
}

fn child_ok(name: &str) -> String {
    let out = run_child(name);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && stdout.contains(CHILD_OK),
        "child {name} failed:\n{stdout}\n{stderr}"
    );
    stderr
}

#[test]
fn a_greenlet_that_does_not_give_way_is_reported_once() {
    const NAME: &str = "a_greenlet_that_does_not_give_way_is_reported_once";
    if is_child(NAME) {
        let reports = collect();
        let started = Arc::new(Mutex::new(None));
        let s = started.clone();
        let spin = move || {
            *s.lock().unwrap() = Some(Instant::now());
            hold_the_hub(Duration::from_millis(300));
        };
        let spinner = Builder::new().name("spinner").spawn(spin).unwrap();
        let line = line!() - 1;
        spinner.join().unwrap();
        // The monitor samples every quarter threshold: give it time to see the end.
        greenlet::sleep(THRESHOLD);
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "once per episode: {reports:?}");
        let (at, r) = &reports[0];
        assert_eq!(r.name.as_deref(), Some("spinner"), "{r}");
        assert!(r.answered && r.greenlet.is_some(), "{r}");
        let site = r.spawned_at.expect("a spawn site");
        assert_eq!((site.file(), site.line()), (file!(), line), "{r}");
        let began = started.lock().unwrap().expect("it ran");
        let late = at.duration_since(began);
        assert!(late >= THRESHOLD, "reported before the threshold: {late:?}");
        assert!(
            late < THRESHOLD * 2,
            "reported after twice the threshold: {late:?}"
        );
        assert!(
            r.blocked_for >= THRESHOLD && r.blocked_for < THRESHOLD * 2,
            "{r}"
        );
        println!("{CHILD_OK}");
        return;
    }
    let stderr = child_ok(NAME);
    // The default report, on stderr.
    assert!(
        stderr.contains("greenlet monitor:") && stderr.contains("greenlet 'spinner'"),
        "{stderr}"
    );
}

#[test]
fn sleeping_io_and_frequent_yields_are_not_reported() {
    const NAME: &str = "sleeping_io_and_frequent_yields_are_not_reported";
    if is_child(NAME) {
        let reports = collect();
        let start = Instant::now();
        // A sleeper, an IO waiter and a greenlet that works in 1 ms slices.
        let sleeper = greenlet::spawn(|| greenlet::sleep(Duration::from_millis(1000)));
        let (a, b) = greenlet::os::unix::net::UnixStream::pair().unwrap();
        let reader = greenlet::spawn(move || {
            use std::io::Read;
            let mut buf = [0; 1];
            (&a).read(&mut buf).unwrap()
        });
        let worker = greenlet::spawn(move || {
            while start.elapsed() < Duration::from_millis(1000) {
                let t = Instant::now();
                while t.elapsed() < Duration::from_millis(1) {
                    std::hint::spin_loop();
                }
                greenlet::yield_now();
            }
        });
        worker.join().unwrap();
        sleeper.join().unwrap();
        use std::io::Write;
        (&b).write_all(b"x").unwrap();
        assert_eq!(reader.join().unwrap(), 1);
        greenlet::sleep(THRESHOLD);
        assert!(
            reports.lock().unwrap().is_empty(),
            "{:?}",
            reports.lock().unwrap()
        );
        println!("{CHILD_OK}");
        return;
    }
    let stderr = child_ok(NAME);
    assert!(!stderr.contains("greenlet monitor:"), "{stderr}");
}

#[test]
fn a_std_mutex_wait_that_blocks_the_hub_is_reported() {
    const NAME: &str = "a_std_mutex_wait_that_blocks_the_hub_is_reported";
    if is_child(NAME) {
        let reports = collect();
        let lock = Arc::new(Mutex::new(()));
        // Another thread holds the lock for a while; meanwhile the hub is stuck in the
        // std lock, inside the greenlet.
        let (tx, rx) = std::sync::mpsc::channel();
        let l = lock.clone();
        let t = std::thread::spawn(move || {
            let held = l.lock().unwrap();
            tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(400));
            drop(held);
        });
        rx.recv().unwrap();
        let waiter = Builder::new()
            .name("std-mutex-waiter")
            .spawn(move || drop(lock.lock().unwrap()))
            .unwrap();
        waiter.join().unwrap();
        t.join().unwrap();
        greenlet::sleep(THRESHOLD);
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].1.name.as_deref(), Some("std-mutex-waiter"));
        println!("{CHILD_OK}");
        return;
    }
    child_ok(NAME);
}

#[test]
fn greenlet_monitor_in_the_environment_starts_it() {
    const NAME: &str = "greenlet_monitor_in_the_environment_starts_it";
    if is_child(NAME) {
        let g = Builder::new()
            .name("env-spinner")
            .spawn(|| hold_the_hub(Duration::from_millis(300)))
            .unwrap();
        g.join().unwrap();
        greenlet::sleep(THRESHOLD);
        println!("{CHILD_OK}");
        return;
    }
    // SAFETY: only this test sets it; the child inherits it.
    unsafe { std::env::set_var("GREENLET_MONITOR", "100ms") };
    let stderr = child_ok(NAME);
    // SAFETY: as above.
    unsafe { std::env::remove_var("GREENLET_MONITOR") };
    assert!(stderr.contains("greenlet 'env-spinner'"), "{stderr}");
}
