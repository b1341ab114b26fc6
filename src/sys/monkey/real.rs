//! libc's own entry points, for the functions the `monkey` feature defines itself.
//!
//! With the feature on, the crate's `recv` *is* the program's `recv`: a call to
//! `libc::recv` from anywhere in the program, this crate included, lands in the
//! hook. Everything that must reach the C library (the hooks forwarding a call, the
//! runtime's own socket calls) calls these instead: each finds libc's definition
//! once with `dlsym(RTLD_NEXT, name)` (the next definition after this executable's,
//! which is libc's) and keeps the pointer in an atomic. Resolving takes no lock of
//! ours and calls no hooked function, so it is safe before `main`, in a thread's
//! teardown and from a hook; a symbol that cannot be found aborts with its name.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use libc::{
    addrinfo, c_char, c_int, c_uint, clockid_t, fd_set, hostent, iovec, msghdr, nfds_t, pid_t,
    pollfd, rusage, sigset_t, size_t, sockaddr, socklen_t, ssize_t, timespec, timeval, useconds_t,
};

/// Finds `name` (NUL-terminated) in the objects loaded after this one.
#[cold]
#[inline(never)]
fn resolve(slot: &AtomicPtr<c_void>, name: &'static str) -> *mut c_void {
    // SAFETY: `name` is a NUL-terminated literal; RTLD_NEXT is a valid handle.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) };
    if p.is_null() {
        super::fatal(&[
            "greenlet (monkey): dlsym(RTLD_NEXT) cannot find the C library's `",
            name.trim_end_matches('\0'),
            "`; the hooks cannot forward to it\n",
        ]);
    }
    slot.store(p, Ordering::Relaxed);
    p
}

macro_rules! real {
    ($( $(#[$m:meta])* fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) -> $ret:ty; )*) => {
        $(
            $(#[$m])*
            /// libc's own definition (see the module docs).
            ///
            /// # Safety
            ///
            /// The C function's own contract: pointers valid for what it reads and
            /// writes.
            #[inline]
            pub(crate) unsafe fn $name($($arg: $ty),*) -> $ret {
                static PTR: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());
                let mut p = PTR.load(Ordering::Relaxed);
                if p.is_null() {
                    p = resolve(&PTR, concat!(stringify!($name), "\0"));
                }
                // SAFETY: `p` is the C library's `$name`, whose C type this is.
                let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(p) };
                // SAFETY: the caller keeps the C function's contract.
                unsafe { f($($arg),*) }
            }
        )*
    };
}

real! {
    fn recvfrom(
        fd: c_int, buf: *mut c_void, len: size_t, flags: c_int, addr: *mut sockaddr,
        addrlen: *mut socklen_t,
    ) -> ssize_t;
    fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
    fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t;
    fn sendto(
        fd: c_int, buf: *const c_void, len: size_t, flags: c_int, addr: *const sockaddr,
        addrlen: socklen_t,
    ) -> ssize_t;
    fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
    fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    fn setsockopt(
        fd: c_int, level: c_int, name: c_int, value: *const c_void, len: socklen_t,
    ) -> c_int;
    fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
    fn read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t;
    fn write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t;
    fn readv(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t;
    fn writev(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t;
    fn poll(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int;
    fn ppoll(
        fds: *mut pollfd, n: nfds_t, timeout: *const timespec, mask: *const sigset_t,
    ) -> c_int;
    fn select(
        n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, timeout: *mut timeval,
    ) -> c_int;
    fn clock_nanosleep(
        clock: clockid_t, flags: c_int, req: *const timespec, rem: *mut timespec,
    ) -> c_int;
    fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int;
    fn usleep(us: useconds_t) -> c_int;
    fn sleep(secs: c_uint) -> c_uint;
    fn close(fd: c_int) -> c_int;
    fn dup2(old: c_int, new: c_int) -> c_int;
    fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
    fn getaddrinfo(
        node: *const c_char, service: *const c_char, hints: *const addrinfo,
        res: *mut *mut addrinfo,
    ) -> c_int;
    fn getnameinfo(
        sa: *const sockaddr, salen: socklen_t, host: *mut c_char, hostlen: socklen_t,
        serv: *mut c_char, servlen: socklen_t, flags: c_int,
    ) -> c_int;
    fn gethostbyname(name: *const c_char) -> *mut hostent;
    fn waitpid(pid: pid_t, status: *mut c_int, options: c_int) -> pid_t;
    fn wait4(pid: pid_t, status: *mut c_int, options: c_int, usage: *mut rusage) -> pid_t;
}
