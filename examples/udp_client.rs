//! gevent's `examples/udp_client.py`: sends one datagram to a UDP server and prints
//! the reply.
//!
//! ```text
//! cargo run --release --example udp_server -- serve           # in one terminal
//! cargo run --release --example udp_client -- 127.0.0.1:9000 MESSAGE
//! cargo run --release --example udp_client                   # demo, with its own responder
//! ```

use std::io;
use std::time::Duration;

use greenlet::net::UdpSocket;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let message = args.get(1).map_or("Hello from a greenlet", String::as_str);
    let (address, responder) = match args.first() {
        Some(a) => (a.clone(), None),
        None => {
            // No server given: answer like udp_server.rs does, from a greenlet here.
            let server = UdpSocket::bind("127.0.0.1:0")?;
            let addr = server.local_addr()?.to_string();
            let g = greenlet::spawn(move || -> io::Result<()> {
                let mut buf = [0; 65536];
                let (n, from) = server.recv_from(&mut buf)?;
                server.send_to(format!("Received {n} bytes").as_bytes(), from)?;
                Ok(())
            });
            (addr, Some(g))
        }
    };
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    println!("Sending {} bytes to {address}", message.len());
    sock.send_to(message.as_bytes(), address.as_str())?;
    let mut buf = [0; 8192];
    let (n, from) = sock.recv_from(&mut buf)?;
    println!("{from}: {}", String::from_utf8_lossy(&buf[..n]));
    if let Some(g) = responder {
        g.join().expect("the responder does not panic")?;
    }
    Ok(())
}
