//! Waiting for an fd inside a hook: the hub's reactor, a registration kept per fd
//! until the hooked `close` of it, and the loop every hooked call that may block
//! goes through (try without blocking, and on `EAGAIN` honour the user's own
//! `O_NONBLOCK` and socket timeout, or park).

use std::cell::RefCell;
use std::time::Instant;

use mio::Token;

use super::fdtable::Fact;
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
    let token = token_for(hub, fd)?;
    let waiter = hub
        .reactor
        .add_waiter(token, dir, hub.waker())
        .map_err(|()| Stop::Closed)?;
    count_park();
    let r = hub.park_until_reporting(reason, deadline);
    drop(waiter);
    match r {
        Err(int) => Err(Stop::Interrupted(int)),
        Ok(_) if !hub.reactor.is_registered(token) => Err(Stop::Closed),
        Ok(fired) => Ok(fired),
    }
}

/// This hub's registration of `fd` made by a hook, if it is current (nothing is
/// registered here).
fn known_token(hub: &'static Hub, fd: c::c_int) -> Option<Token> {
    let index = usize::try_from(fd).ok()?;
    let (g, t) = REGS.try_with(|r| r.borrow().get(index).copied()).ok()??;
    (t != NONE && g == fdtable::get(fd).generation() && hub.reactor.is_registered(Token(t)))
        .then_some(Token(t))
}

/// [`wait_fd`] on several fds at once (`poll`, `select`): returns when any of them
/// may be ready.
pub(super) fn wait_fds(
    hub: &'static Hub,
    fds: &[(c::c_int, Direction)],
    deadline: Option<Instant>,
    reason: &'static str,
) -> Result<bool, Stop> {
    let waker = hub.waker();
    let mut waiters = Vec::with_capacity(fds.len());
    for &(fd, dir) in fds {
        // One that cannot be waited on: the caller's poll sees it ready (or closed).
        let Ok(token) = token_for(hub, fd) else {
            continue;
        };
        if let Ok(w) = hub.reactor.add_waiter(token, dir, waker) {
            waiters.push(w);
        }
    }
    if waiters.is_empty() {
        return Err(Stop::NotPollable);
    }
    count_park();
    let r = hub.park_until_reporting(reason, deadline);
    drop(waiters);
    match r {
        Err(int) => Err(Stop::Interrupted(int)),
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
    /// The user's own `O_NONBLOCK`, once looked at.
    user_nonblocking: bool,
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
            user_nonblocking: false,
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
            self.user_nonblocking = user_nonblocking(self.fd);
            if !self.user_nonblocking {
                self.deadline =
                    timeout(self.fd, self.dir).and_then(|t| Instant::now().checked_add(t));
            }
        }
        if self.user_nonblocking || self.deadline.is_some_and(|d| Instant::now() >= d) {
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

/// The socket's `SO_RCVTIMEO` (reads) or `SO_SNDTIMEO`: asked of the kernel until it
/// said "none" once, which the fd table keeps until the fd is closed or a hooked
/// `setsockopt` sets a timeout (see `arch/monkey.md` on what a hook cannot see).
fn timeout(fd: c::c_int, dir: Direction) -> Option<std::time::Duration> {
    let fact = match dir {
        Direction::Read => Fact::NoReadTimeout,
        Direction::Write => Fact::NoWriteTimeout,
    };
    let seen = fdtable::get(fd);
    if seen.has(fact) {
        return None;
    }
    let t = sys::sock_timeout(fd, dir == Direction::Write);
    if t.is_none() {
        fdtable::learn(fd, seen, &[fact], &[]);
    }
    t
}

/// Whether `fd` is a TCP socket (asked once, then kept in the fd table).
fn is_tcp(fd: c::c_int) -> bool {
    let seen = fdtable::get(fd);
    if seen.has(Fact::TcpKnown) {
        return seen.has(Fact::IsTcp);
    }
    let tcp = sys::is_tcp(fd);
    let facts: &[Fact] = if tcp {
        &[Fact::TcpKnown, Fact::IsTcp]
    } else {
        &[Fact::TcpKnown]
    };
    fdtable::learn(fd, seen, facts, &[]);
    tcp
}

/// A plain `recv` (no flags) of at most `len` bytes, with the short-read rule of
/// `greenlet::net`'s TCP reads: a read that filled less than its buffer drained the
/// socket, so the next one, if no edge came since and the socket is blocking, parks
/// without first asking the kernel for an `EAGAIN`. TCP only (a Unix stream read may
/// stop short between writers); see `io::Registration::do_stream_read`.
pub(super) fn stream_read(
    mut b: Blocking,
    len: usize,
    mut op: impl FnMut() -> isize,
    block: impl FnOnce() -> isize,
) -> isize {
    let (hub, fd) = (b.hub, b.fd);
    if let Some(token) = known_token(hub, fd)
        && hub.reactor.read_drained(token)
        && is_tcp(fd)
    {
        match b.would_block() {
            Next::Retry => {}
            // The user's own non-blocking mode gets the kernel's answer.
            Next::Fail(c::EAGAIN) if b.user_nonblocking => {}
            Next::Fail(e) => {
                sys::set_errno(e);
                return -1;
            }
            Next::Block => return block(),
        }
    }
    let n = once(b, &mut op, block);
    if n > 0
        && (n as usize) < len
        && let Some(token) = known_token(hub, fd)
        && is_tcp(fd)
    {
        hub.reactor.mark_drained(token);
    }
    n
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
