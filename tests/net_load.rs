//! Load: 10,000 concurrent connections to an echo server on one hub.
//!
//! The clients run in a child process (this same test binary, in client mode): the
//! fd limit here is 20,000 per process, and 10,000 connections need 10,000 fds on
//! each side.

mod support;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenlet::net::{TcpListener, TcpStream};

const CONNS: usize = 10_000;
const CLIENT_ENV: &str = "GREENLET_LOAD_CLIENT";

fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-pointer to an rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: a valid pointer to an initialised rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    assert!(
        lim.rlim_cur as usize >= CONNS + 100,
        "the fd limit ({}) is too low for this test",
        lim.rlim_cur
    );
}

fn message(i: usize) -> Vec<u8> {
    format!("[connection {i:05}]").repeat(5).into_bytes()
}

#[test]
fn ten_thousand_connections_on_one_hub() {
    if let Ok(addr) = std::env::var(CLIENT_ENV) {
        return client(addr.parse().unwrap());
    }
    raise_nofile();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let echoed = Rc::new(Cell::new(0usize));
    let finished = Rc::new(Cell::new(0usize));
    let (e, f) = (echoed.clone(), finished.clone());
    let server = greenlet::spawn(move || {
        for s in l.incoming().take(CONNS) {
            let mut s = s.unwrap();
            let (e, f) = (e.clone(), f.clone());
            greenlet::spawn(move || {
                s.write_all(b"+").unwrap(); // "Accepted": the client may go on.
                let mut buf = [0; 4096];
                loop {
                    let n = s.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    s.write_all(&buf[..n]).unwrap();
                    e.set(e.get() + n);
                }
                f.set(f.get() + 1);
            });
        }
    });
    let exe = std::env::current_exe().unwrap();
    let t = Instant::now();
    let child = std::process::Command::new(exe)
        .args([
            "--exact",
            "ten_thousand_connections_on_one_hub",
            "--nocapture",
        ])
        .env(CLIENT_ENV, addr.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The hub serves while a pool worker waits for the child.
    let out = greenlet::threadpool::apply(move || child.wait_with_output()).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "client failed: {stdout}");
    server.join().unwrap();
    while finished.get() < CONNS {
        assert!(
            t.elapsed() < support::late(Duration::from_secs(60)),
            "handlers stuck"
        );
        greenlet::sleep(Duration::from_millis(5));
    }
    let expect: usize = (0..CONNS).map(|i| message(i).len()).sum();
    assert_eq!(echoed.get(), expect);
    assert!(
        stdout.contains(&format!("load-client ok {CONNS} {expect}")),
        "{stdout}"
    );
    println!("{CONNS} connections echoed in {:?}", t.elapsed());
}

fn client(addr: SocketAddr) {
    raise_nofile();
    let connected = Rc::new(Cell::new(0usize));
    let connecting = Rc::new(Cell::new(0usize));
    let gs: Vec<_> = (0..CONNS)
        .map(|i| {
            let connected = connected.clone();
            let connecting = connecting.clone();
            greenlet::spawn(move || {
                // At most 1,000 connections not yet accepted: well within the accept
                // queue, which the kernel caps (4,096 here) and may reset past.
                while connecting.get() >= 1000 {
                    greenlet::sleep(Duration::from_millis(1));
                }
                connecting.set(connecting.get() + 1);
                let mut s = TcpStream::connect(addr).unwrap();
                let mut accepted = [0; 1];
                s.read_exact(&mut accepted).unwrap();
                assert_eq!(&accepted, b"+");
                connecting.set(connecting.get() - 1);
                connected.set(connected.get() + 1);
                // Every connection is open at once before any data moves.
                while connected.get() < CONNS {
                    greenlet::sleep(Duration::from_millis(5));
                }
                let msg = message(i);
                s.write_all(&msg).unwrap();
                let mut back = vec![0; msg.len()];
                s.read_exact(&mut back).unwrap();
                assert_eq!(back, msg, "connection {i} got another's data");
                s.shutdown(Shutdown::Write).unwrap();
                assert_eq!(s.read(&mut [0; 1]).unwrap(), 0);
                msg.len()
            })
        })
        .collect();
    let total: usize = greenlet::joinall(gs).into_iter().map(Result::unwrap).sum();
    println!("load-client ok {CONNS} {total}");
}
