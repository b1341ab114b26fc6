//! A closed socket's fd number, reused by a new socket, brings no stale readiness.
//! Alone in its binary, so that no other test takes the fd number in between.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::time::Duration;

use greenlet::net::{TcpListener, TcpStream};

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
fn reused_fd_number_gets_no_stale_event() {
    // A socket with unread data and a live registration...
    let (a, b) = tcp_pair();
    a.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    assert!((&a).read(&mut [0; 1]).is_err()); // Registered now.
    (&b).write_all(b"stale").unwrap();
    greenlet::sleep(Duration::from_millis(5)); // Its readiness event is delivered.
    let old_fd = a.as_raw_fd();
    drop((a, b));
    // ...closed; the next socket takes the same fd number.
    let (c, d) = tcp_pair();
    let same = [c.as_raw_fd(), d.as_raw_fd()].contains(&old_fd);
    assert!(
        same,
        "the fd number was not reused; the test proves nothing"
    );
    let fresh = if c.as_raw_fd() == old_fd { &c } else { &d };
    let e =
        greenlet::wait_readable(fresh.as_raw_fd(), Some(Duration::from_millis(30))).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    fresh
        .set_read_timeout(Some(Duration::from_millis(30)))
        .unwrap();
    assert_eq!(
        { fresh }.read(&mut [0; 8]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    drop((c, d));
    assert_idle();
}
