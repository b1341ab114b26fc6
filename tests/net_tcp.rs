//! TCP sockets: std-shaped behaviour, timeouts, faults.

mod support;

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use greenlet::net::{TcpListener, TcpStream};

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// A connected pair on loopback: (client, server side).
fn pair() -> (TcpStream, TcpStream) {
    let (l, a) = listener();
    let c = greenlet::spawn(move || TcpStream::connect(a).unwrap());
    let (s, _) = l.accept().unwrap();
    (c.join().unwrap(), s)
}

/// The hub has nothing left: no timer, no IO waiter, no greenlet.
fn assert_idle() {
    assert!(
        greenlet::wait_timeout(support::late(Duration::from_secs(2))),
        "hub not idle"
    );
    let st = greenlet::hub_stats();
    assert_eq!((st.live, st.timers), (0, 0));
}

#[test]
fn echo_between_greenlets() {
    let (l, a) = listener();
    let server = greenlet::spawn(move || {
        let (mut s, peer) = l.accept().unwrap();
        assert_eq!(peer, s.peer_addr().unwrap());
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let mut c = TcpStream::connect(a).unwrap();
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    c.write_all(b"hello ").unwrap();
    let n = c
        .write_vectored(&[IoSlice::new(b"vec"), IoSlice::new(b"tored")])
        .unwrap();
    assert_eq!(n, 8);
    c.shutdown(Shutdown::Write).unwrap();
    let mut back = String::new();
    c.read_to_string(&mut back).unwrap();
    assert_eq!(back, "hello vectored");
    server.join().unwrap();
    assert_idle();
}

#[test]
fn read_and_write_through_shared_refs_and_peek() {
    let (c, s) = pair();
    (&c).write_all(b"abc").unwrap();
    let mut buf = [0; 3];
    assert_eq!(s.peek(&mut buf).unwrap(), 3);
    (&s).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"abc");
}

#[test]
fn hostname_resolves_on_the_pool() {
    let (l, a) = listener();
    let g = greenlet::spawn(move || l.accept().map(|_| ()));
    let c = TcpStream::connect(("localhost", a.port()))
        .or_else(|_| TcpStream::connect(format!("localhost:{}", a.port())));
    // localhost may resolve to ::1 first, where nothing listens; std tries each.
    let c = c.unwrap();
    assert_eq!(c.peer_addr().unwrap().port(), a.port());
    g.join().unwrap().unwrap();
}

#[test]
fn connect_to_closed_port_is_refused_quickly() {
    let (l, a) = listener();
    drop(l);
    let t = Instant::now();
    let e = TcpStream::connect(a).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    assert!(t.elapsed() < support::late(Duration::from_secs(1)));
    let e = TcpStream::connect_timeout(&a, Duration::from_secs(5)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    let e = TcpStream::connect_timeout(&a, Duration::ZERO).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_idle();
}

#[test]
fn half_close_reads_to_eof() {
    let (mut c, mut s) = pair();
    c.write_all(b"request").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut req = Vec::new();
    s.read_to_end(&mut req).unwrap();
    assert_eq!(req, b"request");
    s.write_all(b"response").unwrap();
    drop(s);
    let mut resp = Vec::new();
    c.read_to_end(&mut resp).unwrap();
    assert_eq!(resp, b"response");
}

#[test]
fn peer_reset_is_an_error_not_a_hang() {
    let (c, s) = pair();
    let reader = greenlet::spawn(move || {
        let mut buf = [0; 16];
        (&c).read(&mut buf)
    });
    greenlet::yield_now(); // The reader parks.
    // SO_LINGER 0 makes close send RST.
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a correctly sized linger struct.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&s),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    drop(s);
    let e = reader.join().unwrap().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
}

#[test]
fn read_timeout_gives_would_block_on_time() {
    let (c, _s) = pair();
    assert_eq!(c.read_timeout().unwrap(), None);
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(50)));
    let t = Instant::now();
    let e = (&c).read(&mut [0; 8]).unwrap_err();
    let took = t.elapsed();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    assert!(took >= Duration::from_millis(50), "early: {took:?}");
    assert!(
        took < support::late(Duration::from_millis(500)),
        "late: {took:?}"
    );
    let e = c.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_idle();
}

#[test]
fn nonblocking_mode_has_std_semantics() {
    let (c, s) = pair();
    c.set_nonblocking(true).unwrap();
    let e = (&c).read(&mut [0; 8]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    // Shared with clones, as std's O_NONBLOCK is.
    let c2 = c.try_clone().unwrap();
    let e = (&c2).read(&mut [0; 8]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    c.set_nonblocking(false).unwrap();
    let w = greenlet::spawn(move || (&s).write_all(b"x"));
    let mut b = [0; 1];
    (&c2).read_exact(&mut b).unwrap();
    w.join().unwrap().unwrap();
    let (l, _) = listener();
    l.set_nonblocking(true).unwrap();
    assert_eq!(l.accept().unwrap_err().kind(), io::ErrorKind::WouldBlock);
}

/// The combinator skips reading socket options while no socket has any: setting,
/// clearing and dropping other sockets' options must not lose or leak one.
#[test]
fn options_survive_other_sockets_and_never_leak() {
    let (a, _a2) = pair();
    let (b, _b2) = pair();
    let (plain, plain2) = pair();
    a.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
    b.set_nonblocking(true).unwrap();
    b.set_nonblocking(false).unwrap();
    drop(b); // Its options go with it; `a`'s stay.
    let t = Instant::now();
    assert_eq!(
        (&a).read(&mut [0; 8]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert!(t.elapsed() >= Duration::from_millis(30));
    // A socket without options still blocks (parks) until its data comes: the
    // writer only runs once the reader has parked.
    let w = greenlet::spawn(move || (&plain2).write_all(b"late"));
    let mut buf = [0; 4];
    (&plain).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"late");
    w.join().unwrap().unwrap();
    // Back to no options anywhere: the timeout of a dropped socket is gone too.
    drop(a);
    let (c, c2) = pair();
    let w = greenlet::spawn(move || (&c2).write_all(b"ok"));
    let mut buf = [0; 2];
    (&c).read_exact(&mut buf).unwrap();
    w.join().unwrap().unwrap();
}

#[test]
fn write_timeout_fires_across_partial_writes() {
    let (c, _s) = pair(); // The server side never reads.
    c.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let data = vec![7u8; 64 << 20];
    let t = Instant::now();
    let e = (&c).write_all(&data).unwrap_err();
    let took = t.elapsed();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    assert!(took >= Duration::from_millis(100), "early: {took:?}");
    assert!(
        took < support::late(Duration::from_millis(1000)),
        "late: {took:?}"
    );
}

#[test]
fn backpressure_write_all_64_mib_intact() {
    let (c, mut s) = pair();
    let data: Vec<u8> = (0..64u32 << 20).map(|i| (i % 251) as u8).collect();
    let expect = data.clone();
    let writer = greenlet::spawn(move || {
        (&c).write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
    });
    // A slow reader: small reads, yielding often.
    let mut got = Vec::with_capacity(expect.len());
    let mut buf = vec![0; 7919];
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.len() % 64 == 0 {
            greenlet::yield_now();
        }
    }
    writer.join().unwrap();
    assert!(got == expect, "data corrupted");
}

#[test]
fn writes_to_a_closed_peer_never_raise_sigpipe() {
    // Rust ignores SIGPIPE by default; restore the default (kill) to prove we never
    // raise it.
    // SAFETY: changing a signal disposition; this test process does nothing else with it.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let (c, s) = pair();
    drop(s);
    let mut saw_error = false;
    for _ in 0..100 {
        let r = (&c)
            .write(&[0; 1024])
            .and_then(|_| (&c).write_vectored(&[IoSlice::new(&[1; 10]), IoSlice::new(&[2; 10])]));
        if let Err(e) = r {
            assert!(matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ));
            saw_error = true;
            break;
        }
        greenlet::sleep(Duration::from_millis(1));
    }
    assert!(saw_error);
    let (a, b) = greenlet::os::unix::net::UnixStream::pair().unwrap();
    drop(b);
    assert_eq!(
        (&a).write(b"x").unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );
}

#[test]
fn two_readers_both_served() {
    let (c, s) = pair();
    let c = std::rc::Rc::new(c);
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let c = c.clone();
            greenlet::spawn(move || {
                let mut b = [0; 1];
                (&*c).read_exact(&mut b).unwrap();
                b[0]
            })
        })
        .collect();
    greenlet::yield_now(); // Both park on the same socket.
    (&s).write_all(b"a").unwrap();
    greenlet::sleep(Duration::from_millis(20));
    (&s).write_all(b"b").unwrap();
    let mut got: Vec<u8> = greenlet::joinall(readers)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    got.sort();
    assert_eq!(got, b"ab");
    assert_idle();
}

#[test]
fn kill_while_blocked_in_accept_and_read() {
    let (l, _a) = listener();
    let g = greenlet::spawn(move || {
        let _ = l.accept();
        unreachable!();
    });
    greenlet::yield_now();
    g.kill();
    assert!(g.join().unwrap_err().is_killed());

    let (c, _s) = pair();
    let g = greenlet::spawn(move || {
        let _ = (&c).read(&mut [0; 4]);
        unreachable!();
    });
    greenlet::yield_now();
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
    assert_idle();
}

#[test]
fn with_timeout_while_blocked_in_read_and_write() {
    let (c, s) = pair();
    let r = greenlet::with_timeout(Duration::from_millis(30), || (&c).read(&mut [0; 4]));
    assert!(r.is_err());
    let big = vec![0u8; 32 << 20];
    let r = greenlet::with_timeout(Duration::from_millis(30), || (&c).write_all(&big));
    assert!(r.is_err());
    // The socket still works afterwards.
    (&s).write_all(b"ok").unwrap();
    let mut b = [0; 2];
    (&c).read_exact(&mut b).unwrap();
    assert_eq!(&b, b"ok");
    drop((c, s));
    assert_idle();
}

/// Fills a listener's accept queue so that the next connect hangs in SYN_SENT.
#[test]
fn kill_and_timeout_while_blocked_in_connect() {
    let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = std_l.local_addr().unwrap();
    // SAFETY: re-listening on a valid listening socket only changes its backlog.
    assert_eq!(
        unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&std_l), 0) },
        0
    );
    let mut held = Vec::new();
    let mut hung = false;
    for _ in 0..8 {
        match TcpStream::connect_timeout(&a, Duration::from_millis(200)) {
            Ok(s) => held.push(s),
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::TimedOut);
                hung = true;
                break;
            }
        }
    }
    assert!(hung, "the accept queue never filled");
    let g = greenlet::spawn(move || TcpStream::connect(a));
    greenlet::sleep(Duration::from_millis(20));
    assert!(!g.is_finished());
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
    let r = greenlet::with_timeout(Duration::from_millis(30), || TcpStream::connect(a));
    assert!(r.is_err());
    drop(held);
    assert_idle();
}

#[test]
fn works_from_plain_threads_and_across_threads() {
    let (l, a) = listener();
    let t = std::thread::spawn(move || {
        // This thread's own hub runs the accept.
        let (mut s, _) = l.accept().unwrap();
        let mut b = [0; 4];
        s.read_exact(&mut b).unwrap();
        s.write_all(&b).unwrap();
        s // Moves back to the main thread.
    });
    let mut c = TcpStream::connect(a).unwrap();
    c.write_all(b"ping").unwrap();
    let mut b = [0; 4];
    c.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"ping");
    let mut s = t.join().unwrap();
    // Used (and registered) again on this thread's hub, then dropped here.
    let g = greenlet::spawn(move || {
        let mut b = [0; 3];
        s.read_exact(&mut b).unwrap();
        b
    });
    c.write_all(b"end").unwrap();
    assert_eq!(&g.join().unwrap(), b"end");
}

#[test]
fn conversions_round_trip() {
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
    let (c, s) = pair();
    let fd = c.as_raw_fd();
    assert_eq!(c.as_fd().as_raw_fd(), fd);
    let std_c: std::net::TcpStream = c.into();
    let c = TcpStream::from(std_c);
    let raw = c.into_raw_fd();
    // SAFETY: `raw` was just released by `into_raw_fd` and is owned by nobody else.
    let c = unsafe { TcpStream::from_raw_fd(raw) };
    let owned: OwnedFd = c.into();
    let c = TcpStream::from(owned);
    (&s).write_all(b"z").unwrap();
    let mut b = [0; 1];
    (&c).read_exact(&mut b).unwrap();
    assert_eq!(c.take_error().unwrap().map(|e| e.kind()), None);
    c.set_ttl(42).unwrap();
    assert_eq!(c.ttl().unwrap(), 42);
    let l = TcpListener::from(std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    let a = l.local_addr().unwrap();
    let g = greenlet::spawn(move || TcpStream::connect(a).unwrap());
    let mut inc = l.incoming();
    let s2 = inc.next().unwrap().unwrap();
    assert_eq!(
        s2.peer_addr().unwrap(),
        g.join().unwrap().local_addr().unwrap()
    );
}

#[test]
fn sockets_are_send_and_sync_like_std() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TcpStream>();
    assert_send_sync::<TcpListener>();
    assert_send_sync::<greenlet::net::UdpSocket>();
    assert_send_sync::<greenlet::os::unix::net::UnixStream>();
    assert_send_sync::<greenlet::os::unix::net::UnixListener>();
    assert_send_sync::<greenlet::os::unix::net::UnixDatagram>();
}

#[test]
fn tcp_sockets_are_unwind_safe_like_std() {
    fn assert_unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    assert_unwind_safe::<std::net::TcpStream>();
    assert_unwind_safe::<TcpStream>();
    assert_unwind_safe::<TcpListener>();
    // What that allows, as with std's: a panic caught around a use of the socket,
    // which is still usable after it.
    let (c, s) = pair();
    let caught = std::panic::catch_unwind(|| {
        (&c).write_all(b"before").unwrap();
        panic!("in the middle");
    });
    assert!(caught.is_err());
    (&c).write_all(b" after").unwrap();
    drop(c);
    let mut got = String::new();
    (&s).read_to_string(&mut got).unwrap();
    assert_eq!(got, "before after");
}

#[test]
fn dropped_on_another_thread_while_its_hub_lives() {
    use std::sync::mpsc;
    let (tx, rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let (c, s) = pair();
        c.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        assert!((&c).read(&mut [0; 1]).is_err()); // Registered with this thread's hub.
        tx.send((c, s)).unwrap();
        done_rx.recv().unwrap();
        // This hub goes on with IO and reaps the orphaned entry at its next poll.
        let (c, s) = pair();
        let r = greenlet::spawn(move || {
            let mut b = [0; 2];
            (&c).read_exact(&mut b).unwrap();
            b
        });
        greenlet::yield_now();
        (&s).write_all(b"ok").unwrap();
        assert_eq!(&r.join().unwrap(), b"ok");
    });
    let (c, s) = rx.recv().unwrap();
    drop((c, s)); // Deregisters from the other thread's epoll.
    done_tx.send(()).unwrap();
    t.join().unwrap();
}

#[test]
fn shutdown_from_another_greenlet_wakes_a_blocked_reader() {
    let (c, _s) = pair();
    let reader = c.try_clone().unwrap();
    let g = greenlet::spawn(move || (&reader).read(&mut [0; 8]));
    greenlet::yield_now();
    let t = Instant::now();
    c.shutdown(Shutdown::Both).unwrap();
    assert_eq!(g.join().unwrap().unwrap(), 0); // EOF, as with std's threads.
    assert!(t.elapsed() < support::late(Duration::from_millis(200)));
    // Dropping one handle does not disturb a greenlet reading through a clone.
    let (c, s) = pair();
    let reader = c.try_clone().unwrap();
    let g = greenlet::spawn(move || {
        let mut b = [0; 3];
        (&reader).read_exact(&mut b).map(|()| b)
    });
    greenlet::yield_now();
    drop(c);
    (&s).write_all(b"yes").unwrap();
    assert_eq!(&g.join().unwrap().unwrap(), b"yes");
    assert_idle();
}

#[test]
fn ipv6_loopback() {
    let l = match TcpListener::bind("[::1]:0") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("no IPv6 loopback here ({e}); skipped");
            return;
        }
    };
    let a = l.local_addr().unwrap();
    assert!(a.is_ipv6());
    let g = greenlet::spawn(move || {
        let (s, peer) = l.accept().unwrap();
        assert!(peer.is_ipv6());
        let mut b = [0; 4];
        (&s).read_exact(&mut b).unwrap();
        b
    });
    let c = TcpStream::connect(a).unwrap();
    (&c).write_all(b"six!").unwrap();
    assert_eq!(&g.join().unwrap(), b"six!");
}

#[test]
fn two_writers_both_complete() {
    let (c, mut s) = pair();
    let c = std::rc::Rc::new(c);
    let writers: Vec<_> = [b'a', b'b']
        .into_iter()
        .map(|byte| {
            let c = c.clone();
            greenlet::spawn(move || (&*c).write_all(&vec![byte; 4 << 20]))
        })
        .collect();
    let mut counts = [0usize; 2];
    let mut buf = vec![0; 65536];
    while counts[0] + counts[1] < 8 << 20 {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        for &x in &buf[..n] {
            counts[(x - b'a') as usize] += 1;
        }
    }
    for w in greenlet::joinall(writers) {
        w.unwrap().unwrap();
    }
    assert_eq!(counts, [4 << 20, 4 << 20]);
    assert_idle();
}

#[test]
fn kill_while_blocked_in_write() {
    let (c, s) = pair(); // The server side does not read.
    let g = greenlet::spawn(move || {
        let _ = (&c).write_all(&vec![0; 64 << 20]);
        unreachable!();
    });
    greenlet::sleep(Duration::from_millis(10));
    assert!(!g.is_finished());
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
    // The writer's socket was closed by its Drop: the reader drains, then sees the end.
    s.set_read_timeout(Some(support::late(Duration::from_secs(5))))
        .unwrap();
    let mut buf = vec![0; 1 << 20];
    loop {
        match (&s).read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
                break;
            }
        }
    }
    assert_idle();
}

type Got = std::rc::Rc<std::cell::RefCell<Vec<u8>>>;

/// A connected pair whose client side is read by a greenlet that collects everything
/// until EOF into `got`, with a small buffer so that most reads come back short (each
/// short read makes the next one park before trying the syscall). Returns once that
/// reader has registered and parked: (the server side, `got`, the reader).
fn parked_collector() -> (TcpStream, Got, greenlet::Greenlet<io::Result<()>>) {
    let (c, s) = pair();
    let got = Got::default();
    let g = got.clone();
    let r = greenlet::spawn(move || {
        let mut buf = [0; 16];
        loop {
            match (&c).read(&mut buf)? {
                0 => return Ok(()),
                n => g.borrow_mut().extend_from_slice(&buf[..n]),
            }
        }
    });
    greenlet::yield_now();
    (s, got, r)
}

/// Lets the hub run (and poll) until the reader has `n` bytes; a stall fails the
/// test instead of hanging it.
fn until_read(got: &std::cell::RefCell<Vec<u8>>, n: usize) {
    let deadline = Instant::now() + support::late(Duration::from_secs(10));
    while got.borrow().len() < n {
        assert!(
            Instant::now() < deadline,
            "reader stalled at {:?}",
            got.borrow()
        );
        greenlet::yield_now();
    }
}

/// Sends EOF, and checks that the reader ends with exactly `want`.
fn finish(s: TcpStream, r: greenlet::Greenlet<io::Result<()>>, got: Got, want: &[u8]) {
    s.shutdown(Shutdown::Write).unwrap(); // The FIN alone must wake it.
    r.join().unwrap().unwrap();
    assert_eq!(&*got.borrow(), want);
}

/// After each short read the reader waits for the next chunk and gets it: the read
/// that skips its syscall still wakes for later data. (That it really skips the
/// syscall is counted in `net_short_read.rs`.)
#[test]
fn short_reads_then_later_data_and_eof() {
    let (s, got, r) = parked_collector();
    for (i, chunk) in [&b"ab"[..], b"cd", b"ef"].into_iter().enumerate() {
        (&s).write_all(chunk).unwrap();
        until_read(&got, 2 * (i + 1));
    }
    finish(s, r, got, b"abcdef");
}

#[test]
fn eof_right_behind_data_is_seen_after_a_short_read() {
    let (s, got, r) = parked_collector();
    // Data and FIN in one edge: the read of "ab" is short, but no edge will follow.
    (&s).write_all(b"ab").unwrap();
    finish(s, r, got, b"ab");
}

#[test]
fn urgent_data_does_not_stall_a_reader() {
    use std::os::fd::AsRawFd;
    let (s, got, r) = parked_collector();
    // A TCP read stops short at the urgent mark with "de" still queued: that short
    // read does not mean drained, and no further edge comes for "de".
    (&s).write_all(b"ab").unwrap();
    // SAFETY: a valid socket fd and a one-byte buffer that outlives the call.
    let sent = unsafe { libc::send(s.as_raw_fd(), b"c".as_ptr().cast(), 1, libc::MSG_OOB) };
    assert_eq!(sent, 1);
    (&s).write_all(b"de").unwrap();
    until_read(&got, 4); // The urgent byte is not in the stream (no SO_OOBINLINE).
    finish(s, r, got, b"abde");
}

/// A nonblocking read gets the kernel's answer, even right after a short read.
#[test]
fn nonblocking_read_after_a_short_read_sees_new_data() {
    let (c, s) = pair();
    let r = greenlet::spawn(move || {
        let mut buf = [0; 16];
        let n = (&c).read(&mut buf).unwrap(); // Parks, then a short read.
        c.set_nonblocking(true).unwrap();
        (n, c)
    });
    greenlet::yield_now();
    (&s).write_all(b"ab").unwrap();
    let (n, c) = r.join().unwrap();
    assert_eq!(n, 2);
    (&s).write_all(b"cd").unwrap();
    // No hub poll since: the edge for "cd" is not dispatched yet.
    let mut buf = [0; 16];
    let deadline = Instant::now() + support::late(Duration::from_secs(10));
    let n = loop {
        match (&c).read(&mut buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "data never seen");
                std::thread::yield_now(); // Loopback delivery is not instant.
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(&buf[..n], b"cd");
}
