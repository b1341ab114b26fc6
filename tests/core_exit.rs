//! `std::process::exit` called inside a greenlet on the main thread. Exit runs the
//! main thread's thread-local destructors, the hub's among them, while the greenlet
//! is still running on its stack: the hub must be left alone, not torn down under it
//! (that aborted with "thread local panicked on drop").
//!
//! A `harness = false` test: libtest runs tests off the main thread, where exit does
//! not run thread-local destructors, so the fault needs a `main` of its own. The
//! binary re-runs itself as the child that exits.

use std::process::Command;
use std::time::Duration;

const CHILD_ENV: &str = "GREENLET_EXIT_CHILD";

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let _sleeper = greenlet::spawn(|| greenlet::sleep(Duration::from_secs(60)));
        let g = greenlet::spawn(|| {
            eprintln!("child: exiting from a greenlet");
            std::process::exit(7)
        });
        let _ = g.join();
        unreachable!("the greenlet exits the process");
    }
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .env(CHILD_ENV, "1")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ok = out.status.code() == Some(7)
        && stderr.contains("child: exiting from a greenlet")
        && !stderr.contains("panicked")
        && !stderr.contains("fatal runtime error");
    if ok {
        println!("process_exit_from_inside_a_greenlet_exits_cleanly: 1 passed, 0 failed");
    } else {
        eprintln!("status {:?}\n{stderr}", out.status);
        println!("process_exit_from_inside_a_greenlet_exits_cleanly: 0 passed, 1 failed");
        std::process::exit(1);
    }
}
