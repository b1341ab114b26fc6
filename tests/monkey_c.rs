//! The hooks as C code calls them (the libc functions std does not use): each call
//! parks a greenlet while a ticker of the same hub runs and then makes the move the
//! call waits for, as in `monkey_std.rs`.

#![cfg(feature = "monkey")]

mod support;

use std::cell::Cell;
use std::ffi::CStr;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Instant;

use support::watchdog::watchdog;
use support::{assert_took, ms};

const TICKS: u32 = 5;

fn ticker(then: impl FnOnce() + 'static) -> (Rc<Cell<u32>>, greenlet::Greenlet<()>) {
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let g = greenlet::spawn(move || {
        for _ in 0..TICKS {
            greenlet::yield_now();
            t.set(t.get() + 1);
        }
        then();
    });
    (ticks, g)
}

fn errno() -> i32 {
    // SAFETY: reading this thread's errno.
    unsafe { *libc::__errno_location() }
}

#[test]
fn sendmsg_and_recvmsg() {
    let _w = watchdog("msg");
    let (a, b) = UnixStream::pair().unwrap();
    let (a, b): (OwnedFd, OwnedFd) = (a.into(), b.into());
    let fd = b.as_raw_fd();
    let (ticks, g) = ticker(move || {
        let mut parts = [*b"two ", *b"iov!"];
        let mut iov = [
            libc::iovec {
                iov_base: parts[0].as_mut_ptr().cast(),
                iov_len: 4,
            },
            libc::iovec {
                iov_base: parts[1].as_mut_ptr().cast(),
                iov_len: 4,
            },
        ];
        // SAFETY: an all-zero msghdr is valid; it points at two live iovecs.
        let n = unsafe {
            let mut m: libc::msghdr = std::mem::zeroed();
            m.msg_iov = iov.as_mut_ptr();
            m.msg_iovlen = 2;
            libc::sendmsg(fd, &m, 0)
        };
        assert_eq!(n, 8);
        let _keep = b;
    });
    let mut buf = [0u8; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above, one live iovec.
    let n = unsafe {
        let mut m: libc::msghdr = std::mem::zeroed();
        m.msg_iov = &mut iov;
        m.msg_iovlen = 1;
        libc::recvmsg(a.as_raw_fd(), &mut m, 0)
    };
    assert_eq!((ticks.get(), n), (TICKS, 8));
    assert_eq!(&buf[..8], b"two iov!");
    g.join().unwrap();
}

#[test]
fn accept_on_a_blocking_listener() {
    let _w = watchdog("accept");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (ticks, g) = ticker(move || {
        let _c = std::net::TcpStream::connect(addr).unwrap();
    });
    // SAFETY: null address pointers ask for no address.
    let fd = unsafe { libc::accept(l.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut()) };
    assert!(fd >= 0, "errno {}", errno());
    assert_eq!(ticks.get(), TICKS);
    // SAFETY: a new fd of ours.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    g.join().unwrap();
}

#[test]
fn ppoll_without_a_mask() {
    let _w = watchdog("ppoll");
    let (a, b) = UnixStream::pair().unwrap();
    let (ticks, g) = ticker(move || {
        std::io::Write::write_all(&mut &b, b"x").unwrap();
    });
    let mut p = libc::pollfd {
        fd: a.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: 10,
        tv_nsec: 0,
    };
    // SAFETY: one valid pollfd and timespec, no mask.
    let n = unsafe { libc::ppoll(&mut p, 1, &ts, std::ptr::null()) };
    // Readable, and hung up: the ticker's end dropped the other side.
    assert_eq!((ticks.get(), n), (TICKS, 1));
    assert_eq!(p.revents, libc::POLLIN | libc::POLLHUP);
    g.join().unwrap();
}

#[test]
fn sleep_of_one_second_in_two_greenlets_takes_one() {
    let _w = watchdog("sleep");
    let start = Instant::now();
    // SAFETY: sleep takes an integer.
    let gs = [0, 1].map(|_| greenlet::spawn(|| unsafe { libc::sleep(1) }));
    for g in gs {
        assert_eq!(g.join().unwrap(), 0);
    }
    assert_took(start, ms(1000));
}

#[test]
fn dup2_over_a_waited_fd_wakes_the_waiter() {
    let _w = watchdog("dup2");
    let (a, _b) = UnixStream::pair().unwrap();
    let (c, _d) = UnixStream::pair().unwrap();
    let fd = a.into_raw_fd();
    let waiter = greenlet::spawn(move || {
        let mut buf = [0u8; 1];
        // SAFETY: a valid buffer.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), 1, 0) };
        (n, errno())
    });
    greenlet::yield_now(); // It parks in recv.
    // SAFETY: `fd` is ours; dup2 makes it a copy of `c` (closing what it was).
    assert_eq!(unsafe { libc::dup2(c.as_raw_fd(), fd) }, fd);
    assert_eq!(waiter.join().unwrap(), (-1, libc::EBADF));
    // SAFETY: the copy is ours.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
}

#[test]
fn getnameinfo_and_gethostbyname() {
    let _w = watchdog("names");
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 80u16.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
        },
        sin_zero: [0; 8],
    };
    let mut host = [0 as libc::c_char; 64];
    let mut serv = [0 as libc::c_char; 32];
    // SAFETY: a valid sockaddr_in and buffers of the lengths given.
    let r = unsafe {
        libc::getnameinfo(
            (&raw const sa).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            serv.as_mut_ptr(),
            serv.len() as libc::socklen_t,
            libc::NI_NUMERICHOST | libc::NI_NUMERICSERV,
        )
    };
    assert_eq!(r, 0);
    // SAFETY: getnameinfo wrote NUL-terminated strings.
    let (h, s) = unsafe { (CStr::from_ptr(host.as_ptr()), CStr::from_ptr(serv.as_ptr())) };
    assert_eq!(
        (h.to_str().unwrap(), s.to_str().unwrap()),
        ("127.0.0.1", "80")
    );

    unsafe extern "C" {
        fn gethostbyname(name: *const libc::c_char) -> *mut libc::hostent;
    }
    // SAFETY: a NUL-terminated name; the result is glibc's static data.
    let he = unsafe { gethostbyname(c"localhost".as_ptr()) };
    assert!(!he.is_null());
    // SAFETY: a non-null hostent from gethostbyname has a valid h_name.
    let name = unsafe { CStr::from_ptr((*he).h_name) };
    assert!(!name.to_bytes().is_empty());
}

#[test]
fn wait4_for_a_child() {
    let _w = watchdog("wait4");
    // Reaped by the wait4 under test, not by `Child::wait`.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new("sh")
        .args(["-c", "sleep 0.1; exit 7"])
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let (ticks, g) = ticker(|| {});
    let mut status = 0;
    // SAFETY: a zeroed rusage and a status slot, both valid for writes.
    let r = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::wait4(pid, &mut status, 0, &mut ru)
    };
    assert_eq!(r, pid);
    assert_eq!(ticks.get(), TICKS, "the ticker ran while wait4 waited");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 7);
    g.join().unwrap();
}

#[test]
fn a_pty_read_and_write() {
    let _w = watchdog("pty");
    // SAFETY: posix_openpt and friends on a fresh master; ptsname's result is copied
    // at once.
    let (master, slave) = unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(m >= 0);
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let name = CStr::from_ptr(libc::ptsname(m)).to_owned();
        let s = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        assert!(s >= 0);
        // Raw mode: bytes pass as they are, no echo.
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(s, &mut t);
        libc::cfmakeraw(&mut t);
        libc::tcsetattr(s, libc::TCSANOW, &t);
        (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s))
    };
    let m = master.as_raw_fd();
    let (ticks, g) = ticker(move || {
        // SAFETY: a valid buffer; the master outlives the ticker (joined below).
        let n = unsafe { libc::write(m, b"to the tty".as_ptr().cast(), 10) };
        assert_eq!(n, 10);
    });
    let mut buf = [0u8; 10];
    let mut got = 0;
    while got < 10 {
        // SAFETY: a valid buffer past what was read.
        let n = unsafe { libc::read(slave.as_raw_fd(), buf[got..].as_mut_ptr().cast(), 10 - got) };
        assert!(n > 0, "errno {}", errno());
        got += n as usize;
    }
    assert_eq!((ticks.get(), &buf), (TICKS, b"to the tty"));
    g.join().unwrap();
}
