//! The `multiprocessing.Process` programs of the seed tutorials, with
//! `greenlet::process` children: `Process(target=f, args=(i,))` is this program
//! re-run as a child that calls `f(i)` (what multiprocessing's "spawn" start method
//! does with a fresh interpreter), `start()` is `Command::spawn`, `join()` is a
//! green wait, and `exitcode` is the child's exit status.
//!
//! Seeds `001` and `003` introduce `multiprocessing` ("the `multiprocessing` module
//! provides a `Process` class to represent a process object", in `003`) without a
//! program of their own; seed `000` gives it, three workers started and then joined:
//!
//! ```python
//! import multiprocessing as mp
//!
//! def worker(num):
//!     print('Worker', num)
//!
//! if __name__ == '__main__':
//!     processes = [mp.Process(target=worker, args=(i,)) for i in range(3)]
//!
//!     for p in processes:
//!         p.start()
//!
//!     for p in processes:
//!         p.join()
//! ```
//!
//! Seed `004`'s `process_example` has the same shape with five processes, and lists
//! `is_alive()` among `Process`'s methods:
//!
//! ```python
//! def print_num(num):
//!     for i in range(num):
//!         print(i)
//!
//! def process_example():
//!     processes = []
//!     for i in range(5):
//!         p = multiprocessing.Process(target=print_num, args=(i,))
//!         processes.append(p)
//!         p.start()
//!     for p in processes:
//!         p.join()
//! ```
//!
//! In Python the children print straight to the terminal, in whatever order they
//! run. Here the parent collects each child's output through a green pipe and
//! prints it in order, with the exit code (Python's `p.exitcode`: the code, or
//! minus the signal that ended it), and checks the codes. Each `worker` naps before
//! it prints, so that the run shows the children running at once. Then `is_alive()`
//! and `terminate()` (here `kill`, `SIGKILL`), and a worker that raises.
//!
//! Run with `cargo run --release --example processes`; `GREENLET_FAST=1` shrinks the
//! nap from 1 s to 200 ms.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use greenlet::process::{Command, ExitStatus, Stdio};

fn nap() -> Duration {
    if std::env::var_os("GREENLET_FAST").is_some() {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(1)
    }
}

/// `multiprocessing.Process(target=name, args=(arg,))`, not started yet: this
/// program, re-run in worker mode.
fn process(target: &str, arg: u32) -> Command {
    let exe = std::env::current_exe().expect("the path of this program");
    let mut cmd = Command::new(exe);
    cmd.args(["--worker", target, &arg.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Python's `Process.exitcode`: the exit code, or minus the signal.
fn exitcode(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| -s))
        .expect("an exit status has a code or a signal")
}

/// The child's side: run the target it was started for, then exit.
fn run_worker(target: &str, arg: u32) {
    match target {
        "worker" => {
            std::thread::sleep(nap());
            println!("Worker {arg}");
        }
        "print_num" => {
            for i in 0..arg {
                println!("{i}");
            }
        }
        "sleeper" => std::thread::sleep(nap() * 100),
        "raiser" => {
            eprintln!("ValueError: bad input {arg}");
            std::process::exit(1); // An uncaught exception's exitcode.
        }
        other => panic!("no worker target {other:?}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--worker") {
        let arg = args[3].parse().expect("a worker's argument is a number");
        run_worker(&args[2], arg);
        return;
    }
    println!("Parent process {}.", std::process::id());

    // Seed 000: start all three, then join each in turn.
    println!("seed 000: mp.Process(target=worker, args=(i,)) for i in range(3)");
    let start = Instant::now();
    let processes: Vec<_> = (0..3)
        .map(|i| process("worker", i).spawn().expect("start a process"))
        .collect();
    let mut codes = Vec::new();
    for (i, p) in processes.into_iter().enumerate() {
        let pid = p.id();
        let out = p.wait_with_output().expect("join a process");
        let code = exitcode(out.status);
        println!(
            "  process {i} (pid {pid}) printed {:?}, exitcode {code}",
            String::from_utf8_lossy(&out.stdout).trim_end()
        );
        codes.push(code);
    }
    let naps = start.elapsed().as_secs_f64() / nap().as_secs_f64();
    println!("3 processes ran at once: {naps:.1} naps in all (one after another would take 3)");
    assert_eq!(codes, [0, 0, 0], "every worker exits with 0");

    // Seed 004: five processes, each joined by a greenlet that collects its output.
    println!("seed 004: multiprocessing.Process(target=print_num, args=(i,)) for i in range(5)");
    let joiners: Vec<_> = (0..5)
        .map(|i| greenlet::spawn(move || process("print_num", i).output()))
        .collect();
    for (i, out) in greenlet::joinall(joiners).into_iter().enumerate() {
        let out = out.expect("a joiner greenlet").expect("run a process");
        let printed: Vec<u32> = std::str::from_utf8(&out.stdout)
            .expect("utf-8")
            .lines()
            .map(|l| l.parse().expect("print_num prints numbers"))
            .collect();
        let code = exitcode(out.status);
        println!("  process {i} printed {printed:?}, exitcode {code}");
        assert_eq!(printed, (0..i as u32).collect::<Vec<_>>(), "print_num({i})");
        assert_eq!(code, 0);
    }

    // is_alive() and terminate().
    let mut p = process("sleeper", 0).spawn().expect("start a process");
    let alive = p.try_wait().expect("poll a process").is_none();
    p.kill().expect("terminate a process");
    let code = exitcode(p.wait().expect("join a process"));
    let alive_after = p.try_wait().expect("poll a process").is_none();
    println!(
        "is_alive() = {alive}; after terminate() and join(): is_alive() = {alive_after}, exitcode {code}"
    );
    assert_eq!((alive, alive_after, code), (true, false, -9));

    // A worker that raises: exitcode 1, and its traceback on stderr.
    let out = process("raiser", 7).output().expect("run a process");
    let code = exitcode(out.status);
    println!(
        "a worker that raises: exitcode {code}, stderr {:?}",
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    assert_eq!(code, 1);

    // Nothing left behind: every child was waited for, so none is a zombie.
    let mut zombies = 0;
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let mut stat = String::new();
        if let Ok(mut f) = std::fs::File::open(entry.path().join("stat")) {
            let _ = f.read_to_string(&mut stat);
        }
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.first() == Some(&"Z") && f.get(1) == Some(&std::process::id().to_string().as_str()) {
            zombies += 1;
        }
    }
    println!("All processes have finished; zombies left: {zombies}");
    assert_eq!(zombies, 0);
}
