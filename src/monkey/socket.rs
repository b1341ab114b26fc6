//! The socket calls: `recv`, `recvfrom`, `recvmsg`, `send`, `sendto`, `sendmsg`,
//! `connect`, `accept`, `accept4`. Reads and writes add `MSG_DONTWAIT` to one try
//! (the fd's flags are never touched); `connect` and `accept` have no such flag, so
//! they turn `O_NONBLOCK` on around the one call, as std's `connect_timeout` does,
//! and put the user's flags back before anything else runs.

use std::time::Instant;

use super::wait::{self, Blocking, Stop};
use super::{active, fdtable, interrupt_errno};
use crate::hub::{Direction, Hub};
use crate::sys::monkey::c::{
    EAGAIN, EBADF, EINPROGRESS, MSG_DONTWAIT, MSG_WAITALL, O_NONBLOCK, POLLIN, POLLOUT,
    SO_RCVTIMEO, SO_SNDTIMEO, SOL_SOCKET, c_int, c_void, msghdr, size_t, sockaddr, socklen_t,
    ssize_t,
};
use crate::sys::monkey::{self as sys, real};

/// `recv(2)`, green.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn recv(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        recvfrom(
            fd,
            buf,
            len,
            flags,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// `recvfrom(2)`, green; `MSG_WAITALL` waits for all of `len`, as the kernel does.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    let Some(hub) = active().filter(|_| flags & MSG_DONTWAIT == 0) else {
        // SAFETY: the caller's contract.
        return unsafe { real::recvfrom(fd, buf, len, flags, addr, addrlen) };
    };
    let b = Blocking::new(hub, fd, Direction::Read, "recv (monkey)");
    if flags & MSG_WAITALL != 0 && len > 0 {
        let flags = flags & !MSG_WAITALL;
        return wait::all(
            b,
            len,
            // SAFETY: `buf` is valid for `len` bytes (the caller's contract) and
            // `done < len`.
            |done| unsafe {
                real::recvfrom(
                    fd,
                    buf.add(done),
                    len - done,
                    flags | MSG_DONTWAIT,
                    addr,
                    addrlen,
                )
            },
            // SAFETY: as above.
            |done| unsafe { real::recvfrom(fd, buf.add(done), len - done, flags, addr, addrlen) },
        );
    }
    if flags == 0 {
        return wait::stream_read(
            b,
            len,
            // SAFETY: the caller's contract.
            || unsafe { real::recvfrom(fd, buf, len, MSG_DONTWAIT, addr, addrlen) },
            // SAFETY: the caller's contract.
            || unsafe { real::recvfrom(fd, buf, len, 0, addr, addrlen) },
        );
    }
    wait::once(
        b,
        // SAFETY: the caller's contract.
        || unsafe { real::recvfrom(fd, buf, len, flags | MSG_DONTWAIT, addr, addrlen) },
        // SAFETY: the caller's contract.
        || unsafe { real::recvfrom(fd, buf, len, flags, addr, addrlen) },
    )
}

/// `recvmsg(2)`, green. With `MSG_WAITALL` it waits until the socket is readable,
/// then makes the real call (which may still wait for the rest).
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let Some(hub) = active().filter(|_| flags & MSG_DONTWAIT == 0) else {
        // SAFETY: the caller's contract.
        return unsafe { real::recvmsg(fd, msg, flags) };
    };
    let b = Blocking::new(hub, fd, Direction::Read, "recvmsg (monkey)");
    let try_flags = if flags & MSG_WAITALL != 0 {
        // Only a try that takes nothing: `MSG_PEEK` of the first byte would still
        // consume control data, so wait for readability with poll instead.
        return wait::once(
            b,
            || match sys::poll_now(fd, POLLIN) {
                0 => {
                    sys::set_errno(EAGAIN);
                    -1
                }
                // SAFETY: the caller's contract.
                _ => unsafe { real::recvmsg(fd, msg, flags) },
            },
            // SAFETY: the caller's contract.
            || unsafe { real::recvmsg(fd, msg, flags) },
        );
    } else {
        flags | MSG_DONTWAIT
    };
    wait::once(
        b,
        // SAFETY: the caller's contract.
        || unsafe { real::recvmsg(fd, msg, try_flags) },
        // SAFETY: the caller's contract.
        || unsafe { real::recvmsg(fd, msg, flags) },
    )
}

/// `send(2)`, green: like the kernel's blocking send, it returns once all of `len`
/// is sent (stream sockets take it in parts), or with the part sent when a timeout,
/// an error or an interrupt stops it.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn send(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: the caller's contract, passed on.
    unsafe { sendto(fd, buf, len, flags, std::ptr::null(), 0) }
}

/// `sendto(2)`, green; see [`send`].
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    let Some(hub) = active().filter(|_| flags & MSG_DONTWAIT == 0) else {
        // SAFETY: the caller's contract.
        return unsafe { real::sendto(fd, buf, len, flags, addr, addrlen) };
    };
    let b = Blocking::new(hub, fd, Direction::Write, "send (monkey)");
    wait::all(
        b,
        len,
        // SAFETY: `buf` is valid for `len` bytes (the caller's contract) and
        // `done < len`.
        |done| unsafe {
            real::sendto(
                fd,
                buf.add(done),
                len - done,
                flags | MSG_DONTWAIT,
                addr,
                addrlen,
            )
        },
        // SAFETY: as above.
        |done| unsafe { real::sendto(fd, buf.add(done), len - done, flags, addr, addrlen) },
    )
}

/// `sendmsg(2)`, green; see [`send`]. After a partial send the rest goes without
/// the control data (it went with the first part).
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    let Some(hub) = active().filter(|_| flags & MSG_DONTWAIT == 0 && !msg.is_null()) else {
        // SAFETY: the caller's contract.
        return unsafe { real::sendmsg(fd, msg, flags) };
    };
    // SAFETY: `msg` is a valid msghdr (the caller's contract).
    let m = unsafe { *msg };
    // SAFETY: its iovecs are valid (the caller's contract).
    let iov = unsafe { super::rw::iovecs(m.msg_iov, m.msg_iovlen) };
    let len = super::rw::total(iov);
    let b = Blocking::new(hub, fd, Direction::Write, "sendmsg (monkey)");
    let rest = |done: usize, extra: c_int| {
        if done == 0 {
            // SAFETY: the caller's contract.
            return unsafe { real::sendmsg(fd, msg, flags | extra) };
        }
        let mut part = super::rw::advanced(iov, done);
        let mut m2 = m;
        m2.msg_iov = part.as_mut_ptr();
        m2.msg_iovlen = part.len() as _;
        m2.msg_control = std::ptr::null_mut();
        m2.msg_controllen = 0;
        // SAFETY: `m2` points at the caller's buffers, past what was sent.
        unsafe { real::sendmsg(fd, &m2, flags | extra) }
    };
    wait::all(
        b,
        len,
        |done| rest(done, MSG_DONTWAIT),
        |done| rest(done, 0),
    )
}

/// `connect(2)`, green: on a blocking socket it waits for the handshake on the hub
/// (with `SO_SNDTIMEO`, after which it fails with `EINPROGRESS`, as Linux does).
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let hub = active();
    let flags = hub.and_then(|_| sys::fd_flags(fd));
    let (Some(hub), Some(flags)) = (hub, flags) else {
        // SAFETY: the caller's contract.
        return unsafe { real::connect(fd, addr, len) };
    };
    if flags & O_NONBLOCK != 0 && !fdtable::flipped_by_us(fd) {
        // SAFETY: the caller's contract.
        return unsafe { real::connect(fd, addr, len) };
    }
    // SAFETY: the caller's contract.
    let r = with_nonblocking(fd, flags, || unsafe { real::connect(fd, addr, len) });
    if r == 0 {
        return 0;
    }
    match sys::errno() {
        EINPROGRESS => wait_connected(hub, fd),
        // A Unix socket whose listener's backlog is full: no readiness to wait for;
        // the real call waits, blocking the thread (rare; see arch/monkey.md).
        // SAFETY: the caller's contract.
        EAGAIN => unsafe { real::connect(fd, addr, len) },
        _ => -1,
    }
}

/// Waits for a connection in progress to end, and reports how it ended.
fn wait_connected(hub: &'static Hub, fd: c_int) -> c_int {
    let deadline = sys::sock_timeout(fd, true).and_then(|t| Instant::now().checked_add(t));
    loop {
        if sys::poll_now(fd, POLLOUT) != 0 {
            return match sys::so_error(fd) {
                0 => 0,
                e => {
                    sys::set_errno(e);
                    -1
                }
            };
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            sys::set_errno(EINPROGRESS);
            return -1;
        }
        let e = match wait::wait_fd(hub, fd, Direction::Write, deadline, "connect (monkey)") {
            Ok(_) => continue,
            Err(Stop::Closed) => EBADF,
            Err(Stop::Interrupted(int)) => interrupt_errno(int),
            Err(Stop::NotPollable) => EINPROGRESS,
        };
        sys::set_errno(e);
        return -1;
    }
}

/// Runs `op` with `O_NONBLOCK` on, then puts the user's blocking mode back (errno is
/// `op`'s). Only called for an fd the user left blocking: a set `O_NONBLOCK` in
/// `flags` is another thread's flip, and is not put back.
fn with_nonblocking(fd: c_int, flags: c_int, op: impl FnOnce() -> c_int) -> c_int {
    fdtable::flip_begin(fd);
    sys::set_fd_flags(fd, flags | O_NONBLOCK);
    let r = op();
    let e = sys::errno();
    sys::set_fd_flags(fd, flags & !O_NONBLOCK);
    fdtable::flip_end(fd);
    sys::set_errno(e);
    r
}

/// `accept(2)`, green.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn accept(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    // SAFETY: the caller's contract; accept is accept4 without flags.
    unsafe { accept4(fd, addr, len, 0) }
}

/// `accept4(2)`, green: on a blocking listener it waits on the hub (and honours
/// `SO_RCVTIMEO`, failing with `EAGAIN`, as Linux does).
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    let hub = active();
    let fl = hub.and_then(|_| sys::fd_flags(fd));
    let (Some(hub), Some(fl)) = (hub, fl) else {
        // SAFETY: the caller's contract.
        return unsafe { real::accept4(fd, addr, len, flags) };
    };
    if fl & O_NONBLOCK != 0 && !fdtable::flipped_by_us(fd) {
        // SAFETY: the caller's contract.
        return unsafe { real::accept4(fd, addr, len, flags) };
    }
    let b = Blocking::new(hub, fd, Direction::Read, "accept (monkey)");
    wait::once(
        b,
        // SAFETY: the caller's contract.
        || with_nonblocking(fd, fl, || unsafe { real::accept4(fd, addr, len, flags) }) as isize,
        // SAFETY: the caller's contract.
        || unsafe { real::accept4(fd, addr, len, flags) } as isize,
    ) as c_int
}

/// `setsockopt(2)`: a change of `SO_RCVTIMEO` or `SO_SNDTIMEO` makes the next wait
/// on the socket ask for its timeouts again; everything passes through.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    if level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO) {
        fdtable::timeouts_changed(fd);
    }
    // SAFETY: the caller's contract.
    unsafe { real::setsockopt(fd, level, name, value, len) }
}
