//! Unix-domain sockets at `greenlet::os::unix::net`.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use greenlet::os::unix::net::{UnixDatagram, UnixListener, UnixStream};

fn temp_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("greenlet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn stream_echo_through_a_listener() {
    let path = temp_path("unix-echo");
    let l = UnixListener::bind(&path).unwrap();
    let server = greenlet::spawn(move || {
        for s in l.incoming().take(2) {
            let mut s = s.unwrap();
            greenlet::spawn(move || {
                let mut buf = Vec::new();
                s.read_to_end(&mut buf).unwrap();
                s.write_all(&buf).unwrap();
            });
        }
    });
    let clients: Vec<_> = ["first", "second"]
        .into_iter()
        .map(|msg| {
            let path = path.clone();
            greenlet::spawn(move || {
                let mut c = UnixStream::connect(&path).unwrap();
                c.write_all(msg.as_bytes()).unwrap();
                c.shutdown(Shutdown::Write).unwrap();
                let mut back = String::new();
                c.read_to_string(&mut back).unwrap();
                assert_eq!(back, msg);
            })
        })
        .collect();
    for c in greenlet::joinall(clients) {
        c.unwrap();
    }
    server.join().unwrap();
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn pair_timeouts_and_kill() {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    assert_eq!(
        (&a).read(&mut [0; 4]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    let g = greenlet::spawn(move || {
        let _ = (&b).read(&mut [0; 4]);
    });
    greenlet::yield_now();
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
    // The killed greenlet's end was closed by its Drop.
    let mut buf = [0; 1];
    a.set_read_timeout(None).unwrap();
    assert_eq!((&a).read(&mut buf).unwrap(), 0);
    assert!(a.peer_addr().is_ok());
}

#[test]
fn datagrams() {
    let path = temp_path("unix-dgram");
    let server = UnixDatagram::bind(&path).unwrap();
    let g = greenlet::spawn(move || {
        let mut buf = [0; 32];
        let (n, from) = server.recv_from(&mut buf).unwrap();
        server
            .send_to(&buf[..n], from.as_pathname().unwrap())
            .unwrap();
    });
    let cpath = temp_path("unix-dgram-client");
    let client = UnixDatagram::bind(&cpath).unwrap();
    client.send_to(b"datagram", &path).unwrap();
    let mut buf = [0; 32];
    let n = client.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"datagram");
    g.join().unwrap();
    let (x, y) = UnixDatagram::pair().unwrap();
    let r = greenlet::spawn(move || {
        let mut buf = [0; 8];
        let n = y.recv(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    greenlet::yield_now();
    x.send(b"pair").unwrap();
    assert_eq!(r.join().unwrap(), b"pair");
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&cpath).unwrap();
}

#[test]
fn addr_variants() {
    use std::os::unix::net::SocketAddr;
    let path = temp_path("unix-addr");
    let addr = SocketAddr::from_pathname(&path).unwrap();
    let l = UnixListener::bind_addr(&addr).unwrap();
    let g = greenlet::spawn(move || l.accept().map(|(s, _)| s.local_addr().unwrap()));
    let c = UnixStream::connect_addr(&addr).unwrap();
    assert_eq!(
        g.join().unwrap().unwrap().as_pathname(),
        Some(path.as_path())
    );
    drop(c);
    let dpath = temp_path("unix-addr-dgram");
    let daddr = SocketAddr::from_pathname(&dpath).unwrap();
    let d = UnixDatagram::bind_addr(&daddr).unwrap();
    let u = UnixDatagram::unbound().unwrap();
    u.send_to_addr(b"to addr", &daddr).unwrap();
    u.connect_addr(&daddr).unwrap();
    u.send(b"connected").unwrap();
    let mut buf = [0; 16];
    let n = d.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"to addr");
    let n = d.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"connected");
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&dpath).unwrap();
}
