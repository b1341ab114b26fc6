//! gevent's `examples/echo_server.py`: a TCP echo server, one greenlet per
//! connection, with a client mode.
//!
//! ```text
//! cargo run --release --example echo_server -- server [ADDR]   # serve until killed
//! cargo run --release --example echo_server -- client ADDR TEXT...
//! cargo run --release --example echo_server                    # both, in one process
//! ```
//!
//! The last form starts the server on a free port, runs 100 clients at once against
//! it, prints a summary and exits. Set `GREENLET_FAST=1` for 20 clients.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::time::Instant;

use greenlet::net::{TcpListener, TcpStream};

/// Greets, then echoes each line back until the client says "quit" or hangs up.
fn handle(stream: TcpStream, peer: SocketAddr) -> std::io::Result<()> {
    let mut out = &stream;
    out.write_all(b"Welcome to the echo server! Type quit to exit.\r\n")?;
    for line in BufReader::new(&stream).lines() {
        let line = line?;
        if line.trim() == "quit" {
            break;
        }
        // One write per line: split writes would meet Nagle and delayed ACKs.
        out.write_all(format!("{line}\n").as_bytes())?;
    }
    eprintln!("{peer} left");
    Ok(())
}

/// Accepts forever, or `limit` connections.
fn serve(listener: TcpListener, limit: Option<usize>) {
    for (n, conn) in listener.incoming().enumerate() {
        match conn {
            Ok(s) => {
                let peer = s.peer_addr().expect("a connected socket has a peer");
                greenlet::spawn(move || handle(s, peer));
            }
            Err(e) => eprintln!("accept: {e}"),
        }
        if limit.is_some_and(|l| n + 1 >= l) {
            break;
        }
    }
}

/// Sends each text as a line and returns what came back.
fn client(addr: SocketAddr, texts: &[String]) -> std::io::Result<Vec<String>> {
    let stream = TcpStream::connect(addr)?;
    let mut lines = BufReader::new(&stream).lines();
    let _welcome = lines.next().transpose()?;
    let mut replies = Vec::new();
    for t in texts {
        (&stream).write_all(format!("{t}\n").as_bytes())?;
        replies.push(lines.next().transpose()?.unwrap_or_default());
    }
    (&stream).write_all(b"quit\n")?;
    Ok(replies)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => {
            let addr = args.get(1).map_or("127.0.0.1:16000", String::as_str);
            let listener = TcpListener::bind(addr).expect("bind");
            println!("Starting echo server on {}", listener.local_addr().unwrap());
            serve(listener, None);
        }
        Some("client") => {
            let addr: SocketAddr = args
                .get(1)
                .expect("client ADDR TEXT...")
                .parse()
                .expect("ADDR");
            for reply in client(addr, &args[2..]).expect("client") {
                println!("{reply}");
            }
        }
        _ => demo(),
    }
}

fn demo() {
    let clients = if std::env::var_os("GREENLET_FAST").is_some() {
        20
    } else {
        100
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    println!("echo server on {addr}");
    let server = greenlet::spawn(move || serve(listener, Some(clients)));
    let t = Instant::now();
    let gs: Vec<_> = (0..clients)
        .map(|i| {
            greenlet::spawn(move || {
                let texts = vec![format!("hello from client {i}"), format!("bye from {i}")];
                let replies = client(addr, &texts).expect("client");
                replies == texts
            })
        })
        .collect();
    let ok = greenlet::joinall(gs)
        .into_iter()
        .filter(|r| matches!(r, Ok(true)))
        .count();
    server.join().unwrap();
    greenlet::wait(); // The handlers finish.
    println!(
        "{ok}/{clients} clients got their lines echoed in {:?}",
        t.elapsed()
    );
}
