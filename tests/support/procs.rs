//! What `/proc` says about a process: is it still there, is it a zombie. A process
//! is named by its pid and its start time (field 22 of `/proc/PID/stat`), so that a
//! pid the kernel has reused for another process is not mistaken for it.

use std::time::{Duration, Instant};

/// One process, as `/proc` knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    start: u64,
}

/// A process's state letter (`R`, `S`, `Z`, ...) and parent, if it exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub state: char,
    pub ppid: u32,
}

fn read_stat(pid: u32) -> Option<(Stat, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let stat = Stat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
    };
    // Field 22 of the line is the 20th after the command (fields 3, 4, ...).
    Some((stat, f.get(19)?.parse().ok()?))
}

impl Proc {
    /// The process `pid`, which must exist now (a child not yet reaped does).
    #[track_caller]
    pub fn of(pid: u32) -> Proc {
        let (_, start) = read_stat(pid).unwrap_or_else(|| panic!("no process {pid} in /proc"));
        Proc { pid, start }
    }

    /// Its state, or `None` once it is gone (reaped).
    pub fn stat(&self) -> Option<Stat> {
        read_stat(self.pid).and_then(|(s, start)| (start == self.start).then_some(s))
    }

    /// Whether it is running (or sleeping): there, and not a zombie.
    pub fn is_alive(&self) -> bool {
        self.stat()
            .is_some_and(|s| s.state != 'Z' && s.state != 'X')
    }

    /// Whether it is gone from `/proc`: exited and reaped.
    pub fn is_gone(&self) -> bool {
        self.stat().is_none()
    }

    /// Polls until the process is gone; `false` if it is still there (alive or a
    /// zombie) after `timeout`. For reaping done by another thread.
    pub fn gone_within(&self, timeout: Duration) -> bool {
        let start = Instant::now();
        while !self.is_gone() {
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

/// Whether this process has a handler installed for `SIGCHLD` (`SigCgt` in
/// `/proc/self/status`).
pub fn catches_sigchld() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .expect("a SigCgt line");
    let mask = u64::from_str_radix(line.trim(), 16).expect("a hex mask");
    const SIGCHLD: u32 = 17;
    mask & (1 << (SIGCHLD - 1)) != 0
}
