//! Child processes whose waits and pipes park the greenlet, not the thread:
//! `std::process` with green waits.
//!
//! [`Command`] has std's builder methods and spawns through `std::process::Command`
//! (the spawn itself is std's: `posix_spawn` or `fork` + `exec`, which blocks the
//! hub only until the child has exec'd). [`Child`] has std's methods, and its
//! `stdin`, `stdout` and `stderr` are green: a read or write that would block parks
//! the greenlet. [`ExitStatus`], [`Output`] and [`Stdio`] are std's own types.
//!
//! ```
//! use greenlet::process::Command;
//!
//! // Three children at once, each sleeping 0.1 s: about 0.1 s in all.
//! let greenlets: Vec<_> = (0..3)
//!     .map(|i| {
//!         greenlet::spawn(move || {
//!             Command::new("sh")
//!                 .args(["-c", "sleep 0.1; echo $0", &i.to_string()])
//!                 .output()
//!         })
//!     })
//!     .collect();
//! for (i, out) in greenlet::joinall(greenlets).into_iter().enumerate() {
//!     let out = out.unwrap().unwrap();
//!     assert!(out.status.success());
//!     assert_eq!(out.stdout, format!("{i}\n").as_bytes());
//! }
//! ```
//!
//! **How an exit is seen.** Each child gets a pidfd (`pidfd_open(2)`, Linux 5.3) at
//! spawn. `wait` parks on it in the hub's reactor, as on any fd, and once it is
//! readable reaps the child with std's `try_wait` (`waitpid` of that pid, with
//! `WNOHANG`). The crate installs no `SIGCHLD` handler and never waits for any
//! process but the ones it spawned, so it coexists with other code that spawns and
//! reaps its own children.
//!
//! **Pipes.** The parent's end of each piped stdio stream is put in non-blocking
//! mode. That does not reach the child: a pipe's two ends are separate open file
//! descriptions, and `O_NONBLOCK` belongs to the description, so the child's end
//! stays blocking. To hand a parent's end on to another child
//! (`Stdio::from(child.stdout.take().unwrap())`), the conversion puts it back in
//! blocking mode first. [`Command::output`] and [`Child::wait_with_output`] drain
//! stdout and stderr at once (stderr on a helper greenlet), so a child that writes
//! megabytes to both never deadlocks against its parent.
//!
//! **Kill and timeouts of the waiter.** A greenlet killed (or timed out by
//! `with_timeout`) while in `wait`, `wait_timeout` or `output` unwinds and leaves
//! the child as std would leave it: running, not signalled. If the [`Child`] is
//! still owned (outside the interrupted code), it can be waited for again. If it is
//! dropped, what happens is what happens to any dropped `Child`:
//!
//! - by default, as in std, the child keeps running; std would leave it a zombie
//!   once it exits, but here a background *reaper* thread waits on its pidfd and
//!   reaps it then. No handle can ask for its status any more, so nothing is lost.
//! - with [`Command::kill_on_drop(true)`](Command::kill_on_drop), the drop sends it
//!   `SIGKILL`, and the reaper reaps it.
//!
//! The reaper is one OS thread, started when the first unreaped child is dropped
//! and gone once it has reaped every child handed to it. (While it runs, a
//! deadlock on a primitive only one thread has touched is not reported but hangs,
//! as with any second thread; see `arch/README.md`.) A child that has exited and
//! been waited for costs nothing at drop. See `arch/io.md`, "Child processes".
//!
//! If the program makes the kernel reap children itself (`SIGCHLD` set to
//! `SIG_IGN`) or reaps them with `waitpid(-1)`, waits report the `ECHILD` error std
//! reports.

use std::ffi::OsStr;
use std::io;
use std::path::Path;

mod child;
mod reaper;
mod stdio;

pub use child::Child;
pub use std::process::{ExitStatus, Output, Stdio};
pub use stdio::{ChildStderr, ChildStdin, ChildStdout};

/// A process builder: `std::process::Command` whose children are green [`Child`]ren.
///
/// The builder methods are std's and mean the same. By default `spawn` and `status`
/// inherit all three stdio streams; `output` captures stdout and stderr and gives
/// the child an empty stdin (`Stdio::null()`), unless they were set.
///
/// ```
/// use greenlet::process::{Command, Stdio};
/// use std::io::{Read, Write};
///
/// let mut child = Command::new("tr")
///     .arg("a-z")
///     .arg("A-Z")
///     .stdin(Stdio::piped())
///     .stdout(Stdio::piped())
///     .spawn()
///     .unwrap();
/// child.stdin.take().unwrap().write_all(b"green").unwrap(); // dropped: EOF
/// let mut s = String::new();
/// child.stdout.take().unwrap().read_to_string(&mut s).unwrap();
/// assert_eq!(s, "GREEN");
/// assert!(child.wait().unwrap().success());
/// ```
pub struct Command {
    inner: std::process::Command,
    /// Whether stdin, stdout and stderr were set: `output` chooses its defaults for
    /// the others only, as std's does.
    set: [bool; 3],
    kill_on_drop: bool,
}

impl Command {
    /// A command running `program`, with no arguments, the parent's environment and
    /// working directory, as `std::process::Command::new`.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            inner: std::process::Command::new(program),
            set: [false; 3],
            kill_on_drop: false,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env(key, val);
        self
    }

    /// Sets several environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Clears the child's environment (the variables set afterwards stay).
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// Sets the child's stdin: `Stdio::piped()` gives [`Child::stdin`], green.
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdin(cfg);
        self.set[0] = true;
        self
    }

    /// Sets the child's stdout: `Stdio::piped()` gives [`Child::stdout`], green.
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdout(cfg);
        self.set[1] = true;
        self
    }

    /// Sets the child's stderr: `Stdio::piped()` gives [`Child::stderr`], green.
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stderr(cfg);
        self.set[2] = true;
        self
    }

    /// Whether dropping a [`Child`] of this command before it has been reaped kills
    /// it (`SIGKILL`; it is then reaped in the background). Off by default, as in
    /// std, where a dropped child keeps running.
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// Starts the child. The spawn is std's and blocks the hub until the child has
    /// exec'd (or failed to: the error is std's); everything after is green.
    pub fn spawn(&mut self) -> io::Result<Child> {
        Child::new(self.inner.spawn()?, self.kill_on_drop)
    }

    /// Runs the child to its end and collects its output. stdout and stderr are
    /// captured (unless set otherwise) and drained at once, stdin is empty (unless
    /// set); see [`Child::wait_with_output`].
    pub fn output(&mut self) -> io::Result<Output> {
        let unset = self.set.map(|s| !s);
        if unset[0] {
            self.inner.stdin(Stdio::null());
        }
        if unset[1] {
            self.inner.stdout(Stdio::piped());
        }
        if unset[2] {
            self.inner.stderr(Stdio::piped());
        }
        let child = self.spawn();
        // Back to what the other methods default to (std's default is inherit).
        if unset[0] {
            self.inner.stdin(Stdio::inherit());
        }
        if unset[1] {
            self.inner.stdout(Stdio::inherit());
        }
        if unset[2] {
            self.inner.stderr(Stdio::inherit());
        }
        child?.wait_with_output()
    }

    /// Runs the child to its end and returns its status (stdio inherited unless
    /// set; a piped stdin is closed first, as [`Child::wait`] does).
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait()
    }

    /// The program, as given to [`new`](Command::new).
    pub fn get_program(&self) -> &OsStr {
        self.inner.get_program()
    }

    /// The arguments, not including the program.
    pub fn get_args(&self) -> std::process::CommandArgs<'_> {
        self.inner.get_args()
    }

    /// The environment variables set or removed for the child.
    pub fn get_envs(&self) -> std::process::CommandEnvs<'_> {
        self.inner.get_envs()
    }

    /// The working directory set for the child, if any.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.inner.get_current_dir()
    }

    /// The std command underneath, for what only std offers
    /// (`std::os::unix::process::CommandExt`: `uid`, `process_group`, `arg0`, ...).
    /// Set stdio through this `Command`, not the std one, so that
    /// [`output`](Command::output) knows which streams were set.
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.inner
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}
