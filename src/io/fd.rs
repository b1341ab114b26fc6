//! Waiting on any fd (gevent's `wait_read` / `wait_write`), sharing the hub's
//! registration of that fd when a socket of the hub already made one.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use mio::Token;

use super::{Direction, wait};
use crate::hub::Hub;
use crate::sys;

/// Blocks until `fd` is readable (or at EOF, or in error), or `timeout` passes
/// (`TimedOut`). gevent's `wait_read`. Other greenlets run meanwhile.
///
/// If the fd is closed by the drop of a greenlet socket (or [`GreenFd`]) while this
/// waits, it wakes with a `ConnectionAborted` error. An fd epoll cannot watch (a
/// regular file) is always ready.
///
/// [`GreenFd`]: crate::os::unix::io::GreenFd
pub fn wait_readable(fd: impl AsRawFd, timeout: Option<Duration>) -> io::Result<()> {
    wait_fd(fd.as_raw_fd(), Direction::Read, timeout)
}

/// Blocks until `fd` is writable (or in error), or `timeout` passes (`TimedOut`).
/// gevent's `wait_write`. See [`wait_readable`].
pub fn wait_writable(fd: impl AsRawFd, timeout: Option<Duration>) -> io::Result<()> {
    wait_fd(fd.as_raw_fd(), Direction::Write, timeout)
}

fn wait_fd(fd: RawFd, dir: Direction, timeout: Option<Duration>) -> io::Result<()> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let hub = Hub::current();
    let (token, maybe_ready) = match hub.reactor.acquire(fd, dir) {
        Ok(t) => t,
        Err(e) if e.raw_os_error() == Some(sys::errno::EPERM) => return Ok(()),
        Err(e) => return Err(e),
    };
    let _release = Release { hub, token };
    if maybe_ready && ready_now(fd, dir)? {
        return Ok(());
    }
    let reason = match dir {
        Direction::Read => "wait_readable",
        Direction::Write => "wait_writable",
    };
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return if ready_now(fd, dir)? {
                Ok(())
            } else {
                Err(io::ErrorKind::TimedOut.into())
            };
        }
        wait(hub, token, dir, deadline, reason)?;
        if deadline.is_none_or(|d| Instant::now() < d) {
            return Ok(()); // Woken by an edge for this direction.
        }
    }
}

struct Release {
    hub: &'static Hub,
    token: Token,
}

impl Drop for Release {
    fn drop(&mut self) {
        self.hub.reactor.release(self.token);
    }
}

/// Asks the kernel, without blocking, whether `fd` is ready in `dir`.
fn ready_now(fd: RawFd, dir: Direction) -> io::Result<bool> {
    sys::fd::ready_now(fd, dir == Direction::Write)
}
