//! The `monkey` hooks keep the real calls' semantics: the user's own `O_NONBLOCK`
//! and socket timeouts, refused and reset connections, long partial writes, a close
//! under a waiter, and no `O_NONBLOCK` left behind on a user's fd.

#![cfg(feature = "monkey")]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::Instant;

use support::watchdog::watchdog;
use support::{assert_prompt, assert_took, ms};

fn parks() -> u64 {
    greenlet::monkey::parks_on_this_thread()
}

fn nonblocking(fd: &impl AsRawFd) -> bool {
    // SAFETY: F_GETFL takes no pointer.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0);
    flags & libc::O_NONBLOCK != 0
}

fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

#[test]
fn the_users_nonblocking_mode_fails_at_once() {
    let _w = watchdog("nonblocking");
    greenlet::spawn(|| {
        let (c, _s) = pair();
        c.set_nonblocking(true).unwrap();
        let before = parks();
        let start = Instant::now();
        let e = (&c).read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert_prompt(start);
        assert_eq!(parks(), before, "a non-blocking read never parks");
        assert!(nonblocking(&c), "the user's mode is kept");
        c.set_nonblocking(false).unwrap();
        assert!(!nonblocking(&c));
    })
    .join()
    .unwrap();
}

#[test]
fn a_read_timeout_fails_with_would_block_after_it() {
    let _w = watchdog("timeout");
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let t = ticks.clone();
    let ticker = greenlet::spawn(move || {
        loop {
            greenlet::sleep(ms(5));
            t.set(t.get() + 1);
        }
    });
    greenlet::spawn(move || {
        let (c, _s) = pair();
        c.set_read_timeout(Some(ms(100))).unwrap();
        let start = Instant::now();
        let e = (&c).read(&mut [0u8; 8]).unwrap_err();
        // The kernel's answer to an expired SO_RCVTIMEO: EAGAIN.
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert_took(start, ms(100));
        assert!(ticks.get() > 0, "other greenlets ran meanwhile");
        assert!(!nonblocking(&c));
    })
    .join()
    .unwrap();
    ticker.kill();
}

#[test]
fn connect_refused_and_peer_reset() {
    let _w = watchdog("refused");
    greenlet::spawn(|| {
        // A port nothing listens on: bind one, note it, close it.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = TcpStream::connect(port).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);

        let (c, s) = pair();
        let reader = greenlet::spawn(move || (&c).read(&mut [0u8; 8]));
        greenlet::yield_now(); // The reader parks in its read.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid linger struct of that size; SO_LINGER 0 makes close reset.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&raw const linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0);
        drop(s);
        let e = reader.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
    })
    .join()
    .unwrap();
}

#[test]
fn write_all_of_64_mib_to_a_slow_reader() {
    let _w = watchdog("64mib");
    const LEN: usize = 64 << 20;
    let data: Vec<u8> = (0..LEN).map(|i| (i * 7 + i / 4093) as u8).collect();
    let expect = data.clone();
    let (mut c, s) = pair();
    let writer = greenlet::spawn(move || {
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
    });
    let reader = greenlet::spawn(move || {
        let mut got = Vec::with_capacity(LEN);
        let mut buf = vec![0u8; 100_000];
        loop {
            let n = (&s).read(&mut buf).unwrap();
            if n == 0 {
                break got;
            }
            got.extend_from_slice(&buf[..n]);
            greenlet::yield_now(); // Slow: others run between reads.
        }
    });
    writer.join().unwrap();
    let got = reader.join().unwrap();
    assert_eq!(got.len(), LEN);
    assert!(got == expect, "the bytes arrived in order, unchanged");
}

#[test]
fn close_while_another_greenlet_waits_wakes_it_with_ebadf() {
    let _w = watchdog("close");
    let (a, b) = UnixStream::pair().unwrap();
    let fd = a.into_raw_fd();
    let waiter = greenlet::spawn(move || {
        let mut buf = [0u8; 4];
        // SAFETY: a valid buffer; the fd is closed under this call on purpose.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), 4, 0) };
        // SAFETY: reading errno.
        (n, unsafe { *libc::__errno_location() })
    });
    greenlet::yield_now(); // The waiter parks in recv.
    let start = Instant::now();
    // SAFETY: the fd is ours (taken with into_raw_fd) and closed once.
    assert_eq!(unsafe { libc::close(fd) }, 0);
    assert_eq!(waiter.join().unwrap(), (-1, libc::EBADF));
    assert_prompt(start);
    drop(b);
}

#[test]
fn a_child_reads_a_socket_as_stdin_normally() {
    let _w = watchdog("stdin");
    greenlet::spawn(|| {
        let (c, s) = pair();
        // Hooked calls that wait and time out on the socket first.
        s.set_read_timeout(Some(ms(20))).unwrap();
        assert!((&s).read(&mut [0u8; 1]).is_err());
        s.set_read_timeout(None).unwrap();
        assert!(!nonblocking(&s), "no O_NONBLOCK left on the user's socket");
        let child = Command::new("cat")
            .stdin(Stdio::from(OwnedFd::from(s)))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut c = c;
        c.write_all(b"read by cat\n").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout, b"read by cat\n");
    })
    .join()
    .unwrap();
}

#[test]
fn accept_on_a_blocking_listener_leaves_it_blocking() {
    let _w = watchdog("accept");
    greenlet::spawn(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let client = greenlet::spawn(move || TcpStream::connect(addr).unwrap());
        let (s, _) = l.accept().unwrap();
        let c = client.join().unwrap();
        for fd in [l.as_raw_fd(), s.as_raw_fd(), c.as_raw_fd()] {
            // SAFETY: F_GETFL takes no pointer.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            assert_eq!(flags & libc::O_NONBLOCK, 0, "fd {fd} left non-blocking");
        }
    })
    .join()
    .unwrap();
}

#[test]
fn a_timeout_set_after_waits_without_one_is_honoured() {
    let _w = watchdog("late timeout");
    greenlet::spawn(|| {
        let (c, s) = pair();
        // A wait with no timeout (the hooks learn "none")...
        let writer = greenlet::spawn(move || {
            (&s).write_all(b"x").unwrap();
            s
        });
        assert_eq!((&c).read(&mut [0u8; 8]).unwrap(), 1);
        let _s = writer.join().unwrap();
        // ...then a timeout: the next read fails with it, after it.
        c.set_read_timeout(Some(ms(50))).unwrap();
        let start = Instant::now();
        let e = (&c).read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert_took(start, ms(50));
    })
    .join()
    .unwrap();
}
