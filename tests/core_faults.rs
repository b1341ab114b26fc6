//! Bad input and faults: panics in greenlets, waits that can never end, a greenlet
//! that joins or kills itself, blocking where blocking is impossible, a kill that
//! blocks while unwinding while another greenlet panics, and `sleep(Duration::MAX)`.
//!
//! Scenarios that panic the test thread on purpose, or whose stderr is asserted, run
//! in a child process: the test binary re-executes itself for that one test with
//! `GREENLET_CHILD=<test name>`, and the parent asserts on its exit status and stderr.

mod support;

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::process::Output;
use std::rc::Rc;
use std::time::{Duration, Instant};

use support::child::{CHILD_OK, is_child, run_child};
use support::parked::HubProbe;

use greenlet::{Builder, Greenlet};

// ---- child processes ----------------------------------------------------------------

/// libtest's exit code when a test failed (here: the scenario panicked).
const TEST_FAILED: i32 = 101;

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The child ran its scenario to the end without failing.
fn assert_child_ok(out: &Output) -> String {
    assert!(
        out.status.success() && stderr_of(out).contains(CHILD_OK),
        "the child scenario failed\n{}",
        show(out)
    );
    stderr_of(out)
}

/// The child's scenario panicked (a test failure, exit code 101): no abort, no signal.
fn assert_child_panicked(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(TEST_FAILED),
        "expected the scenario to panic\n{}",
        show(out)
    );
    assert!(
        !stderr_of(out).contains(CHILD_OK),
        "the scenario ran to its end instead of panicking\n{}",
        show(out)
    );
    stderr_of(out)
}

fn assert_contains(haystack: &str, needles: &[&str]) {
    for n in needles {
        assert!(
            haystack.contains(n),
            "expected {n:?} in:\n-----\n{haystack}\n-----"
        );
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<non-string panic payload>".to_string())
}

// ---- helpers ----------------------------------------------------------------------------

/// Sleeps in its `Drop`, so that whoever drops it blocks there.
struct SleepOnDrop {
    nap: Duration,
    log: Rc<RefCell<Vec<&'static str>>>,
    drops: Rc<Cell<u32>>,
}

impl Drop for SleepOnDrop {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        self.log.borrow_mut().push("drop starts");
        let t = Instant::now();
        greenlet::sleep(self.nap);
        assert!(t.elapsed() >= self.nap, "a sleep in Drop returned early");
        self.log.borrow_mut().push("drop ends");
    }
}

/// Counts its drops.
struct DropCount(Rc<Cell<u32>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn assert_not_early_nor_absurdly_late(elapsed: Duration, wanted: Duration) {
    assert!(elapsed >= wanted, "woke early: {elapsed:?} < {wanted:?}");
    assert!(
        elapsed < wanted + support::late(Duration::from_secs(5)),
        "woke absurdly late: {elapsed:?} for {wanted:?}"
    );
}

// ---- a panic in a greenlet ---------------------------------------------------------------

#[test]
fn panic_in_greenlet_is_contained_and_reported() {
    const NAME: &str = "panic_in_greenlet_is_contained_and_reported";
    if is_child(NAME) {
        let sibling_saw_panicking = Rc::new(Cell::new(None));
        let worker = Builder::new()
            .name("worker")
            .spawn(|| -> u32 {
                let n = std::hint::black_box(42);
                panic!("boom {n}");
            })
            .unwrap();
        let saw = sibling_saw_panicking.clone();
        // Spawned after the worker, so it runs after the worker has panicked (FIFO).
        let sibling = greenlet::spawn(move || {
            saw.set(Some(std::thread::panicking()));
            greenlet::yield_now();
            greenlet::sleep(Duration::from_millis(1));
            7
        });

        let err = worker
            .join()
            .expect_err("a panicking greenlet has no value");
        assert!(err.is_panic());
        assert!(!err.is_killed());
        assert_eq!(err.name(), Some("worker"));
        let shown = err.to_string();
        assert_contains(&shown, &["greenlet 'worker'", "panicked", "boom 42"]);
        let payload = err.into_panic();
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("boom 42")
        );

        // The hub and the other greenlets go on.
        assert_eq!(sibling.join().unwrap(), 7);
        assert_eq!(sibling_saw_panicking.get(), Some(false));
        assert!(!std::thread::panicking());
        let later = greenlet::spawn(|| {
            greenlet::yield_now();
            std::thread::panicking()
        });
        assert!(
            !later.join().unwrap(),
            "a later greenlet sees thread::panicking()"
        );
        assert_eq!(greenlet::hub_stats().live, 0);
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    let stderr = assert_child_ok(&out);
    // Reported like std reports a thread's panic, with the greenlet's name.
    assert_contains(
        &stderr,
        &["greenlet 'worker'", "panicked", "core_faults.rs", "boom 42"],
    );
    assert_eq!(
        stderr.matches("boom 42").count(),
        1,
        "reported once:\n{stderr}"
    );
}

#[test]
fn panic_payload_of_unnamed_greenlet_and_str_message() {
    // In-process: the report goes to libtest's captured output.
    let g = greenlet::spawn(|| -> u8 { panic!("plain str payload") });
    let id = g.id();
    let err = g.join().unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.name(), None);
    assert_eq!(err.id(), id);
    assert_contains(
        &err.to_string(),
        &[&format!("greenlet {id}"), "plain str payload"],
    );
    let p = err.into_panic();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"plain str payload"));
    assert!(!std::thread::panicking());
}

// ---- would block forever ------------------------------------------------------------------

#[test]
fn deadlock_is_reported_naming_parked_greenlets_and_reasons() {
    const NAME: &str = "deadlock_is_reported_naming_parked_greenlets_and_reasons";
    if is_child(NAME) {
        let inner = Builder::new()
            .name("inner")
            .spawn(|| greenlet::wake::park("a signal nobody sends"))
            .unwrap();
        let outer = Builder::new()
            .name("outer")
            .spawn(move || inner.join().is_ok())
            .unwrap();
        // fn-main-like code: waits for a greenlet that can never finish.
        let _ = outer.join();
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    let stderr = assert_child_panicked(&out);
    assert_contains(&stderr, &["deadlock"]);
    // Each parked greenlet is named on one line with what it waits for.
    for (name, reason) in [("'inner'", "a signal nobody sends"), ("'outer'", "join")] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&format!("greenlet {name}")) && l.contains(reason)),
            "no line names greenlet {name} waiting on {reason:?}:\n{stderr}"
        );
    }
}

#[test]
fn deadlock_plain_park_on_a_thread_without_greenlets() {
    const NAME: &str = "deadlock_plain_park_on_a_thread_without_greenlets";
    if is_child(NAME) {
        greenlet::wake::park("x marks the spot");
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    let stderr = assert_child_panicked(&out);
    assert_contains(&stderr, &["deadlock", "x marks the spot"]);
}

/// A thread wakes, once the hub sleeps in its poll (its deadlock check passed over
/// the wait), and returns when it woke; the park must return after that, and
/// promptly.
fn park_woken_by_a_thread_once_parked() {
    let w = greenlet::wake::waker();
    let guard = w.expect_remote();
    let hub = HubProbe::here();
    let t = std::thread::spawn(move || {
        hub.wake_once_parked(|| {
            let woke = Instant::now();
            w.wake();
            drop(guard);
            woke
        })
    });
    greenlet::wake::park("a std::thread's signal");
    let back = Instant::now();
    let woke = t.join().unwrap();
    assert!(back >= woke, "park returned before the wake");
    assert_not_early_nor_absurdly_late(back - woke, Duration::ZERO);
}

#[test]
fn remote_waker_with_guard_is_not_a_deadlock() {
    const NAME: &str = "remote_waker_with_guard_is_not_a_deadlock";
    if is_child(NAME) {
        // The thread's own stack waits for a std::thread.
        park_woken_by_a_thread_once_parked();

        // A greenlet waits for a std::thread while the root joins the greenlet.
        let g = Builder::new()
            .name("waits-for-thread")
            .spawn(park_woken_by_a_thread_once_parked)
            .unwrap();
        g.join().unwrap();
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    let stderr = assert_child_ok(&out);
    assert!(!stderr.contains("deadlock"), "{stderr}");
}

#[test]
fn remote_guard_dropped_without_a_wake_reports_deadlock() {
    // Once the only thread that could wake the waiter gives up its guard without
    // waking, nothing can ever wake it: that is a deadlock, and it must be reported
    // rather than hang.
    const NAME: &str = "remote_guard_dropped_without_a_wake_reports_deadlock";
    if is_child(NAME) {
        let w = greenlet::wake::waker();
        let guard = w.expect_remote();
        let hub = HubProbe::here();
        // Dropped while the hub sleeps in its poll: the drop itself must wake it to
        // re-check (at park time the guard still counted).
        let t = std::thread::spawn(move || hub.wake_once_parked(|| drop(guard)));
        greenlet::wake::park("a thread that gives up");
        t.join().unwrap();
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    let stderr = assert_child_panicked(&out);
    assert_contains(&stderr, &["deadlock", "a thread that gives up"]);
}

#[test]
fn deadlock_is_reported_despite_a_stale_remote_guard_of_a_dead_hub() {
    // A guard taken on a hub whose thread has exited must not count against the
    // hub that later reuses that hub's shared part.
    const NAME: &str = "deadlock_is_reported_despite_a_stale_remote_guard_of_a_dead_hub";
    if is_child(NAME) {
        let stale = std::thread::spawn(|| greenlet::wake::waker().expect_remote())
            .join()
            .unwrap();
        // This thread's hub is created after the other one was torn down.
        let g = greenlet::spawn(|| 1);
        assert_eq!(g.join().unwrap(), 1);
        drop(stale);
        greenlet::wake::park("nothing at all");
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    let stderr = assert_child_panicked(&out);
    assert_contains(&stderr, &["deadlock", "nothing at all"]);
}

#[test]
fn stale_remote_guard_of_a_dead_hub_does_not_cancel_a_live_one() {
    // The converse: dropping a dead hub's guard must not make a later hub believe that
    // no thread holds its waker, while one does and will wake it.
    const NAME: &str = "stale_remote_guard_of_a_dead_hub_does_not_cancel_a_live_one";
    const DELAY: Duration = Duration::from_millis(50);
    if is_child(NAME) {
        let (stale, stale_too) = std::thread::spawn(|| {
            let w = greenlet::wake::waker();
            (w.expect_remote(), w.expect_remote())
        })
        .join()
        .unwrap();
        let w = greenlet::wake::waker();
        let guard = w.expect_remote();
        let hub = HubProbe::here();
        // One stale guard goes before the wait starts, one while it is under way (the
        // hub asleep in its poll, where a miscounted drop would poke it to re-check).
        drop(stale);
        let start = Instant::now();
        let t = std::thread::spawn(move || {
            hub.wake_once_parked(|| drop(stale_too));
            // Not an ordering: the time a wrongly woken hub gets to report a deadlock
            // before the real wake comes. Nothing positive marks "it did not".
            std::thread::sleep(DELAY);
            w.wake();
            drop(guard);
        });
        greenlet::wake::park("a live thread's signal");
        assert_not_early_nor_absurdly_late(start.elapsed(), DELAY);
        t.join().unwrap();
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    let stderr = assert_child_ok(&out);
    assert!(!stderr.contains("deadlock"), "{stderr}");
}

#[test]
fn sleeping_greenlet_is_not_a_deadlock() {
    const NAP: Duration = Duration::from_millis(30);
    let start = Instant::now();
    let sleeper = Builder::new()
        .name("sleeper")
        .spawn(|| greenlet::sleep(NAP))
        .unwrap();
    sleeper.join().unwrap();
    assert_not_early_nor_absurdly_late(start.elapsed(), NAP);

    // A hopelessly parked greenlet next to a sleeping one: waiting for the sleeper
    // must still succeed; only waiting for the parked one could never end.
    let stuck = Builder::new()
        .name("stuck")
        .spawn(|| greenlet::wake::park("nothing"))
        .unwrap();
    let start = Instant::now();
    let sleeper = greenlet::spawn(|| {
        greenlet::sleep(NAP);
        5
    });
    assert_eq!(sleeper.join().unwrap(), 5);
    assert_not_early_nor_absurdly_late(start.elapsed(), NAP);
    assert!(stuck.is_started() && !stuck.is_finished());
    stuck.kill();
    assert!(stuck.join().unwrap_err().is_killed());
    assert_eq!(greenlet::hub_stats().live, 0);
}

// ---- a greenlet that joins or kills itself -------------------------------------------------

type Own<T> = Rc<RefCell<Option<Greenlet<T>>>>;

#[test]
fn greenlet_that_joins_itself_panics_clearly() {
    let me: Own<String> = Rc::new(RefCell::new(None));
    let caught = Rc::new(RefCell::new(None));
    let (me2, caught2) = (me.clone(), caught.clone());
    let g = greenlet::spawn(move || {
        let own = me2.borrow_mut().take().expect("handle filled after spawn");
        let r = panic::catch_unwind(AssertUnwindSafe(move || own.join()));
        let msg = panic_text(&*r.expect_err("joining itself must panic"));
        *caught2.borrow_mut() = Some(msg);
        "went on".to_string()
    });
    let id = g.id();
    *me.borrow_mut() = Some(g);
    // Runs until nothing is left to do; a self-join that deadlocked would leave the
    // greenlet parked and the message unset, never hang.
    greenlet::wait();
    let msg = caught.borrow_mut().take().expect("the self-join panicked");
    assert_contains(&msg, &["itself", &id.to_string()]);
    assert!(!msg.contains("deadlock"), "{msg}");
    assert_eq!(greenlet::hub_stats().live, 0);

    // Uncaught: the greenlet ends with that panic, seen by whoever joins it.
    let me: Own<()> = Rc::new(RefCell::new(None));
    let me2 = me.clone();
    let g = Builder::new()
        .name("narcissus")
        .spawn(move || me2.borrow().as_ref().expect("handle").wait())
        .unwrap();
    *me.borrow_mut() = Some(g);
    greenlet::wait();
    let g = me.borrow_mut().take().unwrap();
    assert!(g.is_finished());
    let err = g.join().unwrap_err();
    assert!(err.is_panic());
    let msg = panic_text(&*err.into_panic());
    assert_contains(&msg, &["itself", "narcissus"]);
}

#[test]
fn greenlet_that_kills_itself_panics_clearly() {
    let me: Own<()> = Rc::new(RefCell::new(None));
    let drops = Rc::new(Cell::new(0));
    let (me2, drops2) = (me.clone(), drops.clone());
    let g = Builder::new()
        .name("ouroboros")
        .spawn(move || {
            let _d = DropCount(drops2);
            greenlet::yield_now();
            me2.borrow().as_ref().expect("handle").kill();
        })
        .unwrap();
    *me.borrow_mut() = Some(g);
    greenlet::wait();
    let g = me.borrow_mut().take().unwrap();
    assert!(g.is_finished());
    assert_eq!(drops.get(), 1);
    let err = g.join().unwrap_err();
    assert!(err.is_panic(), "a self-kill is a panic, not a kill: {err}");
    let msg = panic_text(&*err.into_panic());
    assert_contains(&msg, &["itself", "ouroboros"]);
    assert!(!msg.contains("deadlock"), "{msg}");

    // kill_nowait on itself too.
    let me: Own<()> = Rc::new(RefCell::new(None));
    let me2 = me.clone();
    let g = greenlet::spawn(move || me2.borrow().as_ref().expect("handle").kill_nowait());
    *me.borrow_mut() = Some(g);
    greenlet::wait();
    let err = me.borrow_mut().take().unwrap().join().unwrap_err();
    assert!(err.is_panic());
    assert_contains(&panic_text(&*err.into_panic()), &["itself"]);
    assert_eq!(greenlet::hub_stats().live, 0);
}

// ---- blocking where blocking is impossible --------------------------------------------------

#[test]
fn blocking_in_a_drop_the_hub_runs_panics_clearly() {
    const NAME: &str = "blocking_in_a_drop_the_hub_runs_panics_clearly";
    if is_child(NAME) {
        let log = Rc::new(RefCell::new(Vec::new()));
        let drops = Rc::new(Cell::new(0));
        let (log2, drops2) = (log.clone(), drops.clone());
        // Detached: the hub drops its result when it reaps it, in its own machinery.
        drop(greenlet::spawn(move || SleepOnDrop {
            nap: Duration::from_millis(10),
            log: log2,
            drops: drops2,
        }));
        greenlet::wait();
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    let stderr = assert_child_panicked(&out);
    assert_contains(&stderr, &["cannot block", "hub's own machinery"]);
}

// ---- kill while unwinding blocks, and another greenlet panics meanwhile ---------------------

#[test]
fn kill_that_blocks_while_unwinding_survives_a_panic_elsewhere() {
    const NAME: &str = "kill_that_blocks_while_unwinding_survives_a_panic_elsewhere";
    const NAP: Duration = Duration::from_millis(10);
    if is_child(NAME) {
        let log = Rc::new(RefCell::new(Vec::new()));
        let drops = Rc::new(Cell::new(0));
        let (log_a, drops_a) = (log.clone(), drops.clone());
        let a = Builder::new()
            .name("a")
            .spawn(move || {
                let _d = SleepOnDrop {
                    nap: NAP,
                    log: log_a,
                    drops: drops_a,
                };
                greenlet::sleep(Duration::from_secs(3600));
            })
            .unwrap();
        greenlet::yield_now(); // a runs until it sleeps
        assert!(a.is_started() && !a.is_finished());
        let start = Instant::now();
        a.kill_nowait(); // a is queued to unwind...
        let log_b = log.clone();
        let b = Builder::new()
            .name("b")
            .spawn(move || {
                // ...and it is suspended in its Drop's sleep, mid-unwind, when b runs.
                log_b.borrow_mut().push("b panics");
                panic!("b fails while a unwinds");
            })
            .unwrap();
        let results = greenlet::joinall([a, b]);
        let elapsed = start.elapsed();
        let mut results = results.into_iter();
        let ra = results.next().unwrap();
        let rb = results.next().unwrap();
        assert!(ra.unwrap_err().is_killed());
        let eb = rb.unwrap_err();
        assert!(eb.is_panic());
        assert_eq!(
            panic_text(&*eb.into_panic()),
            "b fails while a unwinds".to_string()
        );
        assert_eq!(*log.borrow(), ["drop starts", "b panics", "drop ends"]);
        assert_eq!(drops.get(), 1);
        assert_not_early_nor_absurdly_late(elapsed, NAP);
        assert!(!std::thread::panicking());
        let after = greenlet::spawn(std::thread::panicking);
        assert!(!after.join().unwrap());
        assert_eq!(greenlet::hub_stats().live, 0);
        assert_eq!(greenlet::hub_stats().timers, 0);
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    let stderr = assert_child_ok(&out);
    assert_contains(&stderr, &["greenlet 'b'", "b fails while a unwinds"]);
    assert!(!stderr.contains("aborting"), "{stderr}");
}

// ---- sleep(Duration::MAX) -----------------------------------------------------------------

#[test]
fn sleep_duration_max_in_greenlet_can_be_killed() {
    let drops = Rc::new(Cell::new(0));
    let drops2 = drops.clone();
    let g = Builder::new()
        .name("forever")
        .spawn(move || {
            let _d = DropCount(drops2);
            greenlet::sleep(Duration::MAX);
            unreachable!("sleep(Duration::MAX) returned");
        })
        .unwrap();
    greenlet::yield_now();
    assert!(g.is_started() && !g.is_finished());
    assert_eq!(greenlet::hub_stats().live, 1);
    g.kill();
    assert!(g.is_finished());
    assert_eq!(drops.get(), 1);
    assert!(g.join().unwrap_err().is_killed());

    // A very large but representable-looking duration too.
    let g = greenlet::spawn(|| greenlet::sleep(Duration::from_secs(u64::MAX)));
    greenlet::yield_now();
    g.kill();
    assert!(g.join().unwrap_err().is_killed());

    // A timeout interrupts it.
    let g = greenlet::spawn(|| {
        let start = Instant::now();
        let r =
            greenlet::with_timeout(Duration::from_millis(20), || greenlet::sleep(Duration::MAX));
        (r, start.elapsed())
    });
    let (r, elapsed) = g.join().unwrap();
    assert_eq!(r.unwrap_err().duration(), Duration::from_millis(20));
    assert_not_early_nor_absurdly_late(elapsed, Duration::from_millis(20));

    // with_timeout(Duration::MAX) never fires and leaves no timer.
    let r = greenlet::with_timeout(Duration::MAX, || {
        greenlet::sleep(Duration::from_millis(1));
        3
    });
    assert_eq!(r, Ok(3));
    assert_eq!(greenlet::hub_stats().live, 0);
    assert_eq!(greenlet::hub_stats().timers, 0);
}
