//! The `monkey` feature, one std API family at a time: each call is made unmodified
//! from a greenlet (std imports only), while a ticker greenlet of the same hub runs
//! and then makes the move the blocked call waits for. Without the hooks the call
//! would block the thread, the ticker would never run, and the watchdog would end
//! the test; with them the order is deterministic: the call parks, the ticker ticks
//! its count, unblocks it, and the call returns what was sent, byte for byte.

#![cfg(feature = "monkey")]

mod support;

use std::cell::Cell;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Instant;

use support::watchdog::watchdog;
use support::{assert_took, ms};

const TICKS: u32 = 10;

/// A greenlet that yields `TICKS` times, counting, then runs `then`. Returns the
/// tick counter.
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

#[test]
fn hooks_are_active_in_greenlets_and_on_the_root() {
    assert!(greenlet::spawn(greenlet::monkey::is_active).join().unwrap());
    let _ = greenlet::hub_stats(); // This thread now has a hub.
    assert!(greenlet::monkey::is_active());
}

#[test]
fn tcp_connect_accept_read_write_peek_vectored() {
    let _w = watchdog("tcp");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = greenlet::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 11];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
        buf
    });
    let client = greenlet::spawn(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        let c2 = c.try_clone().unwrap();
        let (ticks, g) = ticker(move || {
            let n = (&c2)
                .write_vectored(&[IoSlice::new(b"hello "), IoSlice::new(b"world")])
                .unwrap();
            assert_eq!(n, 11);
        });
        let mut peek = [0u8; 5];
        // Parks until the ticker's write arrives; the ticker has ticked by then.
        let n = c.peek(&mut peek).unwrap();
        assert_eq!(ticks.get(), TICKS, "the ticker ran while peek waited");
        assert!(n >= 1 && peek[..n] == b"hello"[..n]);
        g.join().unwrap();
        let mut echoed = Vec::new();
        while echoed.len() < 11 {
            let (mut a, mut b) = ([0u8; 6], [0u8; 5]);
            let n = c
                .read_vectored(&mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)])
                .unwrap();
            assert!(n > 0, "end of file before the echo");
            let both: Vec<u8> = a.iter().chain(&b).copied().collect();
            echoed.extend_from_slice(&both[..n]);
        }
        echoed
    });
    assert_eq!(client.join().unwrap(), b"hello world");
    assert_eq!(&server.join().unwrap(), b"hello world");
}

#[test]
fn udp_send_to_recv_from() {
    let _w = watchdog("udp");
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = rx.local_addr().unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let from = tx.local_addr().unwrap();
    let (ticks, g) = ticker(move || {
        assert_eq!(tx.send_to(b"datagram", to).unwrap(), 8);
    });
    let mut buf = [0u8; 64];
    let (n, peer) = rx.recv_from(&mut buf).unwrap();
    assert_eq!(ticks.get(), TICKS);
    assert_eq!((&buf[..n], peer), (&b"datagram"[..], from));
    g.join().unwrap();
}

#[test]
fn unix_stream_read_write() {
    let _w = watchdog("unix");
    let (mut a, b) = UnixStream::pair().unwrap();
    let (ticks, g) = ticker(move || {
        (&b).write_all(b"over a unix socket").unwrap();
    });
    let mut got = String::new();
    a.read_to_string(&mut got).unwrap(); // Until the ticker's end drops `b`.
    assert_eq!(ticks.get(), TICKS);
    assert_eq!(got, "over a unix socket");
    g.join().unwrap();
}

#[test]
fn thread_sleep_parks_only_its_greenlet() {
    let _w = watchdog("sleep");
    let start = Instant::now();
    let sleepers: Vec<_> = (0..10)
        .map(|_| greenlet::spawn(|| std::thread::sleep(ms(100))))
        .collect();
    greenlet::joinall(sleepers);
    // Ten 100 ms sleeps one after another would take a second.
    assert_took(start, ms(100));
    // The C-level sleeps too.
    let start = Instant::now();
    let c_sleeps = [
        // SAFETY: usleep and a valid nanosleep request have no other preconditions.
        greenlet::spawn(|| unsafe { libc::usleep(100_000) }),
        greenlet::spawn(|| unsafe {
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 100_000_000,
            };
            libc::nanosleep(&ts, std::ptr::null_mut())
        }),
    ];
    for g in c_sleeps {
        assert_eq!(g.join().unwrap(), 0);
    }
    assert_took(start, ms(100));
}

#[test]
fn invalid_sleeps_fail_as_libc_does() {
    let g = greenlet::spawn(|| {
        let bad = libc::timespec {
            tv_sec: 0,
            tv_nsec: 2_000_000_000,
        };
        // SAFETY: valid pointers; the request is invalid on purpose.
        unsafe {
            let r = libc::nanosleep(&bad, std::ptr::null_mut());
            let e = *libc::__errno_location();
            let c = libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &bad, std::ptr::null_mut());
            (r, e, c)
        }
    });
    assert_eq!(g.join().unwrap(), (-1, libc::EINVAL, libc::EINVAL));
}

#[test]
fn child_output_and_wait() {
    let _w = watchdog("process");
    let (ticks, g) = ticker(|| {});
    let start = Instant::now();
    // `output` polls the child's stdout and stderr pipes, then `waitpid`s it.
    let out = Command::new("sh")
        .args(["-c", "sleep 0.2; printf out; printf err >&2; exit 3"])
        .output()
        .unwrap();
    assert_took(start, ms(200));
    assert_eq!(ticks.get(), TICKS, "the ticker ran while the root waited");
    assert_eq!(out.stdout, b"out");
    assert_eq!(out.stderr, b"err");
    assert_eq!(out.status.code(), Some(3));
    g.join().unwrap();
    // `wait` alone, with the pipe read by a greenlet.
    let mut child = Command::new("sh")
        .args(["-c", "sleep 0.1; echo piped"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = greenlet::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let (ticks, g) = ticker(|| {});
    assert!(child.wait().unwrap().success());
    assert_eq!(ticks.get(), TICKS);
    assert_eq!(reader.join().unwrap(), "piped\n");
    g.join().unwrap();
}

/// A connected pair of raw socket fds.
fn socketpair() -> (OwnedFd, OwnedFd) {
    let (a, b) = UnixStream::pair().unwrap();
    (a.into(), b.into())
}

#[test]
fn poll_over_several_fds_reports_the_kernels_revents() {
    let _w = watchdog("poll");
    let pairs: Vec<(OwnedFd, OwnedFd)> = (0..3).map(|_| socketpair()).collect();
    let mut fds: Vec<libc::pollfd> = pairs
        .iter()
        .map(|(a, _)| libc::pollfd {
            fd: a.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let writer = pairs[1].1.as_raw_fd();
    let (ticks, g) = ticker(move || {
        // SAFETY: the fd outlives the ticker (joined below), and the buffer is valid.
        unsafe { libc::write(writer, b"x".as_ptr().cast(), 1) };
    });
    // SAFETY: a valid array of pollfds.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
    assert_eq!(ticks.get(), TICKS);
    assert_eq!(n, 1);
    let revents: Vec<i16> = fds.iter().map(|p| p.revents).collect();
    assert_eq!(revents, [0, libc::POLLIN, 0]);
    g.join().unwrap();
    // A timeout with nothing ready: 0, after it, not before.
    let start = Instant::now();
    // SAFETY: as above.
    let n = unsafe { libc::poll(fds.as_mut_ptr().add(2), 1, 100) };
    assert_eq!(n, 0);
    assert_took(start, ms(100));
}

#[test]
fn select_over_several_fds() {
    let _w = watchdog("select");
    let pairs: Vec<(OwnedFd, OwnedFd)> = (0..3).map(|_| socketpair()).collect();
    let writer = pairs[2].1.as_raw_fd();
    let (ticks, g) = ticker(move || {
        // SAFETY: the fd outlives the ticker, and the buffer is valid.
        unsafe { libc::write(writer, b"x".as_ptr().cast(), 1) };
    });
    // SAFETY: an fd_set is plain data; FD_ZERO/FD_SET/FD_ISSET on fds < FD_SETSIZE.
    unsafe {
        let mut set: libc::fd_set = std::mem::zeroed();
        libc::FD_ZERO(&mut set);
        let mut max = 0;
        for (a, _) in &pairs {
            libc::FD_SET(a.as_raw_fd(), &mut set);
            max = max.max(a.as_raw_fd());
        }
        let mut tv = libc::timeval {
            tv_sec: 10,
            tv_usec: 0,
        };
        let n = libc::select(
            max + 1,
            &mut set,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut tv,
        );
        assert_eq!(ticks.get(), TICKS);
        assert_eq!(n, 1);
        let ready: Vec<bool> = pairs
            .iter()
            .map(|(a, _)| libc::FD_ISSET(a.as_raw_fd(), &set))
            .collect();
        assert_eq!(ready, [false, false, true]);
        assert!(
            tv.tv_sec <= 10 && tv.tv_sec >= 9,
            "the time left is written back"
        );
    }
    g.join().unwrap();
}

#[test]
fn eventfd_and_pipe_read_write() {
    let _w = watchdog("eventfd");
    // SAFETY: eventfd has no pointer arguments.
    let efd = unsafe { OwnedFd::from_raw_fd(libc::eventfd(0, libc::EFD_CLOEXEC)) };
    let raw = efd.as_raw_fd();
    let (ticks, g) = ticker(move || {
        let v: u64 = 42;
        // SAFETY: eight valid bytes.
        let n = unsafe { libc::write(raw, (&raw const v).cast(), 8) };
        assert_eq!(n, 8);
    });
    let mut v: u64 = 0;
    // SAFETY: eight writable bytes.
    let n = unsafe { libc::read(efd.as_raw_fd(), (&raw mut v).cast(), 8) };
    assert_eq!((ticks.get(), n, v), (TICKS, 8, 42));
    g.join().unwrap();

    let (mut r, w) = std::io::pipe().unwrap();
    let (ticks, g) = ticker(move || {
        let mut w = w;
        w.write_all(b"through a pipe").unwrap();
    });
    let mut got = String::new();
    r.read_to_string(&mut got).unwrap();
    assert_eq!((ticks.get(), got.as_str()), (TICKS, "through a pipe"));
    g.join().unwrap();
}

#[test]
fn name_lookups_run_on_the_thread_pool() {
    let _w = watchdog("dns");
    let (ticks, g) = ticker(|| {});
    let addrs: Vec<_> = ("localhost", 80).to_socket_addrs().unwrap().collect();
    assert!(
        addrs.iter().any(|a| a.ip().is_loopback() && a.port() == 80),
        "{addrs:?}"
    );
    // The lookup ran on a pool worker (the pool starts its workers on demand). How
    // long it took against the ticker is up to the worker thread: not asserted.
    assert!(greenlet::threadpool::default_pool().workers() >= 1);
    g.join().unwrap();
    assert_eq!(ticks.get(), TICKS);
}

#[test]
fn the_root_parks_too() {
    let _w = watchdog("root");
    let (a, b) = UnixStream::pair().unwrap();
    let (ticks, g) = ticker(move || {
        (&b).write_all(b"to the root").unwrap();
    });
    let mut buf = [0u8; 11];
    (&a).read_exact(&mut buf).unwrap();
    assert_eq!((ticks.get(), &buf), (TICKS, b"to the root"));
    g.join().unwrap();
}
