//! Waiting on any fd, `GreenFd`, closing under a waiter, fd-number reuse.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use greenlet::net::{TcpListener, TcpStream};
use greenlet::os::unix::io::GreenFd;
use greenlet::os::unix::net::UnixStream;

fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    let c = greenlet::spawn(move || TcpStream::connect(a).unwrap());
    let (s, _) = l.accept().unwrap();
    (c.join().unwrap(), s)
}

fn assert_idle() {
    assert!(
        greenlet::wait_timeout(Duration::from_secs(2)),
        "hub not idle"
    );
}

#[test]
fn wait_readable_and_writable() {
    let (a, b) = UnixStream::pair().unwrap();
    // Writable at once; not readable until the peer writes.
    greenlet::wait_writable(a.as_raw_fd(), None).unwrap();
    let t = Instant::now();
    let e = greenlet::wait_readable(a.as_raw_fd(), Some(Duration::from_millis(40))).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert!(t.elapsed() >= Duration::from_millis(40));
    let fd = a.as_raw_fd();
    let waiter = greenlet::spawn(move || greenlet::wait_readable(fd, None));
    greenlet::yield_now();
    assert!(!waiter.is_finished());
    (&b).write_all(b"x").unwrap();
    waiter.join().unwrap().unwrap();
    // Still readable (nothing read): returns at once, twice.
    greenlet::wait_readable(a.as_raw_fd(), Some(Duration::from_millis(1))).unwrap();
    greenlet::wait_readable(a.as_raw_fd(), Some(Duration::from_millis(1))).unwrap();
    drop((a, b));
    assert_idle();
}

#[test]
fn wait_readable_on_a_socket_also_blocked_in_read() {
    // The socket's own registration and a wait_readable share one entry.
    let (a, b) = tcp_pair();
    let fd = a.as_raw_fd();
    let reader = greenlet::spawn(move || {
        let mut buf = [0; 2];
        (&a).read_exact(&mut buf).unwrap();
        (buf, a) // Kept open until the watcher has run.
    });
    let watcher = greenlet::spawn(move || greenlet::wait_readable(fd, None));
    greenlet::yield_now();
    (&b).write_all(b"hi").unwrap();
    watcher.join().unwrap().unwrap();
    assert_eq!(&reader.join().unwrap().0, b"hi");
    assert_idle();
}

#[test]
fn close_while_another_greenlet_waits_wakes_it_with_an_error() {
    let (a, _b) = tcp_pair();
    let fd = a.as_raw_fd();
    let waiter = greenlet::spawn(move || greenlet::wait_readable(fd, None));
    greenlet::yield_now();
    let t = Instant::now();
    drop(a);
    let e = waiter.join().unwrap().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
    assert!(t.elapsed() < Duration::from_millis(200));

    // Same when the socket had registered itself (a read timed out on it first).
    let (a, _b) = tcp_pair();
    a.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    assert!((&a).read(&mut [0; 1]).is_err());
    let fd = a.as_raw_fd();
    let waiter = greenlet::spawn(move || {
        greenlet::wait_writable(fd, None).and_then(|()| greenlet::wait_readable(fd, None))
    });
    greenlet::yield_now();
    drop(a);
    let e = waiter.join().unwrap().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
    assert_idle();
}

#[test]
fn green_fd_over_a_pipe() {
    let (r, w) = std::io::pipe().unwrap();
    let (mut r, w) = (GreenFd::new(r).unwrap(), GreenFd::new(w).unwrap());
    let writer = greenlet::spawn(move || {
        let mut w = w;
        // Larger than a pipe buffer: the writer parks until the reader drains.
        for i in 0..64u8 {
            w.write_all(&[i; 4096]).unwrap();
        }
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(got.len(), 64 * 4096);
    assert!(
        got.chunks(4096)
            .enumerate()
            .all(|(i, c)| c.iter().all(|&x| x == i as u8))
    );
    let inner = r.into_inner();
    drop(inner);
    assert_idle();
}

#[test]
fn green_fd_shared_ref_io_and_kill_while_waiting() {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let a = GreenFd::new(a).unwrap();
    let b = GreenFd::new(b).unwrap();
    let g = greenlet::spawn(move || {
        let _ = (&a).read(&mut [0; 4]);
        unreachable!()
    });
    greenlet::yield_now();
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
    // The killed greenlet's unwinding dropped (closed) its end.
    let e = (&b).write_all(b"ok").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    assert_idle();
}

#[test]
fn regular_files_are_always_ready() {
    let f = std::fs::File::open("/proc/self/status").unwrap();
    greenlet::wait_readable(f.as_raw_fd(), Some(Duration::from_millis(1))).unwrap();
}

#[test]
fn green_fd_over_child_stdio() {
    let mut child = std::process::Command::new("sh")
        .args(["-c", "read line; echo \"got $line\""])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = GreenFd::new(child.stdin.take().unwrap()).unwrap();
    let mut stdout = GreenFd::new(child.stdout.take().unwrap()).unwrap();
    let reader = greenlet::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    stdin.write_all(b"green\n").unwrap();
    drop(stdin);
    assert_eq!(reader.join().unwrap(), "got green\n");
    assert!(
        greenlet::threadpool::apply(move || child.wait())
            .unwrap()
            .success()
    );
}
