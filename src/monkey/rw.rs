//! `read`, `write`, `readv`, `writev` on whatever fd they are given. What can be
//! tried without blocking depends on the kind of fd, learnt once with `fstat` and
//! kept in the fd table until the fd is closed: sockets, pipes, FIFOs and eventfds
//! take `preadv2`/`pwritev2` with `RWF_NOWAIT` (no flag of the fd is touched);
//! ttys, and fds where `RWF_NOWAIT` is refused, are asked with `poll` first; regular
//! files, directories and block devices pass through, and so do stdin, stdout and
//! stderr (see `arch/monkey.md`: std holds a lock across their calls).

use super::active;
use super::fdtable::{self, Kind};
use super::wait::{self, Blocking};
use crate::hub::Direction;
use crate::sys::monkey::c::{
    EAGAIN, EINVAL, ENOSYS, EOPNOTSUPP, POLLIN, POLLOUT, c_int, c_void, iovec, size_t, ssize_t,
};
use crate::sys::monkey::{self as sys, FdType, real};

/// The kind of `fd`, looked up once.
fn kind(fd: c_int) -> Kind {
    let e = fdtable::get(fd);
    match e.kind() {
        Kind::Unknown => {
            let k = if (0..=2).contains(&fd) {
                Kind::Pass
            } else {
                match sys::fd_type(fd) {
                    // Not open: the real call says EBADF.
                    None => return Kind::Pass,
                    Some(FdType::File) => Kind::Pass,
                    Some(FdType::Char) => Kind::PollFirst,
                    Some(FdType::Other) => Kind::NoWait,
                }
            };
            fdtable::set_kind(fd, e, k);
            k
        }
        k => k,
    }
}

/// Whether a `RWF_NOWAIT` call's error means "not on this kind of fd".
fn nowait_refused() -> bool {
    matches!(sys::errno(), EOPNOTSUPP | EINVAL | ENOSYS)
}

/// One try of a read or write that does not block: `-1` with `EAGAIN` if it would.
fn try_io(
    fd: c_int,
    dir: Direction,
    iov: *const iovec,
    n: c_int,
    real: &dyn Fn() -> isize,
) -> isize {
    if kind(fd) == Kind::NoWait {
        // SAFETY: the caller's iovecs, valid for this direction (the hook's contract).
        let r = unsafe {
            match dir {
                Direction::Read => sys::read_nowait(fd, iov, n),
                Direction::Write => sys::write_nowait(fd, iov, n),
            }
        };
        if r >= 0 || !nowait_refused() {
            return r;
        }
        fdtable::set_kind(fd, fdtable::get(fd), Kind::PollFirst);
    }
    let events = match dir {
        Direction::Read => POLLIN,
        Direction::Write => POLLOUT,
    };
    if sys::poll_now(fd, events) == 0 {
        sys::set_errno(EAGAIN);
        return -1;
    }
    // Ready (or in error, or not pollable): the real call, which should not wait.
    real()
}

/// `read(2)`, green for sockets, pipes, ttys and eventfds.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t {
    let hub = active();
    let Some(hub) = hub.filter(|_| kind(fd) != Kind::Pass) else {
        // SAFETY: the caller's contract.
        return unsafe { real::read(fd, buf, len) };
    };
    let iov = iovec {
        iov_base: buf,
        iov_len: len,
    };
    // SAFETY: the caller's contract.
    let real = || unsafe { real::read(fd, buf, len) };
    wait::once(
        Blocking::new(hub, fd, Direction::Read, "read (monkey)"),
        || try_io(fd, Direction::Read, &iov, 1, &real),
        real,
    )
}

/// `readv(2)`, green; see [`read`].
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t {
    let Some(hub) = active().filter(|_| kind(fd) != Kind::Pass) else {
        // SAFETY: the caller's contract.
        return unsafe { real::readv(fd, iov, n) };
    };
    // SAFETY: the caller's contract.
    let real = || unsafe { real::readv(fd, iov, n) };
    wait::once(
        Blocking::new(hub, fd, Direction::Read, "readv (monkey)"),
        || try_io(fd, Direction::Read, iov, n, &real),
        real,
    )
}

/// `write(2)`, green: like a blocking write, it returns once all of `len` is
/// written, or with the part written when an error or an interrupt stops it.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
    let Some(hub) = active().filter(|_| kind(fd) != Kind::Pass) else {
        // SAFETY: the caller's contract.
        return unsafe { real::write(fd, buf, len) };
    };
    let part = |done: usize| iovec {
        // SAFETY: `done <= len`, within the caller's buffer.
        iov_base: unsafe { buf.add(done) } as *mut c_void,
        iov_len: len - done,
    };
    wait::all(
        Blocking::new(hub, fd, Direction::Write, "write (monkey)"),
        len,
        |done| {
            let iov = part(done);
            // SAFETY: the caller's buffer, past what was written.
            let real = || unsafe { real::write(fd, iov.iov_base, iov.iov_len) };
            try_io(fd, Direction::Write, &iov, 1, &real)
        },
        // SAFETY: as above.
        |done| unsafe { real::write(fd, part(done).iov_base, len - done) },
    )
}

/// `writev(2)`, green; see [`write`].
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t {
    let Some(hub) = active().filter(|_| kind(fd) != Kind::Pass && n > 0) else {
        // SAFETY: the caller's contract.
        return unsafe { real::writev(fd, iov, n) };
    };
    // SAFETY: the caller's iovecs.
    let all = unsafe { iovecs(iov, n as usize) };
    let len = total(all);
    let io = |done: usize, nowait: bool| {
        let part = if done == 0 {
            Vec::new()
        } else {
            advanced(all, done)
        };
        let (p, k) = if done == 0 {
            (iov, n)
        } else {
            (part.as_ptr(), part.len() as c_int)
        };
        // SAFETY: the caller's buffers, past what was written.
        let real = || unsafe { real::writev(fd, p, k) };
        if nowait {
            try_io(fd, Direction::Write, p, k, &real)
        } else {
            real()
        }
    };
    wait::all(
        Blocking::new(hub, fd, Direction::Write, "writev (monkey)"),
        len,
        |done| io(done, true),
        |done| io(done, false),
    )
}

/// The caller's iovec array as a slice (empty for a null or empty one).
///
/// # Safety
///
/// `iov` points to `n` iovecs (or `n` is 0).
pub(super) unsafe fn iovecs<'a>(iov: *const iovec, n: usize) -> &'a [iovec] {
    if iov.is_null() || n == 0 {
        return &[];
    }
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts(iov, n) }
}

/// The bytes the iovecs hold.
pub(super) fn total(iov: &[iovec]) -> usize {
    iov.iter().fold(0usize, |n, v| n.saturating_add(v.iov_len))
}

/// The iovecs past the first `done` bytes.
pub(super) fn advanced(iov: &[iovec], mut done: usize) -> Vec<iovec> {
    let mut out = Vec::with_capacity(iov.len());
    for v in iov {
        if done >= v.iov_len {
            done -= v.iov_len;
            continue;
        }
        out.push(iovec {
            // SAFETY: `done < iov_len`: within this buffer.
            iov_base: unsafe { v.iov_base.cast::<u8>().add(done) }.cast(),
            iov_len: v.iov_len - done,
        });
        done = 0;
    }
    out
}
