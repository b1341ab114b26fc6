//! gevent's `examples/udp_server.py`: answers each datagram with
//! "Received N bytes". See `udp_client.rs` for the other side.
//!
//! ```text
//! cargo run --release --example udp_server -- serve [ADDR]   # 127.0.0.1:9000, until killed
//! cargo run --release --example udp_server                   # demo: serve 3, send 3, exit
//! ```

use std::io;

use greenlet::net::UdpSocket;

/// Answers `limit` datagrams (or forever).
fn serve(socket: &UdpSocket, limit: Option<usize>) -> io::Result<()> {
    let mut buf = [0; 65536];
    let mut served = 0;
    while limit.is_none_or(|l| served < l) {
        let (n, from) = socket.recv_from(&mut buf)?;
        println!(
            "{}: got {:?}",
            from.ip(),
            String::from_utf8_lossy(&buf[..n])
        );
        socket.send_to(format!("Received {n} bytes").as_bytes(), from)?;
        served += 1;
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        let socket = UdpSocket::bind(args.get(1).map_or("127.0.0.1:9000", String::as_str))?;
        println!("Receiving datagrams on {}", socket.local_addr()?);
        return serve(&socket, None);
    }
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let addr = socket.local_addr()?;
    println!("Receiving datagrams on {addr}");
    let server = greenlet::spawn(move || serve(&socket, Some(3)));
    let client = UdpSocket::bind("127.0.0.1:0")?;
    client.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    for msg in ["hello", "green", "world!"] {
        client.send_to(msg.as_bytes(), addr)?;
        let mut buf = [0; 64];
        let (n, _) = client.recv_from(&mut buf)?;
        println!("reply: {}", String::from_utf8_lossy(&buf[..n]));
    }
    server.join().expect("the server does not panic")
}
