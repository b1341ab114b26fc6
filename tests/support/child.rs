//! Running a test scenario in a child process: the test binary re-runs itself for
//! one test, with an environment marker, so that aborts, process-wide limits and
//! stderr can be checked from the parent.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that marks the child and names its scenario.
pub const CHILD_ENV: &str = "GREENLET_CHILD";
/// Printed by a child scenario that ran to its end.
pub const CHILD_OK: &str = "CHILD-SCENARIO-OK";
/// A child taking longer than this (stretched by `slowdown()`) is taken to hang:
/// killed, and the test fails.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether this process is the child that should run scenario `name`.
pub fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == name)
}

/// Re-runs this test binary for test `name` alone, with the child marker set, and
/// returns what it did. A child that hangs is killed and fails the test.
pub fn run_child(name: &str) -> Output {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child test process");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buf).expect("read child stdout");
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut buf).expect("read child stderr");
        buf
    });
    let start = Instant::now();
    let timeout = super::late(CHILD_TIMEOUT);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if start.elapsed() > timeout {
            child.kill().expect("kill the hung child");
            child.wait().expect("reap the hung child");
            let stderr = err.join().expect("stderr reader");
            panic!(
                "child scenario {name} hung for {timeout:?}; stderr:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// Runs scenario `name` in a child (`run_child`) and fails unless it exited
/// successfully and printed `CHILD_OK` on stdout; returns its output.
pub fn assert_child_ok(name: &str) -> Output {
    let out = run_child(name);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(CHILD_OK),
        "child scenario {name} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
