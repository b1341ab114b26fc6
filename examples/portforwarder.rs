//! gevent's `examples/portforwarder.py`: accepts connections and forwards each to a
//! destination, copying both ways with two greenlets.
//!
//! ```text
//! cargo run --release --example portforwarder -- LISTEN_ADDR DEST_ADDR   # until killed
//! cargo run --release --example portforwarder                           # demo
//! ```
//!
//! The demo starts an echo backend and a forwarder in front of it, sends data through
//! the forwarder from several clients, checks it and exits.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};

use greenlet::net::{TcpListener, TcpStream};

/// Copies `from` to `to` until EOF, then half-closes `to` so the other side sees EOF.
fn pipe(from: TcpStream, to: TcpStream) -> std::io::Result<u64> {
    let n = std::io::copy(&mut &from, &mut &to)?;
    let _ = to.shutdown(Shutdown::Write);
    Ok(n)
}

fn forward(source: TcpStream, dest: SocketAddr) -> std::io::Result<()> {
    let dest = TcpStream::connect(dest)?;
    let (s2, d2) = (source.try_clone()?, dest.try_clone()?);
    let up = greenlet::spawn(move || pipe(source, dest));
    let down = pipe(d2, s2)?;
    let up = up.join().expect("the upstream copier does not panic")?;
    eprintln!("forwarded {up} bytes up, {down} bytes down");
    Ok(())
}

fn serve(listener: TcpListener, dest: SocketAddr, limit: Option<usize>) {
    for (n, conn) in listener.incoming().enumerate() {
        match conn {
            Ok(s) => {
                greenlet::spawn(move || forward(s, dest));
            }
            Err(e) => eprintln!("accept: {e}"),
        }
        if limit.is_some_and(|l| n + 1 >= l) {
            break;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [listen, dest] = &args[..] {
        let listener = TcpListener::bind(listen.as_str()).expect("bind");
        let dest = greenlet::net::ToSocketAddrs::to_socket_addrs(dest.as_str())
            .expect("resolve")
            .next()
            .expect("an address");
        println!("forwarding {} -> {dest}", listener.local_addr().unwrap());
        serve(listener, dest, None);
        return;
    }
    const CLIENTS: usize = 5;
    // The backend: echoes everything until EOF.
    let backend = TcpListener::bind("127.0.0.1:0").expect("bind");
    let backend_addr = backend.local_addr().unwrap();
    greenlet::spawn(move || {
        for conn in backend.incoming().take(CLIENTS) {
            let s = conn.expect("accept");
            greenlet::spawn(move || {
                let n = std::io::copy(&mut &s, &mut &s).expect("echo");
                let _ = s.shutdown(Shutdown::Write);
                n
            });
        }
    });
    let front = TcpListener::bind("127.0.0.1:0").expect("bind");
    let front_addr = front.local_addr().unwrap();
    println!("forwarder {front_addr} -> echo backend {backend_addr}");
    greenlet::spawn(move || serve(front, backend_addr, Some(CLIENTS)));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            greenlet::spawn(move || {
                let msg = format!("message {i} ").repeat(1000);
                let mut s = TcpStream::connect(front_addr).expect("connect");
                s.write_all(msg.as_bytes()).expect("write");
                s.shutdown(Shutdown::Write).expect("shutdown");
                let mut back = String::new();
                s.read_to_string(&mut back).expect("read");
                back == msg
            })
        })
        .collect();
    let ok = greenlet::joinall(clients)
        .into_iter()
        .filter(|r| matches!(r, Ok(true)))
        .count();
    greenlet::wait();
    println!("{ok}/{CLIENTS} clients got their data back through the forwarder");
}
