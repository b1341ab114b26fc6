//! Waiting for an fd inside a hook: the hub's reactor, a registration kept per fd
//! until the hooked `close` of it, and the loop every hooked call that may block
//! goes through (try without blocking, and on `EAGAIN` honour the user's own
//! `O_NONBLOCK` and socket timeout, or park).

use std::cell::RefCell;
use std::time::Instant;

use mio::Token;

use super::{count_park, fdtable, interrupt_errno};
use crate::hub::{Direction, Hub, Interrupt};
use crate::sys::monkey::{self as sys, c};

thread_local! {
    /// This thread's registrations made by hooks: fd -> (the fd's generation then,
    /// the hub's token). Dropped with the thread; the hub's reactor owns the rest.
    static REGS: RefCell<Vec<(u32, usize)>> = const { RefCell::new(Vec::new()) };
}

const NONE: usize = usize::MAX;

/// Why a wait ended without the fd becoming ready.
pub(super) enum Stop {
    /// The fd was closed (by a hooked `close`, or a green socket's drop) meanwhile.
    Closed,
    /// A kill or a `with_timeout` deadline: reported, not delivered.
    Interrupted(Interrupt),
    /// epoll cannot wait on this fd: the caller makes the real, blocking call.
    NotPollable,
}

/// This hub's token for `fd`, registering it on first use.
fn token_for(hub: &'static Hub, fd: c::c_int) -> Result<Token, Stop> {
    let generation = fdtable::generation_for_registration(fd);
    let index = usize::try_from(fd).map_err(|_| Stop::Closed)?;
    let known = REGS
        .try_with(|r| r.borrow().get(index).copied())
        .ok()
        .flatten();
    if let Some((g, t)) = known
        && t != NONE
        && g == generation
        && hub.reactor.is_registered(Token(t))
    {
        return Ok(Token(t));
    }
    match hub.reactor.acquire(fd, Direction::Read) {
        Ok((token, _)) => {
            let _ = REGS.try_with(|r| {
                let mut r = r.borrow_mut();
                if r.len() <= index {
                    r.resize(index + 1, (0, NONE));
                }
                r[index] = (generation, token.0);
            });
            Ok(token)
        }
        Err(e) if e.raw_os_error() == Some(crate::sys::errno::EPERM) => Err(Stop::NotPollable),
        Err(_) => Err(Stop::Closed),
    }
}

/// Forgets this thread's registration of `fd` and removes the hub's (waking its
/// waiters, who find it gone): `fd` is about to be closed or replaced.
pub(super) fn forget(hub: Option<&'static Hub>, fd: c::c_int) {
    fdtable::closed(fd);
    if let Some(hub) = hub
        && !hub.shutting_down()
    {
        hub.reactor.close_fd(fd);
    }
    if let Ok(index) = usize::try_from(fd) {
        let _ = REGS.try_with(|r| {
            if let Ok(mut r) = r.try_borrow_mut()
                && let Some(e) = r.get_mut(index)
            {
                *e = (0, NONE);
            }
        });
    }
}

/// Parks until `fd` may be ready in `dir`, `deadline` passes (`Ok(true)`), or the
/// wait stops. Never unwinds.
pub(super) fn wait_fd(
    hub: &'static Hub,
    fd: c::c_int,
    dir: Direction,
    deadline: Option<Instant>,
    reason: &'static str,
) -> Result<bool, Stop> {
    wait_fds(hub, &[(fd, dir)], deadline, reason)
}

/// [`wait_fd`] on several fds at once: returns when any of them may be ready.
pub(super) fn wait_fds(
    hub: &'static Hub,
    fds: &[(c::c_int, Direction)],
    deadline: Option<Instant>,
    reason: &'static str,
) -> Result<bool, Stop> {
    let waker = hub.waker();
    let mut waiters = Vec::with_capacity(fds.len());
    let mut tokens = Vec::with_capacity(fds.len());
    for &(fd, dir) in fds {
        let token = match token_for(hub, fd) {
            Ok(t) => t,
            // One of several: the caller's poll sees it ready (or closed) anyway.
            Err(Stop::NotPollable | Stop::Closed) if fds.len() > 1 => continue,
            Err(e) => return Err(e),
        };
        match hub.reactor.add_waiter(token, dir, waker) {
            Ok(w) => waiters.push(w),
            Err(()) => return Err(Stop::Closed),
        }
        tokens.push(token);
    }
    if waiters.is_empty() {
        return Err(Stop::NotPollable);
    }
    count_park();
    let r = hub.park_until_reporting(reason, deadline);
    drop(waiters);
    match r {
        Err(int) => Err(Stop::Interrupted(int)),
        Ok(_) if fds.len() == 1 && !hub.reactor.is_registered(tokens[0]) => Err(Stop::Closed),
        Ok(fired) => Ok(fired),
    }
}

/// What a call that would block does next.
pub(super) enum Next {
    /// Try the call again.
    Retry,
    /// Fail with this errno.
    Fail(c::c_int),
    /// Make the real, blocking call.
    Block,
}

/// The state of one hooked call that may block on one fd: the user's mode and
/// timeout, read once, at the first `EAGAIN`.
pub(super) struct Blocking {
    hub: &'static Hub,
    fd: c::c_int,
    dir: Direction,
    reason: &'static str,
    looked: bool,
    deadline: Option<Instant>,
}

impl Blocking {
    pub(super) fn new(
        hub: &'static Hub,
        fd: c::c_int,
        dir: Direction,
        reason: &'static str,
    ) -> Blocking {
        Blocking {
            hub,
            fd,
            dir,
            reason,
            looked: false,
            deadline: None,
        }
    }

    /// The call said `EAGAIN`: the user's own `O_NONBLOCK` fails it at once, an
    /// expired `SO_RCVTIMEO`/`SO_SNDTIMEO` fails it with `EAGAIN` as the kernel
    /// does, a kill or deadline with `ECANCELED`/`ETIMEDOUT`, a close with `EBADF`;
    /// otherwise it parks until the fd may be ready.
    pub(super) fn would_block(&mut self) -> Next {
        if !self.looked {
            self.looked = true;
            if user_nonblocking(self.fd) {
                return Next::Fail(c::EAGAIN);
            }
            self.deadline = sys::sock_timeout(self.fd, self.dir == Direction::Write)
                .and_then(|t| Instant::now().checked_add(t));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Next::Fail(c::EAGAIN);
        }
        match wait_fd(self.hub, self.fd, self.dir, self.deadline, self.reason) {
            Ok(_) => Next::Retry,
            Err(Stop::Closed) => Next::Fail(c::EBADF),
            Err(Stop::Interrupted(int)) => Next::Fail(interrupt_errno(int)),
            Err(Stop::NotPollable) => Next::Block,
        }
    }
}

/// Whether the user put `fd` in non-blocking mode (an `O_NONBLOCK` a hook set for
/// a moment on another thread does not count).
pub(super) fn user_nonblocking(fd: c::c_int) -> bool {
    sys::fd_flags(fd).is_some_and(|f| f & c::O_NONBLOCK != 0) && !fdtable::flipped_by_us(fd)
}

/// A call that returns as soon as it made any progress (a read, an accept): `op`
/// tries without blocking (`-1` with `EAGAIN` when it would block), `block` is the
/// real call.
pub(super) fn once(
    mut b: Blocking,
    mut op: impl FnMut() -> isize,
    block: impl FnOnce() -> isize,
) -> isize {
    loop {
        let n = op();
        if n >= 0 || sys::errno() != c::EAGAIN {
            return n;
        }
        match b.would_block() {
            Next::Retry => {}
            Next::Fail(e) => {
                sys::set_errno(e);
                return -1;
            }
            Next::Block => return block(),
        }
    }
}

/// A call that goes on until `len` bytes are done, as a blocking stream write (or a
/// `MSG_WAITALL` read) does: `op(done)` tries the rest without blocking. Returns the
/// count done when it is all, at end of file (`op` returned 0), or when an error,
/// a timeout or an interrupt stops it after some progress (the kernel's partial
/// count after a signal or `SO_SNDTIMEO`); `-1` with errno when nothing was done.
pub(super) fn all(
    mut b: Blocking,
    len: usize,
    mut op: impl FnMut(usize) -> isize,
    block: impl FnOnce(usize) -> isize,
) -> isize {
    let mut done = 0usize;
    loop {
        let n = op(done);
        if n > 0 {
            done += n as usize;
            if done >= len {
                return done as isize;
            }
            continue;
        }
        if n == 0 {
            return done as isize;
        }
        if sys::errno() != c::EAGAIN {
            return if done > 0 { done as isize } else { -1 };
        }
        match b.would_block() {
            Next::Retry => {}
            Next::Fail(_) if done > 0 => return done as isize,
            Next::Fail(e) => {
                sys::set_errno(e);
                return -1;
            }
            Next::Block => {
                let n = block(done);
                return if n >= 0 {
                    (done + n as usize) as isize
                } else if done > 0 {
                    done as isize
                } else {
                    -1
                };
            }
        }
    }
}
