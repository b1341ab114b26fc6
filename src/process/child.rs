//! `Child`: a spawned process, its green stdio, its pidfd, and the waits on it.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::stdio::{ChildStderr, ChildStdin, ChildStdout};
use super::{ExitStatus, Output, reaper};
use crate::greenlet::{Builder, Greenlet};
use crate::sys;

/// A running or exited child process, as `std::process::Child`, whose waits park
/// the greenlet instead of the thread.
///
/// Waiting reaps the child (no zombie stays behind). A `Child` dropped before it
/// was reaped is left running, as in std, or killed if its command had
/// [`kill_on_drop(true)`](super::Command::kill_on_drop); either way it is reaped in
/// the background once it exits (see the [module docs](super)).
///
/// The `Child` may move to another thread; a wait parks on the hub of the thread it
/// is called on.
pub struct Child {
    /// The child's stdin, if it was `Stdio::piped()`; green.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if it was `Stdio::piped()`; green.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if it was `Stdio::piped()`; green.
    pub stderr: Option<ChildStderr>,
    /// std's child, with its stdio taken out. Reaped only through its `try_wait`,
    /// so that std's cached status (and so its `kill`, which is a no-op once the
    /// child is reaped) stays right.
    inner: std::process::Child,
    /// Readable once the child has exited. `None` only if the child was already
    /// reaped by someone else when we asked (`SIGCHLD` ignored): std's `try_wait`
    /// then reports `ECHILD`.
    pidfd: Option<OwnedFd>,
    kill_on_drop: bool,
}

impl Child {
    /// Takes over a child std has just spawned: its pidfd, its stdio made green. On
    /// an error the child is killed and reaped, not left behind.
    pub(super) fn new(mut inner: std::process::Child, kill_on_drop: bool) -> io::Result<Child> {
        let pidfd = match sys::process::pidfd_open(inner.id()) {
            Ok(fd) => Some(fd),
            Err(e) if e.raw_os_error() == Some(sys::errno::ESRCH) => None,
            Err(e) => {
                abandon(inner);
                return Err(io::Error::new(
                    e.kind(),
                    format!("greenlet::process: pidfd_open failed (it needs Linux 5.3): {e}"),
                ));
            }
        };
        let stdio = (|| {
            io::Result::Ok((
                inner.stdin.take().map(ChildStdin::new).transpose()?,
                inner.stdout.take().map(ChildStdout::new).transpose()?,
                inner.stderr.take().map(ChildStderr::new).transpose()?,
            ))
        })();
        let (stdin, stdout, stderr) = match stdio {
            Ok(s) => s,
            Err(e) => {
                abandon(inner);
                return Err(e);
            }
        };
        Ok(Child {
            stdin,
            stdout,
            stderr,
            inner,
            pidfd,
            kill_on_drop,
        })
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// Sends `SIGKILL`, as std's `kill`: `Ok` if the child has already exited. Does
    /// not wait; [`wait`](Child::wait) then reports the signal.
    pub fn kill(&mut self) -> io::Result<()> {
        self.inner.kill()
    }

    /// Waits for the child to exit and reaps it, parking the greenlet meanwhile.
    /// Returns the same status if called again. Closes the child's stdin first, as
    /// std's `wait` does, so that a child reading it is not left waiting for input.
    ///
    /// A kill or `with_timeout` of the caller unwinds out of the wait and leaves the
    /// child running and unreaped; this `Child` can wait for it again.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        let status = self.wait_until(None)?;
        Ok(status.expect("a wait with no deadline ends with a status"))
    }

    /// The status if the child has exited (and reaps it then), without waiting, as
    /// std's `try_wait`. Leaves stdin open.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.inner.try_wait()
    }

    /// Waits at most `timeout` for the child to exit: `Ok(None)` if it is still
    /// running then (it is left running). Unlike [`wait`](Child::wait), leaves
    /// stdin open: a child that has not ended yet may still need it.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// Closes stdin, reads stdout and stderr to their ends at once (stderr on a
    /// helper greenlet, so that a child filling one pipe while the parent reads the
    /// other cannot deadlock), then waits, as std's `wait_with_output`. Streams that
    /// were not piped come back empty.
    ///
    /// A kill or `with_timeout` of the caller unwinds (the helper is killed too) and
    /// drops this `Child`, which leaves the child running or kills it (see
    /// [`Command::kill_on_drop`](super::Command::kill_on_drop)).
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (stdout, stderr) = read2(self.id(), self.stdout.take(), self.stderr.take())?;
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// Waits for the exit until `deadline` (`None`: no deadline).
    fn wait_until(&mut self, deadline: Option<Instant>) -> io::Result<Option<ExitStatus>> {
        let mut woken = false;
        loop {
            if let Some(status) = self.inner.try_wait()? {
                return Ok(Some(status));
            }
            let timeout = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(t) if !t.is_zero() => Some(t),
                    _ => return Ok(None),
                },
            };
            let Some(pidfd) = &self.pidfd else {
                // Unreachable in practice: without a pidfd std's waitpid says ECHILD.
                return Err(io::Error::other(
                    "greenlet::process: the child was reaped by someone else",
                ));
            };
            if woken {
                // The pidfd said "exited" and waitpid disagreed. The kernel sets the
                // exit state before it wakes pidfd pollers, so this is not expected;
                // should it happen, give the kernel a moment rather than spin.
                crate::time::sleep(Duration::from_millis(1));
            }
            match crate::io::wait_readable(pidfd.as_raw_fd(), timeout) {
                Ok(()) => woken = true,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => woken = false,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        match self.inner.try_wait() {
            // Reaped, now or before; or not ours to reap (ECHILD).
            Ok(Some(_)) | Err(_) => return,
            Ok(None) => {}
        }
        if self.kill_on_drop {
            let _ = self.inner.kill();
        }
        if let Some(pidfd) = self.pidfd.take() {
            reaper::adopt(pidfd);
        }
    }
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.id())
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish_non_exhaustive()
    }
}

/// Kills and reaps a child we cannot manage. Blocks the thread until it is gone,
/// which after `SIGKILL` is a moment.
fn abandon(mut child: std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Reads both pipes to their ends at once: stderr on a helper greenlet, stdout here.
fn read2(
    pid: u32,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    fn read_all(mut r: impl Read) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        r.read_to_end(&mut v)?;
        Ok(v)
    }
    match (stdout, stderr) {
        (None, None) => Ok((Vec::new(), Vec::new())),
        (Some(out), None) => Ok((read_all(out)?, Vec::new())),
        (None, Some(err)) => Ok((Vec::new(), read_all(err)?)),
        (Some(out), Some(err)) => {
            let helper = Builder::new()
                .name(format!("stderr of process {pid}"))
                .spawn(move || read_all(err))?;
            let mut helper = KillOnDrop(Some(helper));
            let out = read_all(out)?;
            let joined = helper.0.take().expect("joined once").join();
            let err = joined.map_err(|e| {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
                io::Error::other(format!("greenlet::process: {e}"))
            })??;
            Ok((out, err))
        }
    }
}

/// Kills the stderr helper if the caller leaves early (an error, a kill, a timeout),
/// so that it does not read on after the caller has given up.
struct KillOnDrop(Option<Greenlet<io::Result<Vec<u8>>>>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(g) = &self.0 {
            g.kill_nowait();
        }
    }
}
