//! `greenlet::signal`: waits, handlers and listeners woken by real signals sent with
//! `kill(2)` from another thread, on one hub and on several.
//!
//! Every test uses a signal of its own (dispositions are process-wide and the tests
//! of this binary run in parallel), and sends it only while the signal is caught:
//! a test that holds a `Listener` while it sends cannot kill the binary even if the
//! code under test is broken. Cross-thread sends wait until the waiters are
//! registered (`__private::signal_waiters`) and, where it matters, until the hub is
//! asleep in its poll: never a sleep to order events.

mod support;

use std::cell::Cell;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use greenlet::signal::{self, SIGUSR1, SIGUSR2};
use greenlet::sync::Event;
use support::child::{is_child, run_child};
use support::parked::{HubProbe, PARK_TIMEOUT};
use support::{FOREVER, assert_took, ms};

/// Sends `sig` to the whole process (the kernel picks the thread).
fn kill(sig: i32) {
    // SAFETY: kill has no memory preconditions; the signal is caught by the test.
    assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0, "kill failed");
}

/// Sends `sig` to the calling thread: its handler has run when this returns.
fn raise(sig: i32) {
    // SAFETY: as for `kill`.
    assert_eq!(unsafe { libc::raise(sig) }, 0, "raise failed");
}

/// The handler address of `sig`'s disposition now (`SIG_DFL`, `SIG_IGN` or a handler).
fn disposition(sig: i32) -> libc::sighandler_t {
    // SAFETY: a null new action only reads the current one into a zeroed struct.
    unsafe {
        let mut cur: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(sig, std::ptr::null(), &mut cur), 0);
        cur.sa_sigaction
    }
}

/// Waits until `n` contexts wait for `sig` (and, with a probe, that hub is asleep in
/// its poll); `Err` with a message after `PARK_TIMEOUT`.
fn until_waiting(sig: i32, n: usize, hub: Option<HubProbe>) -> Result<(), String> {
    let start = Instant::now();
    while greenlet::__private::signal_waiters(sig) < n {
        if start.elapsed() > PARK_TIMEOUT {
            return Err(format!(
                "only {} of {n} waiters for signal {sig} registered after {PARK_TIMEOUT:?}",
                greenlet::__private::signal_waiters(sig)
            ));
        }
        thread::yield_now();
    }
    match hub {
        Some(hub) => hub.wait_parked(),
        None => Ok(()),
    }
}

/// Waits until `n` contexts wait for `sig` (and the probe's hub is parked), then sets
/// `sent` and sends `sig` once. Sends anyway if they never do, so that the waiters do
/// not hang the test, and then panics with the reason. The caller keeps `sig` caught.
fn send_once_waiting(sig: i32, n: usize, hub: Option<HubProbe>, sent: &AtomicBool) {
    let waiting = until_waiting(sig, n, hub);
    sent.store(true, Ordering::SeqCst);
    kill(sig);
    if let Err(e) = waiting {
        panic!("{e}");
    }
}

/// Runs `f`, then joins `sender` whatever `f` did, so that the signal it may still
/// send finds the caller's `Listener` alive (a failing test must not send a signal
/// nobody catches: that would kill the whole binary). Then returns `f`'s value or
/// resumes its panic; a panic of the sender's is reported after `f`'s.
fn joined<R, S>(sender: thread::JoinHandle<S>, f: impl FnOnce() -> R) -> (R, S) {
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    let s = sender.join();
    match (r, s) {
        (Ok(r), Ok(s)) => (r, s),
        (Err(p), _) | (Ok(_), Err(p)) => panic::resume_unwind(p),
    }
}

#[test]
fn wait_in_a_greenlet_returns_when_the_signal_arrives() {
    let _caught = signal::listen(SIGUSR1).unwrap();
    let sent = Arc::new(AtomicBool::new(false));
    let g = {
        let sent = sent.clone();
        greenlet::spawn(move || {
            signal::wait(SIGUSR1);
            sent.load(Ordering::SeqCst)
        })
    };
    let hub = HubProbe::here();
    let sender = {
        let sent = sent.clone();
        thread::spawn(move || send_once_waiting(SIGUSR1, 1, Some(hub), &sent))
    };
    let (after_send, ()) = joined(sender, || g.join().unwrap());
    assert!(
        after_send,
        "signal::wait returned before the signal was sent"
    );
    assert_eq!(greenlet::__private::signal_waiters(SIGUSR1), 0);
}

#[test]
fn waiters_on_several_hubs_all_wake() {
    const HUBS: usize = 3;
    const PER_HUB: usize = 3; // two greenlets and the thread's own stack
    let _caught = signal::listen(SIGUSR2).unwrap();
    let sent = Arc::new(AtomicBool::new(false));
    let hubs: Vec<_> = (0..HUBS)
        .map(|_| {
            let sent = sent.clone();
            thread::spawn(move || {
                let me = thread::current().id();
                let gs: Vec<_> = (0..PER_HUB - 1)
                    .map(|_| {
                        let sent = sent.clone();
                        greenlet::spawn(move || {
                            signal::wait(SIGUSR2);
                            (sent.load(Ordering::SeqCst), thread::current().id())
                        })
                    })
                    .collect();
                // Lets both greenlets register before the root does.
                greenlet::yield_now();
                signal::wait(SIGUSR2);
                let mut woke = vec![sent.load(Ordering::SeqCst)];
                for g in gs {
                    let (after_send, on) = g.join().unwrap();
                    assert_eq!(on, me, "a greenlet woke on another thread");
                    woke.push(after_send);
                }
                woke
            })
        })
        .collect();
    send_once_waiting(SIGUSR2, HUBS * PER_HUB, None, &sent);
    for h in hubs {
        let woke = h.join().unwrap();
        assert_eq!(woke.len(), PER_HUB);
        assert!(
            woke.iter().all(|&w| w),
            "a waiter returned before the signal was sent: {woke:?}"
        );
    }
    assert_eq!(greenlet::__private::signal_waiters(SIGUSR2), 0);
}

#[test]
fn a_handler_runs_once_per_delivery_in_a_greenlet_that_may_block() {
    let sig = signal::sigrtmin() + 1;
    let _caught = signal::listen(sig).unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let hub_thread = thread::current().id();
    let h = {
        let runs = runs.clone();
        signal::handler(sig, move || {
            assert!(
                greenlet::current().is_greenlet(),
                "the handler runs in a greenlet"
            );
            assert_eq!(thread::current().id(), hub_thread, "on the installer's hub");
            greenlet::sleep(ms(2)); // a handler may block
            runs.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap()
    };
    assert_eq!(h.signum(), sig);
    let done = Arc::new(Event::new());
    let hub = HubProbe::here();
    let sender = {
        let (runs, done) = (runs.clone(), done.clone());
        thread::spawn(move || {
            let checked = (|| {
                // Real-time signals queue: three sends are three deliveries.
                for (sends, total) in [(3, 3), (1, 4)] {
                    until_waiting(sig, 1, Some(hub))?;
                    for _ in 0..sends {
                        kill(sig);
                    }
                    let start = Instant::now();
                    while runs.load(Ordering::SeqCst) < total {
                        if start.elapsed() > PARK_TIMEOUT {
                            return Err(format!(
                                "{} runs of {total} after {PARK_TIMEOUT:?}",
                                runs.load(Ordering::SeqCst)
                            ));
                        }
                        thread::yield_now();
                    }
                    // Parked with no timer: no run is pending or sleeping, so the
                    // count is final for these deliveries.
                    hub.wait_parked()?;
                    let now = runs.load(Ordering::SeqCst);
                    if now != total {
                        return Err(format!("{now} runs for {total} deliveries"));
                    }
                }
                Ok(())
            })();
            done.set();
            checked
        })
    };
    // No timer on this hub while the sender checks that it is parked.
    let ((), checked) = joined(sender, || done.wait());
    drop(h);
    checked.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 4);
}

#[test]
fn a_root_whose_only_wait_is_a_signal_is_not_a_deadlock() {
    let sig = signal::sigrtmin() + 2;
    let _caught = signal::listen(sig).unwrap();
    let sent = Arc::new(AtomicBool::new(false));
    let hub = HubProbe::here();
    let sender = {
        let sent = sent.clone();
        // Parked means the hub has been through its deadlock check and sleeps.
        thread::spawn(move || send_once_waiting(sig, 1, Some(hub), &sent))
    };
    // Nothing else on this hub: no greenlet, timer, IO or other wait.
    joined(sender, || signal::wait(sig));
    assert!(
        sent.load(Ordering::SeqCst),
        "returned before the signal was sent"
    );
}

#[test]
fn a_timeout_or_a_kill_ends_the_wait_and_leaves_nothing_behind() {
    let sig = signal::sigrtmin() + 3;
    assert_eq!(disposition(sig), libc::SIG_DFL);
    let start = Instant::now();
    assert!(!signal::wait_timeout(sig, ms(20)));
    assert_took(start, ms(20));
    assert_eq!(greenlet::__private::signal_waiters(sig), 0);
    assert_eq!(
        disposition(sig),
        libc::SIG_DFL,
        "the default action is back"
    );

    let g = greenlet::spawn(move || signal::wait(sig));
    greenlet::yield_now(); // g runs, registers and parks
    assert_eq!(greenlet::__private::signal_waiters(sig), 1);
    assert_ne!(disposition(sig), libc::SIG_DFL, "caught while g waits");
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
    assert_eq!(greenlet::__private::signal_waiters(sig), 0);
    assert_eq!(disposition(sig), libc::SIG_DFL);

    let r = greenlet::with_timeout(ms(10), || signal::wait(sig));
    assert!(r.is_err());
    assert_eq!(greenlet::__private::signal_waiters(sig), 0);
    assert_eq!(disposition(sig), libc::SIG_DFL);
}

#[test]
fn a_wait_sees_only_deliveries_after_it_began() {
    let sig = signal::sigrtmin() + 5;
    let mut l = signal::listen(sig).unwrap();
    raise(sig); // handled before raise returns
    assert!(
        !signal::wait_timeout(sig, ms(30)),
        "an earlier delivery ended a wait"
    );
    // The listener counts from `listen`, one delivery per take, waiting or not.
    raise(sig);
    raise(sig);
    assert_eq!(l.try_recv(), Some(sig));
    assert_eq!(l.try_recv(), Some(sig));
    assert_eq!(l.try_recv(), Some(sig));
    assert_eq!(l.try_recv(), None);
    assert_eq!(l.recv_timeout(ms(10)), None);
    // A listener is `Send`: its deliveries can be taken on another thread's hub.
    raise(sig);
    let t = thread::spawn(move || (l.recv(), l.try_recv()));
    assert_eq!(t.join().unwrap(), (sig, None));
}

#[test]
fn a_listener_of_several_signals_says_which_came() {
    let (a, b) = (signal::sigrtmin() + 6, signal::sigrtmin() + 7);
    let mut l = signal::listen_any(&[a, b, a]).unwrap();
    assert_eq!(l.signals().collect::<Vec<_>>(), [a, b]);
    // Pending deliveries are taken in the listener's order.
    raise(b);
    raise(a);
    assert_eq!(l.try_recv(), Some(a));
    assert_eq!(l.try_recv(), Some(b));
    assert_eq!(l.try_recv(), None);

    // A greenlet parked on both is counted by both, and woken by either.
    let keep = signal::listen_any(&[a, b]).unwrap(); // caught even if `l` goes early
    let sent = Arc::new(AtomicBool::new(false));
    let g = {
        let sent = sent.clone();
        greenlet::spawn(move || (l.recv(), sent.load(Ordering::SeqCst)))
    };
    let hub = HubProbe::here();
    let sender = {
        let sent = sent.clone();
        thread::spawn(move || {
            let both = until_waiting(a, 1, Some(hub)).and_then(|()| {
                match greenlet::__private::signal_waiters(b) {
                    1 => Ok(()),
                    n => Err(format!("waiting for {a}, but {n} waiters for {b}")),
                }
            });
            sent.store(true, Ordering::SeqCst);
            kill(b);
            both
        })
    };
    let (got, checked) = joined(sender, || g.join().unwrap());
    checked.unwrap();
    assert_eq!(got, (b, true));
    assert_eq!(greenlet::__private::signal_waiters(a), 0);
    assert_eq!(greenlet::__private::signal_waiters(b), 0);
    drop(keep);

    // A failed listen_any keeps nothing caught.
    assert_eq!(disposition(a), libc::SIG_DFL);
    let e = signal::listen_any(&[a, libc::SIGKILL]).unwrap_err();
    assert!(e.to_string().contains("SIGKILL cannot be caught"), "{e}");
    assert_eq!(disposition(a), libc::SIG_DFL);
    let e = signal::listen_any(&[]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn dropping_a_handler_stops_it_and_restores_the_previous_disposition() {
    let sig = signal::sigrtmin() + 4;
    // SAFETY: setting a signal to be ignored has no memory preconditions.
    unsafe { libc::signal(sig, libc::SIG_IGN) };
    let runs = Rc::new(Cell::new(0));
    let ran = Arc::new(Event::new());
    let handler = || {
        let (runs, ran) = (runs.clone(), ran.clone());
        signal::handler(sig, move || {
            runs.set(runs.get() + 1);
            ran.set();
        })
        .unwrap()
    };

    // The only listener: dropping it puts SIG_IGN back at once.
    let h = handler();
    assert_ne!(disposition(sig), libc::SIG_IGN);
    drop(h);
    assert_eq!(disposition(sig), libc::SIG_IGN);

    // With another listener, the signal stays caught until that one goes too.
    let h = handler();
    greenlet::yield_now(); // the handler's greenlet registers
    assert_eq!(greenlet::__private::signal_waiters(sig), 1);
    let mut other = signal::listen(sig).unwrap();
    raise(sig);
    // The wake comes from the reader thread.
    assert!(ran.wait_timeout(FOREVER), "the handler never ran");
    assert_eq!(runs.get(), 1);
    // It spawned the run, then waited again before the run went.
    assert_eq!(greenlet::__private::signal_waiters(sig), 1);
    h.cancel();
    greenlet::yield_now(); // the killed greenlet unwinds and leaves the list
    assert_eq!(greenlet::__private::signal_waiters(sig), 0);
    assert_ne!(disposition(sig), libc::SIG_IGN, "still caught for `other`");
    raise(sig);
    assert_eq!(other.try_recv(), Some(sig));
    assert_eq!(other.try_recv(), Some(sig));
    greenlet::yield_now();
    assert_eq!(runs.get(), 1, "a cancelled handler ran");
    drop(other);
    assert_eq!(disposition(sig), libc::SIG_IGN);
    raise(sig); // ignored, as before the handler
}

#[test]
fn a_handler_that_panics_is_reported_and_goes_on() {
    let sig = signal::sigrtmin() + 8;
    let runs = Rc::new(Cell::new(0));
    let second = Arc::new(Event::new());
    let h = {
        let (runs, second) = (runs.clone(), second.clone());
        signal::handler(sig, move || {
            runs.set(runs.get() + 1);
            if runs.get() == 1 {
                panic!("the first run fails");
            }
            second.set();
        })
        .unwrap()
    };
    raise(sig); // real-time: two raises are two deliveries
    raise(sig);
    assert!(second.wait_timeout(FOREVER), "the second run never came");
    assert_eq!(runs.get(), 2);
    drop(h);
}

#[test]
fn signals_that_cannot_be_caught_get_a_clear_error() {
    let cases: [(i32, &str); 11] = [
        (libc::SIGKILL, "SIGKILL cannot be caught"),
        (libc::SIGSTOP, "SIGSTOP cannot be caught"),
        (libc::SIGSEGV, "stack-overflow detection"),
        (libc::SIGBUS, "stack-overflow detection"),
        (libc::SIGILL, "synchronous fault"),
        (libc::SIGFPE, "synchronous fault"),
        (0, "not a signal number"),
        (-1, "not a signal number"),
        (65, "not a signal number"),
        (32, "reserved by the C library"),
        (33, "reserved by the C library"),
    ];
    for (sig, says) in cases {
        let e = signal::listen(sig).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "signal {sig}");
        assert!(e.to_string().contains(says), "signal {sig}: {e}");
        let e = signal::handler(sig, || {}).unwrap_err();
        assert!(e.to_string().contains(says), "signal {sig}: {e}");
    }
    let p = panic::catch_unwind(AssertUnwindSafe(|| signal::wait(libc::SIGKILL))).unwrap_err();
    let msg = p.downcast_ref::<String>().expect("a formatted message");
    assert!(msg.contains("SIGKILL cannot be caught"), "{msg}");
    let p = panic::catch_unwind(|| signal::wait_timeout(libc::SIGSEGV, ms(1))).unwrap_err();
    let msg = p.downcast_ref::<String>().expect("a formatted message");
    assert!(msg.contains("SIGSEGV is reserved"), "{msg}");
}

const DEFAULT_BACK: &str = "the_default_action_is_back_once_nobody_listens";

/// In a child: SIGUSR1 kills it once nothing of the crate listens any more.
#[test]
fn the_default_action_is_back_once_nobody_listens() {
    if is_child(DEFAULT_BACK) {
        assert!(!signal::wait_timeout(SIGUSR1, ms(1)));
        let h = signal::handler(SIGUSR1, || {}).unwrap();
        let mut l = signal::listen(SIGUSR1).unwrap();
        raise(SIGUSR1);
        assert_eq!(l.try_recv(), Some(SIGUSR1), "caught while listened to");
        drop(l);
        drop(h);
        println!("RESTORED");
        raise(SIGUSR1);
        println!("SURVIVED");
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let out = run_child(DEFAULT_BACK);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("RESTORED"), "child stdout: {stdout}");
    assert!(!stdout.contains("SURVIVED"), "SIGUSR1 was still caught");
    assert_eq!(
        out.status.signal(),
        Some(SIGUSR1),
        "the child should die of SIGUSR1: {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
