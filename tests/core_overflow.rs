//! Stack faults: a greenlet that overflows its stack is reported by name and size and
//! the process aborts (never a bare SIGSEGV), with either guard mechanism; a stack that
//! cannot be allocated is an `io::Error` from `Builder::spawn` and a panic from `spawn`.
//!
//! Every scenario runs in a child process: the test binary re-executes itself for that
//! one test with `GREENLET_CHILD=<test name>`, and the parent asserts on its exit status
//! and stderr.

mod support;

use std::hint::black_box;
use std::os::unix::process::ExitStatusExt;
use std::panic::{self, AssertUnwindSafe};
use std::process::Output;
use std::time::Duration;

use support::child::{CHILD_OK, is_child, run_child};

use greenlet::{Builder, DEFAULT_STACK_SIZE};

// ---- child processes ----------------------------------------------------------------

fn show(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The child aborted (SIGABRT, not SIGSEGV) and its stderr holds `report`.
fn assert_aborted_with(out: &Output, report: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "expected an abort (SIGABRT)\n{}",
        show(out)
    );
    assert!(
        stderr.contains(report),
        "expected {report:?} on stderr\n{}",
        show(out)
    );
    assert!(!stderr.contains(CHILD_OK), "{}", show(out));
    stderr
}

fn overflow_report(who: &str, size: usize) -> String {
    format!(
        "greenlet '{who}' has overflowed its stack ({} KiB)",
        size / 1024
    )
}

// ---- ways to overflow ----------------------------------------------------------------------

/// Unbounded recursion with small frames; not a tail call, and `black_box` keeps the
/// frame and the depth opaque to the optimiser.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth as u8; 128]);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(u64::from(frame[(depth % 128) as usize]))
}

/// Unbounded recursion with frames of 16 KiB, four pages each.
#[inline(never)]
fn recurse_big(depth: u64) -> u64 {
    let frame = black_box([depth as u8; 16 * 1024]);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    recurse_big(depth + 1).wrapping_add(u64::from(frame[(depth % 4096) as usize]))
}

/// One frame of 1 MiB: larger than the whole default stack, so without stack probes
/// it would jump over the guard page into whatever lies below.
#[inline(never)]
fn huge_frame() -> u64 {
    let frame = black_box([7u8; 1024 * 1024]);
    u64::from(frame[black_box(12_345)])
}

/// Counts the `---p` (inaccessible) mappings of this process.
fn inaccessible_mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("read /proc/self/maps")
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("---p"))
        .count()
}

// ---- stack overflow -------------------------------------------------------------------------

#[test]
fn overflow_of_named_greenlet_is_reported_and_aborts() {
    const NAME: &str = "overflow_of_named_greenlet_is_reported_and_aborts";
    if is_child(NAME) {
        let g = Builder::new().name("deep").spawn(|| recurse(0)).unwrap();
        let _ = g.join();
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    assert_aborted_with(&out, &overflow_report("deep", DEFAULT_STACK_SIZE));
}

#[test]
fn overflow_of_unnamed_greenlet_reports_its_id() {
    const NAME: &str = "overflow_of_unnamed_greenlet_reports_its_id";
    if is_child(NAME) {
        let g = greenlet::spawn(|| recurse(0));
        eprintln!("GREENLET-ID={}", g.id().as_u64());
        let _ = g.join();
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let id: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("GREENLET-ID="))
        .unwrap_or_else(|| panic!("the child printed no id\n{}", show(&out)))
        .parse()
        .expect("a numeric id");
    assert_aborted_with(
        &out,
        &overflow_report(&format!("#{id}"), DEFAULT_STACK_SIZE),
    );
}

#[test]
fn overflow_with_frames_larger_than_a_page() {
    const NAME: &str = "overflow_with_frames_larger_than_a_page";
    if is_child(NAME) {
        let g = Builder::new()
            .name("bigframes")
            .stack_size(64 * 1024)
            .spawn(|| recurse_big(0))
            .unwrap();
        let _ = g.join();
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    assert_aborted_with(&out, &overflow_report("bigframes", 64 * 1024));
}

#[test]
fn overflow_with_one_frame_larger_than_the_stack() {
    const NAME: &str = "overflow_with_one_frame_larger_than_the_stack";
    if is_child(NAME) {
        // A live neighbour on the stack carved just before: a frame that jumped over
        // the guard page would land in it.
        let neighbour = greenlet::spawn(|| greenlet::sleep(Duration::from_secs(3600)));
        greenlet::yield_now();
        let g = Builder::new().name("huge").spawn(huge_frame).unwrap();
        let _ = g.join();
        drop(neighbour);
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    assert_aborted_with(&out, &overflow_report("huge", DEFAULT_STACK_SIZE));
}

#[test]
fn overflow_on_a_reused_stack_names_the_greenlet_running_now() {
    const NAME: &str = "overflow_on_a_reused_stack_names_the_greenlet_running_now";
    if is_child(NAME) {
        let first = Builder::new().name("first").spawn(|| black_box(1)).unwrap();
        assert_eq!(first.join().unwrap(), 1);
        // Takes the stack `first` gave back to the pool.
        let second = Builder::new().name("second").spawn(|| recurse(0)).unwrap();
        let _ = second.join();
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    let stderr = assert_aborted_with(&out, &overflow_report("second", DEFAULT_STACK_SIZE));
    assert!(!stderr.contains("'first'"), "{stderr}");
}

#[test]
fn overflow_with_mprotect_guards_is_reported_and_aborts() {
    const NAME: &str = "overflow_with_mprotect_guards_is_reported_and_aborts";
    if is_child(NAME) {
        greenlet::__private::force_mprotect_guards();
        let _ = greenlet::hub_stats(); // the hub exists before counting mappings
        let before = inaccessible_mappings();
        let g = Builder::new()
            .name("fallback")
            .spawn(|| recurse(0))
            .unwrap();
        // The fallback really is in use: the guard page is a mapping of its own.
        assert!(
            inaccessible_mappings() > before,
            "no PROT_NONE guard mapping appeared"
        );
        let _ = g.join();
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    assert_aborted_with(&out, &overflow_report("fallback", DEFAULT_STACK_SIZE));
}

#[test]
fn overflow_with_mprotect_guards_and_one_huge_frame() {
    const NAME: &str = "overflow_with_mprotect_guards_and_one_huge_frame";
    if is_child(NAME) {
        greenlet::__private::force_mprotect_guards();
        let neighbour = greenlet::spawn(|| greenlet::sleep(Duration::from_secs(3600)));
        greenlet::yield_now();
        let g = greenlet::spawn(huge_frame);
        eprintln!("GREENLET-ID={}", g.id().as_u64());
        let _ = g.join();
        drop(neighbour);
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let id = stderr
        .lines()
        .find_map(|l| l.strip_prefix("GREENLET-ID="))
        .unwrap_or_else(|| panic!("the child printed no id\n{}", show(&out)))
        .to_string();
    assert_aborted_with(
        &out,
        &overflow_report(&format!("#{id}"), DEFAULT_STACK_SIZE),
    );
}

#[test]
fn overflow_of_the_threads_own_stack_is_still_reported_by_std() {
    // The greenlet handler must pass faults outside greenlet guard pages on to the
    // handler that was there before it (std's).
    const NAME: &str = "overflow_of_the_threads_own_stack_is_still_reported_by_std";
    if is_child(NAME) {
        let g = greenlet::spawn(|| 1);
        assert_eq!(g.join().unwrap(), 1); // hub and handler installed
        black_box(recurse(0));
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    let stderr = assert_aborted_with(&out, "has overflowed its stack");
    assert!(stderr.contains("thread '"), "{stderr}");
    assert!(!stderr.contains("greenlet '"), "{stderr}");
}

// ---- stack allocation failure ------------------------------------------------------------

/// The process's virtual memory size in bytes, from `/proc/self/status`.
fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize in /proc/self/status");
    kib * 1024
}

#[test]
fn stack_allocation_failure_names_the_limit_and_the_remedy() {
    const NAME: &str = "stack_allocation_failure_names_the_limit_and_the_remedy";
    const BIG: usize = 16 * 1024 * 1024;
    if is_child(NAME) {
        let _ = greenlet::hub_stats(); // the hub exists before the limit drops
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit with a valid rlimit struct; this is a child
        // process of its own, so lowering its address-space limit harms nothing else.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_AS, &mut lim), 0);
            lim.rlim_cur = vm_size() + 64 * 1024 * 1024;
            assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &lim), 0);
        }

        let mut held = Vec::new();
        let err = loop {
            match Builder::new().stack_size(BIG).spawn(|| black_box(2)) {
                Ok(g) => held.push(g),
                Err(e) => break e,
            }
            assert!(
                held.len() < 64,
                "64 stacks of 16 MiB fit in a 64 MiB headroom"
            );
        };
        let msg = err.to_string();
        for needle in [
            "greenlet stack",
            "16384 KiB",
            "RLIMIT_AS",
            "Remedy",
            "stack_size",
        ] {
            assert!(msg.contains(needle), "{needle:?} not in: {msg}");
        }

        // The same request through spawn: the default size, which needs a fresh arena.
        let err = Builder::new()
            .spawn(|| black_box(3))
            .expect_err("no room for a default stack's arena either");
        let msg = err.to_string();
        assert!(
            msg.contains("greenlet stack") && msg.contains("Remedy"),
            "{msg}"
        );
        let payload = panic::catch_unwind(AssertUnwindSafe(|| greenlet::spawn(|| black_box(3))))
            .expect_err("spawn panics when no stack can be allocated");
        let text = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .expect("a string payload");
        assert_eq!(text, msg, "spawn panics with Builder::spawn's message");

        // Nothing else broke: the greenlets that did get stacks run and finish.
        let n = held.len();
        let results = greenlet::joinall(held);
        assert_eq!(results.len(), n);
        assert!(results.into_iter().all(|r| r.unwrap() == 2));
        assert_eq!(greenlet::hub_stats().live, 0);
        eprintln!("{CHILD_OK}");
        return;
    }
    let out = run_child(NAME);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && stderr.contains(CHILD_OK),
        "the child scenario failed\n{}",
        show(&out)
    );
}
