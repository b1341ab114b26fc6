//! Green subprocesses: many children waited for at once on one hub, a killed child's
//! status, `wait_timeout`, a waiter killed or timed out, dropped children, and no
//! zombie left on any of these paths (checked in `/proc`).

mod support;

use std::cell::RefCell;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenlet::process::{Command, Stdio};
use support::procs::{self, Proc};
use support::{SLACK, ms};

/// Reaping by the background reaper is on another thread: it gets this long.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

fn sleeper(secs: &str) -> Command {
    let mut c = Command::new("sleep");
    c.arg(secs);
    c
}

#[test]
fn fifty_children_at_once_on_one_hub() {
    let start = Instant::now();
    let greenlets: Vec<_> = (0..50)
        .map(|i| {
            greenlet::spawn(move || {
                let mut child = Command::new("sh")
                    .args(["-c", "sleep 0.2; echo $0", &i.to_string()])
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                let proc = Proc::of(child.id());
                if i % 2 == 0 {
                    // Half wait on the exit first (the line waits in the pipe)...
                    let status = child.wait().unwrap();
                    let mut stdout = Vec::new();
                    child
                        .stdout
                        .take()
                        .unwrap()
                        .read_to_end(&mut stdout)
                        .unwrap();
                    (proc, status, stdout)
                } else {
                    // ...half read to the pipe's end first.
                    let out = child.wait_with_output().unwrap();
                    (proc, out.status, out.stdout)
                }
            })
        })
        .collect();
    let results = greenlet::joinall(greenlets);
    let took = start.elapsed();
    assert!(
        took >= ms(200),
        "all 50 done in {took:?}: before the 0.2 s sleep"
    );
    assert!(
        took < Duration::from_secs(2),
        "50 children of 0.2 s took {took:?}: waited one after another?"
    );
    for (i, r) in results.into_iter().enumerate() {
        let (proc, status, stdout) = r.unwrap();
        assert!(status.success(), "child {i}: {status:?}");
        assert_eq!(String::from_utf8(stdout).unwrap(), format!("{i}\n"));
        assert!(proc.is_gone(), "child {i} left behind: {:?}", proc.stat());
    }
}

#[test]
fn a_killed_child_reports_the_signal() {
    let mut child = sleeper("10").spawn().unwrap();
    let proc = Proc::of(child.id());
    assert_eq!(child.try_wait().unwrap(), None);
    child.kill().unwrap();
    let start = Instant::now();
    let status = child.wait().unwrap();
    support::assert_prompt(start);
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_eq!(status.code(), None);
    assert!(!status.success());
    assert!(proc.is_gone(), "reaped by wait: {:?}", proc.stat());
    // As std: the same status again, and kill of a reaped child is Ok.
    assert_eq!(child.wait().unwrap(), status);
    assert_eq!(child.try_wait().unwrap(), Some(status));
    child.kill().unwrap();
}

#[test]
fn exit_codes_and_spawn_errors() {
    let status = Command::new("sh").args(["-c", "exit 3"]).status().unwrap();
    assert_eq!(status.code(), Some(3));
    assert!(!status.success());
    assert!(Command::new("true").status().unwrap().success());
    let e = Command::new("/nonexistent/program").spawn().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn wait_timeout_times_out_then_sees_the_exit() {
    let mut child = sleeper("10").spawn().unwrap();
    let proc = Proc::of(child.id());
    let start = Instant::now();
    assert_eq!(child.wait_timeout(ms(100)).unwrap(), None);
    support::assert_took(start, ms(100));
    assert!(proc.is_alive(), "a timed-out wait leaves the child running");
    child.kill().unwrap();
    let start = Instant::now();
    let status = child.wait_timeout(Duration::from_secs(10)).unwrap();
    support::assert_prompt(start);
    assert_eq!(status.and_then(|s| s.signal()), Some(libc::SIGKILL));
    assert!(proc.is_gone());

    // A child that exits by itself ends the wait when it exits, not at the timeout.
    let mut child = Command::new("sh")
        .args(["-c", "sleep 0.1; exit 4"])
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = child.wait_timeout(Duration::from_secs(10)).unwrap();
    support::assert_took(start, ms(100));
    assert_eq!(status.and_then(|s| s.code()), Some(4));
}

#[test]
fn the_hub_runs_while_the_root_waits() {
    let ticks = Rc::new(RefCell::new(0u32));
    let ticker = {
        let ticks = ticks.clone();
        greenlet::spawn(move || {
            loop {
                greenlet::sleep(ms(10));
                *ticks.borrow_mut() += 1;
            }
        })
    };
    let status = sleeper("0.3").status().unwrap();
    assert!(status.success());
    assert!(
        *ticks.borrow() >= 5,
        "only {} ticks in 0.3 s",
        ticks.borrow()
    );
    ticker.kill();
}

#[test]
fn a_greenlet_killed_while_waiting_leaves_the_child_running() {
    let child = Rc::new(RefCell::new(sleeper("10").spawn().unwrap()));
    let proc = Proc::of(child.borrow().id());
    let waiter = {
        let child = child.clone();
        greenlet::spawn(move || child.borrow_mut().wait())
    };
    greenlet::yield_now(); // The waiter runs until it parks on the pidfd.
    assert!(waiter.is_started() && !waiter.is_finished());
    waiter.kill();
    assert!(waiter.join().unwrap_err().is_killed());
    // As std leaves it: running, not reaped, and waitable again.
    assert!(proc.is_alive(), "{:?}", proc.stat());
    let mut child = child.borrow_mut();
    assert_eq!(child.try_wait().unwrap(), None);
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(proc.is_gone());
}

#[test]
fn a_timed_out_wait_leaves_the_child_running() {
    let mut child = Command::new("sh")
        .args(["-c", "sleep 0.3; exit 7"])
        .spawn()
        .unwrap();
    let proc = Proc::of(child.id());
    let start = Instant::now();
    assert!(greenlet::with_timeout(ms(50), || child.wait()).is_err());
    support::assert_took(start, ms(50));
    assert!(proc.is_alive());
    assert_eq!(child.wait().unwrap().code(), Some(7));
    assert!(proc.is_gone());
}

#[test]
fn a_dropped_child_runs_on_and_is_reaped_when_it_exits() {
    let child = sleeper("0.3").spawn().unwrap();
    let proc = Proc::of(child.id());
    drop(child);
    assert!(proc.is_alive(), "std leaves a dropped child running");
    // It exits after 0.3 s; std would leave a zombie, the reaper reaps it.
    assert!(
        proc.gone_within(REAP_TIMEOUT),
        "a zombie left behind: {:?}",
        proc.stat()
    );
}

#[test]
fn kill_on_drop_kills_and_reaps() {
    let child = sleeper("10").kill_on_drop(true).spawn().unwrap();
    let proc = Proc::of(child.id());
    let start = Instant::now();
    drop(child);
    assert!(proc.gone_within(REAP_TIMEOUT), "{:?}", proc.stat());
    assert!(
        start.elapsed() < SLACK,
        "waited for the child instead of killing it"
    );
}

#[test]
fn killing_a_waiter_that_owns_a_kill_on_drop_child_ends_the_child() {
    let mut cmd = sleeper("10");
    cmd.kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let proc = Proc::of(child.id());
    let waiter = greenlet::spawn(move || child.wait());
    greenlet::yield_now();
    assert!(waiter.is_started() && !waiter.is_finished());
    waiter.kill(); // Unwinds out of wait; the Child is dropped on the way.
    assert!(proc.gone_within(REAP_TIMEOUT), "{:?}", proc.stat());
}

#[test]
fn a_timed_out_output_kills_its_helper_and_its_kill_on_drop_child() {
    let mut child = Command::new("sh")
        .args(["-c", "echo started; exec sleep 10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let proc = Proc::of(child.id());
    let mut first = [0u8; 8];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    assert_eq!(&first, b"started\n");
    let start = Instant::now();
    assert!(greenlet::with_timeout(ms(100), move || child.wait_with_output()).is_err());
    support::assert_took(start, ms(100));
    assert!(proc.gone_within(REAP_TIMEOUT), "{:?}", proc.stat());
    // The greenlet that read stderr was killed with the caller, not left reading.
    assert!(
        greenlet::wait_timeout(Duration::from_secs(2)),
        "a greenlet is left"
    );
    assert_eq!(greenlet::hub_stats().live, 0);
}

#[test]
fn no_sigchld_handler_and_other_children_are_left_alone() {
    // A child spawned with std, behind the crate's back.
    let mut theirs = std::process::Command::new("sh")
        .args(["-c", "sleep 0.3; exit 5"])
        .spawn()
        .unwrap();
    // Ours: waited for, dropped running (the reaper starts), killed on drop.
    Command::new("true").status().unwrap();
    drop(sleeper("0.1").spawn().unwrap());
    drop(sleeper("10").kill_on_drop(true).spawn().unwrap());
    assert!(
        !procs::catches_sigchld(),
        "the crate installed a SIGCHLD handler"
    );
    // std still gets its own child's status: nobody reaped it.
    assert_eq!(theirs.wait().unwrap().code(), Some(5));
}

#[test]
fn with_sigchld_ignored_waits_report_echild_as_std() {
    // The kernel reaps children itself then; a wait must say so, not hang.
    const NAME: &str = "with_sigchld_ignored_waits_report_echild_as_std";
    if support::child::is_child(NAME) {
        // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
        for script in ["exit 0", "sleep 0.1"] {
            let mut child = Command::new("sh").args(["-c", script]).spawn().unwrap();
            let e = child.wait().unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ECHILD), "{script}: {e}");
            drop(child); // Nothing to reap, nothing handed to the reaper.
        }
        println!("{}", support::child::CHILD_OK);
        return;
    }
    let out = support::child::run_child(NAME);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(support::child::CHILD_OK),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_child_and_its_pipes_may_move_to_another_thread() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<greenlet::process::Child>();
    send_sync::<greenlet::process::ChildStdin>();
    send_sync::<greenlet::process::ChildStdout>();
    send_sync::<greenlet::process::ChildStderr>();
    let mut child = Command::new("sh")
        .args(["-c", "sleep 0.1; echo moved"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let status = std::thread::spawn(move || {
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_to_string(&mut line)
            .unwrap();
        (child.wait().unwrap(), line)
    })
    .join()
    .unwrap();
    assert!(status.0.success());
    assert_eq!(status.1, "moved\n");
}

#[test]
fn a_thread_that_exits_with_a_greenlet_waiting_on_a_child_leaves_no_zombie() {
    // The hub's teardown unwinds the waiter; the Child's drop runs then.
    let procs = std::thread::spawn(|| {
        let killed = sleeper("10").kill_on_drop(true).spawn().unwrap();
        let running = sleeper("0.2").spawn().unwrap();
        let procs = (Proc::of(killed.id()), Proc::of(running.id()));
        for mut child in [killed, running] {
            greenlet::spawn(move || child.wait());
        }
        greenlet::yield_now(); // Both wait on their pidfds now.
        procs
    })
    .join()
    .unwrap();
    assert!(procs.0.gone_within(REAP_TIMEOUT), "{:?}", procs.0.stat());
    assert!(procs.1.gone_within(REAP_TIMEOUT), "{:?}", procs.1.stat());
}
