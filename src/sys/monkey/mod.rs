//! The platform half of the `monkey` feature: libc's own entry points (`real`),
//! the C types and constants the hooks are written in (`c`), errno, and the thin
//! calls the hooks make to learn about an fd (its flags, its kind, its socket
//! timeouts) without blocking. The hooks themselves, the `extern "C"` definitions
//! that replace libc's, live in `crate::monkey`: they are what the feature is, and
//! they need the layers above this one. Nothing here calls a hooked symbol through
//! `libc::`: a call to one of those lands in the hook (see `real`).

use std::time::Duration;

pub(crate) mod real;

/// The C types and constants the hooks' signatures and logic use.
pub(crate) mod c {
    pub(crate) use libc::{
        CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME, EAGAIN, EAI_SYSTEM, EBADF, ECANCELED,
        EINPROGRESS, EINVAL, ENOSYS, EOPNOTSUPP, ETIMEDOUT, FD_SETSIZE, MSG_DONTWAIT, MSG_WAITALL,
        O_NONBLOCK, POLLIN, POLLOUT, POLLPRI, POLLRDHUP, SO_RCVTIMEO, SO_SNDTIMEO, SOL_SOCKET,
        TIMER_ABSTIME, WCONTINUED, WNOHANG, WUNTRACED, addrinfo, c_char, c_int, c_uint, c_void,
        clockid_t, fd_set, hostent, iovec, msghdr, nfds_t, pid_t, pollfd, rusage, sigset_t, size_t,
        sockaddr, sockaddr_storage, socklen_t, ssize_t, timespec, timeval, useconds_t,
    };
}

use c::c_int;

/// The calling thread's `errno`.
#[inline]
pub(crate) fn errno() -> c_int {
    // SAFETY: `__errno_location` returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno`.
#[inline]
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = e };
}

/// Sets glibc's thread-local `h_errno` (the error of `gethostbyname`).
pub(crate) fn set_h_errno(e: c_int) {
    unsafe extern "C" {
        fn __h_errno_location() -> *mut c_int;
    }
    // SAFETY: glibc's accessor of the calling thread's h_errno slot.
    unsafe { *__h_errno_location() = e };
}

/// glibc's `h_errno` of the calling thread.
pub(crate) fn h_errno() -> c_int {
    unsafe extern "C" {
        fn __h_errno_location() -> *mut c_int;
    }
    // SAFETY: as in `set_h_errno`.
    unsafe { *__h_errno_location() }
}

/// glibc's `NO_RECOVERY` (`h_errno` for an error that is not the name's fault).
pub(crate) const NO_RECOVERY: c_int = 3;

/// Writes `parts` to stderr with a raw syscall and aborts: for faults where nothing
/// else may be called (a hook that cannot forward).
pub(crate) fn fatal(parts: &[&str]) -> ! {
    for p in parts {
        // SAFETY: `p` is valid for `p.len()` bytes; a raw write(2) reaches no hook.
        unsafe { libc::syscall(libc::SYS_write, 2, p.as_ptr(), p.len()) };
    }
    // SAFETY: abort(3) takes no arguments and does not return.
    unsafe { libc::abort() }
}

/// Whether `GREENLET_MONKEY=0` is set: the hooks then forward every call.
pub(crate) fn env_disabled() -> bool {
    // SAFETY: a NUL-terminated name; the result is read at once, before any setenv
    // of ours could run (we never call setenv).
    let v = unsafe { libc::getenv(c"GREENLET_MONKEY".as_ptr()) };
    if v.is_null() {
        return false;
    }
    // SAFETY: getenv returns a NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(v) };
    v.to_bytes() == b"0"
}

/// The file status flags (`F_GETFL`) of `fd`, or `None` if it is not open.
pub(crate) fn fd_flags(fd: c_int) -> Option<c_int> {
    // SAFETY: F_GETFL takes no pointer; a bad fd is EBADF.
    let f = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    (f >= 0).then_some(f)
}

/// Sets the file status flags of `fd` (errors are ignored: the fd was open a moment
/// ago, and the caller restores what it read).
pub(crate) fn set_fd_flags(fd: c_int, flags: c_int) {
    // SAFETY: F_SETFL takes an int; a bad fd is EBADF.
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
}

/// The socket's `SO_RCVTIMEO` (`write` false) or `SO_SNDTIMEO`, `None` for none or
/// for an fd that is not a socket.
pub(crate) fn sock_timeout(fd: c_int, write: bool) -> Option<Duration> {
    let opt = if write {
        libc::SO_SNDTIMEO
    } else {
        libc::SO_RCVTIMEO
    };
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `tv` and `len` are valid for writes and `len` is `tv`'s size.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, opt, (&raw mut tv).cast(), &mut len) };
    if r != 0 || (tv.tv_sec == 0 && tv.tv_usec == 0) {
        return None;
    }
    Some(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
}

/// Whether `fd` is a TCP socket (`SO_PROTOCOL`); false for anything else.
pub(crate) fn is_tcp(fd: c_int) -> bool {
    let mut proto: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: `proto` and `len` are valid for writes and `len` is `proto`'s size.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PROTOCOL,
            (&raw mut proto).cast(),
            &mut len,
        )
    };
    r == 0 && proto == libc::IPPROTO_TCP
}

/// The socket's pending error (`SO_ERROR`), 0 for none.
pub(crate) fn so_error(fd: c_int) -> c_int {
    let mut err: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: `err` and `len` are valid for writes and `len` is `err`'s size.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut err).cast(),
            &mut len,
        )
    };
    if r != 0 { errno() } else { err }
}

/// What an fd is, as far as waiting on it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FdType {
    /// A regular file, directory or block device: epoll cannot wait on it and a read
    /// never waits for a peer. Calls on it pass through.
    File,
    /// A character device (a tty, say): no `RWF_NOWAIT`; ask `poll` first.
    Char,
    /// A socket, pipe, FIFO or anonymous inode (eventfd, timerfd, ...).
    Other,
}

/// `fstat`'s answer about `fd`, `None` if it is not open.
pub(crate) fn fd_type(fd: c_int) -> Option<FdType> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is valid for writes.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    Some(match st.st_mode & libc::S_IFMT {
        libc::S_IFREG | libc::S_IFDIR | libc::S_IFBLK => FdType::File,
        libc::S_IFCHR => FdType::Char,
        _ => FdType::Other,
    })
}

/// `preadv2(fd, iov, n, -1, RWF_NOWAIT)`: a read that fails with `EAGAIN` instead
/// of waiting, without touching the fd's flags (`EOPNOTSUPP` where the kind of fd
/// does not support it).
///
/// # Safety
///
/// `iov` points to `n` iovecs whose buffers are valid for writes.
pub(crate) unsafe fn read_nowait(fd: c_int, iov: *const libc::iovec, n: c_int) -> isize {
    // SAFETY: the caller's contract; offset -1 reads at the current position.
    unsafe { libc::preadv2(fd, iov, n, -1, libc::RWF_NOWAIT) }
}

/// `pwritev2(fd, iov, n, -1, RWF_NOWAIT)`; see [`read_nowait`].
///
/// # Safety
///
/// `iov` points to `n` iovecs whose buffers are valid for reads.
pub(crate) unsafe fn write_nowait(fd: c_int, iov: *const libc::iovec, n: c_int) -> isize {
    // SAFETY: the caller's contract.
    unsafe { libc::pwritev2(fd, iov, n, -1, libc::RWF_NOWAIT) }
}

/// `poll` on one fd without waiting: its `revents`, or -1 (errno set).
pub(crate) fn poll_now(fd: c_int, events: libc::c_short) -> c_int {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { real::poll(&mut p, 1, 0) };
    if n < 0 { -1 } else { c_int::from(p.revents) }
}

/// `pidfd_open(pid, 0)`: an fd that becomes readable when the process exits, or -1.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> c_int {
    // SAFETY: the syscall takes two integers.
    unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) as c_int }
}

/// Frees what `getaddrinfo` returned.
///
/// # Safety
///
/// `p` came from `getaddrinfo` and is freed once.
pub(crate) unsafe fn freeaddrinfo(p: *mut libc::addrinfo) {
    // SAFETY: the caller's contract.
    unsafe { libc::freeaddrinfo(p) }
}

/// Now on `clock` (`CLOCK_REALTIME`, `CLOCK_MONOTONIC`, ...), `None` for a clock
/// that cannot be read.
pub(crate) fn clock_now(clock: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is valid for writes.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// `FD_ISSET`; false for an fd outside the set's range.
pub(crate) fn fd_isset(fd: c_int, set: &libc::fd_set) -> bool {
    // SAFETY: FD_ISSET reads the set, and the range is checked first.
    (0..libc::FD_SETSIZE as c_int).contains(&fd) && unsafe { libc::FD_ISSET(fd, set) }
}

/// `FD_ZERO`.
pub(crate) fn fd_zero(set: &mut libc::fd_set) {
    // SAFETY: FD_ZERO writes the set it is given.
    unsafe { libc::FD_ZERO(set) }
}

/// Gives each Rust function `$f` the C name `$name`, as a *weak* definition: a
/// one-instruction trampoline (`jmp`) in its own text section. Weak, so that a
/// program (or a test) that defines the same libc function itself keeps its own,
/// with no duplicate-symbol error, and so that two copies of the crate cannot clash.
/// A weak definition in the executable still takes precedence over libc's shared
/// one. The hooks are given their C names through this macro (x86_64 only, as
/// the crate is).
macro_rules! weak_c_names {
    ($($name:ident => $f:path),* $(,)?) => {
        $(
            ::std::arch::global_asm!(
                concat!(".pushsection .text.greenlet_monkey_", stringify!($name), ",\"ax\",@progbits"),
                concat!(".weak ", stringify!($name)),
                concat!(".type ", stringify!($name), ",@function"),
                ".p2align 4",
                concat!(stringify!($name), ":"),
                ".cfi_startproc",
                "jmp {f}",
                ".cfi_endproc",
                concat!(".size ", stringify!($name), ", . - ", stringify!($name)),
                ".popsection",
                f = sym $f,
            );
        )*
    };
}
pub(crate) use weak_c_names;

/// `len` bytes of fresh zeroed memory from `mmap`, or null: async-signal-safe, unlike
/// `malloc`, for tables a hook may grow from inside a signal handler.
pub(crate) fn map_zeroed(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

/// Unmaps what [`map_zeroed`] returned.
///
/// # Safety
///
/// `p` and `len` are a mapping from `map_zeroed` that nothing uses any more.
pub(crate) unsafe fn unmap(p: *mut u8, len: usize) {
    // SAFETY: the caller's contract.
    unsafe { libc::munmap(p.cast(), len) };
}
