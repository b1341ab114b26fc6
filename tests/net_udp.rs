//! UDP sockets.

use std::io;
use std::time::{Duration, Instant};

use greenlet::net::UdpSocket;

#[test]
fn send_to_and_recv_from_between_greenlets() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let g = greenlet::spawn(move || {
        let mut buf = [0; 64];
        for _ in 0..3 {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(&buf[..n], from).unwrap();
        }
    });
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    for msg in [&b"one"[..], b"two", b"three"] {
        client.send_to(msg, addr).unwrap();
        let mut buf = [0; 64];
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (msg, addr));
    }
    g.join().unwrap();
}

#[test]
fn connected_send_recv_peek_and_timeouts() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
    b.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
    let t = Instant::now();
    assert_eq!(
        b.recv(&mut [0; 8]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert!(t.elapsed() >= Duration::from_millis(30));
    let g = greenlet::spawn(move || {
        let mut buf = [0; 8];
        let n = b.peek(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"dgram");
        let n = b.recv(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    greenlet::yield_now();
    a.send(b"dgram").unwrap();
    assert_eq!(g.join().unwrap(), b"dgram");
    a.set_nonblocking(true).unwrap();
    assert_eq!(
        a.recv(&mut [0; 8]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    let c = a.try_clone().unwrap();
    assert_eq!(
        c.recv(&mut [0; 8]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    c.set_ttl(9).unwrap();
    assert_eq!(a.ttl().unwrap(), 9);
    assert!(a.take_error().unwrap().is_none());
}

#[test]
fn std_conversions() {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    let g = UdpSocket::from(s);
    assert_eq!(g.local_addr().unwrap(), addr);
    let back: std::net::UdpSocket = g.into();
    assert_eq!(back.local_addr().unwrap(), addr);
}
