//! The "would block forever" report covers the sync primitives and queues, and
//! never fires for a wait another thread will end.
//!
//! A wait on a primitive that no second thread has touched holds no `RemoteGuard`,
//! and the hub reports it only when the process has no other thread (see
//! `arch/sync.md`). libtest always keeps a second thread, so each scenario runs in
//! a child process (this binary re-run with `--exact NAME`) that forks: the forked
//! process has one thread, like a plain `fn main`.

mod support;

use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::queue::Queue;
use greenlet::sync::{Event, Mutex, Semaphore};

const CHILD: &str = "GREENLET_SYNC_DEADLOCK_CHILD";

/// In the child: runs `scenario` in a single-threaded forked process and exits with
/// its status (101 if it panicked). In the parent: returns false.
fn child(name: &str, scenario: fn()) -> bool {
    if std::env::var(CHILD).as_deref() != Ok(name) {
        return false;
    }
    // SAFETY: the only other thread of this process is libtest's main thread, which
    // blocks in a channel receive and holds no lock the forked process needs.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let r = std::panic::catch_unwind(scenario);
        if r.is_ok() {
            eprintln!("scenario returned");
        }
        // SAFETY: ends the forked process at once, without running libtest's code.
        unsafe { libc::_exit(if r.is_ok() { 0 } else { 101 }) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid out-pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128
    };
    std::process::exit(code);
}

/// Runs the test `name` as a child; returns its exit code and stderr.
fn run_child(name: &str) -> (i32, String) {
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = c.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(c.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        if start.elapsed() > support::late(Duration::from_secs(30)) {
            c.kill().unwrap();
            panic!("child {name} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn assert_deadlock(name: &str, reasons: &[&str]) {
    let (code, err) = run_child(name);
    assert_eq!(code, 101, "expected a deadlock panic:\n{err}");
    assert!(err.contains("deadlock"), "{err}");
    for r in reasons {
        assert!(err.contains(r), "report lacks {r:?}:\n{err}");
    }
}

#[test]
fn deadlock_on_mutex_is_reported() {
    if child("deadlock_on_mutex_is_reported", || {
        let m = Rc::new(Mutex::new(()));
        let _held = m.lock();
        let m2 = m.clone();
        let g = greenlet::Builder::new()
            .name("locker")
            .spawn(move || drop(m2.lock()))
            .unwrap();
        let _ = g.join();
    }) {
        return;
    }
    assert_deadlock(
        "deadlock_on_mutex_is_reported",
        &["'locker'", "Mutex::lock", "join"],
    );
}

#[test]
fn deadlock_on_semaphore_is_reported() {
    if child("deadlock_on_semaphore_is_reported", || {
        Semaphore::new(0).acquire().forget();
    }) {
        return;
    }
    assert_deadlock("deadlock_on_semaphore_is_reported", &["Semaphore::acquire"]);
}

#[test]
fn deadlock_on_queue_and_event_is_reported() {
    if child("deadlock_on_queue_and_event_is_reported", || {
        let q = Rc::new(Queue::<u32>::new());
        let g = greenlet::Builder::new()
            .name("getter")
            .spawn(move || q.get())
            .unwrap();
        greenlet::yield_now();
        Event::new().wait();
        let _ = g.join();
    }) {
        return;
    }
    assert_deadlock(
        "deadlock_on_queue_and_event_is_reported",
        &["'getter'", "Queue::get", "Event::wait"],
    );
}

/// The same shape as a deadlock, but a thread holds the event and sets it later
/// without having touched it before: no report. It sets only once the hub sleeps in
/// its poll, that is, once the deadlock check has looked at the wait and let it be.
#[test]
fn wait_ended_by_a_later_thread_is_not_reported() {
    if child("wait_ended_by_a_later_thread_is_not_reported", || {
        let ev = Arc::new(Event::new());
        let e = ev.clone();
        let hub = support::parked::HubProbe::here();
        let t = std::thread::spawn(move || hub.wake_once_parked(|| e.set()));
        ev.wait();
        t.join().unwrap();
    }) {
        return;
    }
    let (code, err) = run_child("wait_ended_by_a_later_thread_is_not_reported");
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("deadlock"), "{err}");
}
