//! `StreamServer`: connections spread over hubs, a bound per hub, the graceful stop,
//! handler panics.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use greenlet::server::StreamServer;
use greenlet::sync::Event;

/// One echo round trip on a new blocking std connection.
fn echo_once(addr: std::net::SocketAddr, msg: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(msg).unwrap();
    let mut got = vec![0; msg.len()];
    c.read_exact(&mut got).unwrap();
    got
}

fn echo_handler(mut conn: greenlet::net::TcpStream, _: std::net::SocketAddr) {
    let mut buf = [0; 4096];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 || conn.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

#[test]
fn connections_spread_over_two_hubs() {
    let server = StreamServer::bind("127.0.0.1:0")
        .unwrap()
        .hubs(2)
        .serve(echo_handler)
        .unwrap();
    let addr = server.local_addr();
    for i in 0..1000u32 {
        let msg = i.to_le_bytes();
        assert_eq!(echo_once(addr, &msg), msg);
    }
    server.stop(Duration::from_secs(5));
    let report = server.join();
    assert_eq!(report.served, 1000);
    assert_eq!(report.per_hub.len(), 2);
    for (hub, &n) in report.per_hub.iter().enumerate() {
        assert!(n >= 250, "hub {hub} got {n} of 1000: {:?}", report.per_hub);
    }
    assert_eq!(report.killed_at_stop, 0);
    assert_eq!(report.handler_panics, 0);
}

#[test]
fn max_connections_bounds_each_hub_and_loses_nothing() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Event::new());
    let (r, p, rel) = (running.clone(), peak.clone(), release.clone());
    let server = StreamServer::bind("127.0.0.1:0")
        .unwrap()
        .max_connections(2)
        .serve(move |mut conn, _| {
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            rel.wait();
            r.fetch_sub(1, Ordering::SeqCst);
            conn.write_all(b"done").unwrap();
        })
        .unwrap();
    let addr = server.local_addr();
    // Five clients connect at once; the kernel queues those the hub does not accept.
    let clients: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Wait until the hub is full (two handlers running), then a little for a third
    // that must not come.
    let start = Instant::now();
    while running.load(Ordering::SeqCst) < 2 {
        assert!(
            start.elapsed() < support::FOREVER,
            "the first two never started"
        );
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(100)); // a window for a wrong third
    assert_eq!(peak.load(Ordering::SeqCst), 2, "at most two at once");
    release.set();
    for mut c in clients {
        let mut got = [0; 4];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"done");
    }
    server.stop(Duration::from_secs(5));
    let report = server.join();
    assert_eq!(report.served, 5);
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[test]
fn stop_stops_accepting_lets_handlers_finish_then_kills_the_rest() {
    let dropped = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicUsize::new(0));
    let (d, f, s) = (dropped.clone(), finished.clone(), started.clone());
    let server = StreamServer::bind("127.0.0.1:0")
        .unwrap()
        .serve(move |mut conn, _| {
            let mut first = [0; 1];
            conn.read_exact(&mut first).unwrap();
            s.fetch_add(1, Ordering::SeqCst);
            match first[0] {
                b'q' => {
                    // In flight at stop, done within the grace period.
                    greenlet::sleep(Duration::from_millis(50));
                    conn.write_all(b"ok").unwrap();
                    f.store(true, Ordering::SeqCst);
                }
                _ => {
                    struct OnDrop(Arc<AtomicBool>);
                    impl Drop for OnDrop {
                        fn drop(&mut self) {
                            self.0.store(true, Ordering::SeqCst);
                        }
                    }
                    let _guard = OnDrop(d.clone());
                    greenlet::sleep(Duration::MAX); // stuck: killed after the grace
                }
            }
        })
        .unwrap();
    let addr = server.local_addr();
    let mut quick = TcpStream::connect(addr).unwrap();
    let mut stuck = TcpStream::connect(addr).unwrap();
    quick.write_all(b"q").unwrap();
    stuck.write_all(b"s").unwrap();
    let start = Instant::now();
    while started.load(Ordering::SeqCst) < 2 {
        assert!(
            start.elapsed() < support::FOREVER,
            "the handlers never started"
        );
        std::thread::yield_now();
    }
    let grace = Duration::from_millis(300);
    let stopped_at = Instant::now();
    server.stop(grace);
    // No new connection is accepted now: the listener is closed.
    match TcpStream::connect(addr) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused),
        Ok(mut late) => {
            // Connected to a socket that is closing: it must never be served.
            late.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut buf = [0; 1];
            assert!(
                matches!(late.read(&mut buf), Ok(0) | Err(_)),
                "a late connection was served"
            );
        }
    }
    let mut ok = [0; 2];
    quick.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"ok");
    let report = server.join();
    let took = stopped_at.elapsed();
    assert!(
        took >= grace,
        "the stuck handler was killed before the grace ended: {took:?}"
    );
    assert!(took < grace + support::SLACK * 4, "join took {took:?}");
    assert!(finished.load(Ordering::SeqCst));
    assert!(
        dropped.load(Ordering::SeqCst),
        "the killed handler's Drop ran"
    );
    assert_eq!(report.served, 2);
    assert_eq!(report.killed_at_stop, 1);
    assert_eq!(report.handler_panics, 0);
    // The killed handler's connection is closed.
    let mut buf = [0; 1];
    assert_eq!(stuck.read(&mut buf).unwrap(), 0);
}

#[test]
fn a_handler_panic_is_reported_and_the_server_goes_on() {
    let server = StreamServer::bind("127.0.0.1:0")
        .unwrap()
        .serve(|mut conn, _| {
            let mut first = [0; 1];
            conn.read_exact(&mut first).unwrap();
            if first[0] == b'!' {
                panic!("handler boom");
            }
            conn.write_all(&first).unwrap();
        })
        .unwrap();
    let addr = server.local_addr();
    let mut bad = TcpStream::connect(addr).unwrap();
    bad.write_all(b"!").unwrap();
    let mut buf = [0; 1];
    assert_eq!(
        bad.read(&mut buf).unwrap(),
        0,
        "the panicked handler's connection closes"
    );
    assert_eq!(echo_once(addr, b"x"), b"x");
    server.stop(Duration::from_secs(1));
    let report = server.join();
    assert_eq!(report.handler_panics, 1);
    assert_eq!(report.served, 2);
}

#[test]
fn bind_reuseport_lets_two_listeners_share_an_address() {
    let a = greenlet::net::TcpListener::bind_reuseport("127.0.0.1:0").unwrap();
    let addr = a.local_addr().unwrap();
    let b = greenlet::net::TcpListener::bind_reuseport(addr).unwrap();
    assert_eq!(b.local_addr().unwrap(), addr);
    // A plain bind of the same address is refused while they listen.
    let err = std::net::TcpListener::bind(addr).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
}

/// `stop_on_signals`: a SIGTERM from outside stops the server gracefully. In a child
/// process, which the parent signals once it has a connection in flight.
#[test]
fn sigterm_stops_a_server_gracefully() {
    const CHILD: &str = "GREENLET_SERVER_SIGNAL_CHILD";
    if std::env::var(CHILD).is_ok() {
        let server = StreamServer::bind("127.0.0.1:0")
            .unwrap()
            .serve(|mut conn, _| {
                let mut b = [0; 1];
                conn.read_exact(&mut b).unwrap();
                println!("handling");
                // In flight when the signal comes; finishes within the grace.
                greenlet::sleep(Duration::from_millis(100));
                conn.write_all(&b).unwrap();
            })
            .unwrap();
        server
            .stop_on_signals(&[libc::SIGTERM, libc::SIGINT], Duration::from_secs(5))
            .unwrap();
        println!("ready {}", server.local_addr().port());
        let report = server.join();
        println!(
            "report served={} killed={} panics={}",
            report.served, report.killed_at_stop, report.handler_panics
        );
        return;
    }
    use std::io::BufRead;
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "sigterm_stops_a_server_gracefully",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let port = loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended early"
        );
        if let Some(p) = line.strip_prefix("ready ") {
            break p.trim().parse::<u16>().unwrap();
        }
    };
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(b"z").unwrap();
    // The request is in flight once its handler says so; the signal is caught since
    // before "ready".
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended early"
        );
        if line.trim() == "handling" {
            break;
        }
    }
    // SAFETY: kill(2) with our child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let mut b = [0; 1];
    conn.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"z", "the in-flight request finished");
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(status.success(), "child: {status}; stdout:\n{rest}");
    assert!(rest.contains("report served=1 killed=0 panics=0"), "{rest}");
}
