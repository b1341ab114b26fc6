//! A minimal HTTP/1.1 server with keep-alive (gevent's `examples/wsgiserver.py`,
//! without WSGI) on `StreamServer`: one greenlet per connection, on one hub or
//! several, every request answered with a plain-text hello. `curl` and `wrk` can
//! drive it.
//!
//! ```text
//! cargo run --release --example http_server -- serve [ADDR] [--hubs N]  # 127.0.0.1:8088, 1 hub, until killed
//! curl -v http://127.0.0.1:8088/
//! wrk -t2 -c1000 -d10 http://127.0.0.1:8088/   # 1000 connections need `ulimit -n` over 1024 on both sides
//! cargo run --release --example http_server                             # demo: serve, request, exit
//! ```
//!
//! `--hubs 0` serves on one hub per CPU. The demo serves on two hubs, sends five
//! requests on two connections (one of them keep-alive), stops the server and
//! prints what it served.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use greenlet::net::TcpStream;
use greenlet::server::{ServerHandle, StreamServer};

const BODY: &[u8] = b"Hello, World!\n";

/// Serves requests on one connection until the client closes it or asks to.
fn handle(stream: TcpStream) -> io::Result<()> {
    let mut reader = BufReader::new(&stream);
    let mut out = Vec::with_capacity(256);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(()); // The client hung up between requests.
        }
        let http10 = request_line.trim_end().ends_with("HTTP/1.0");
        let mut keep_alive = !http10;
        let mut content_length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            let (name, value) = (
                name.trim().to_ascii_lowercase(),
                value.trim().to_ascii_lowercase(),
            );
            match name.as_str() {
                "content-length" => content_length = value.parse().unwrap_or(0),
                "connection" if value == "close" => keep_alive = false,
                "connection" if value == "keep-alive" => keep_alive = true,
                _ => {}
            }
        }
        io::copy(
            &mut (&mut reader).take(content_length as u64),
            &mut io::sink(),
        )?;
        out.clear();
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n",
            BODY.len(),
            if keep_alive {
                ""
            } else {
                "Connection: close\r\n"
            }
        )?;
        out.extend_from_slice(BODY);
        (&stream).write_all(&out)?;
        if !keep_alive {
            return Ok(());
        }
    }
}

/// Serves on `hubs` hubs until stopped.
fn start(addr: &str, hubs: usize) -> ServerHandle {
    StreamServer::bind(addr)
        .expect("bind")
        .hubs(hubs)
        .serve(|stream, _peer| {
            let _ = stream.set_nodelay(true);
            // A client that hangs up mid-request is no error of the server's.
            let _ = handle(stream);
        })
        .expect("serve")
}

/// Sends `requests` on one connection and returns each response's status line and body.
fn get_many(addr: SocketAddr, requests: &[&str]) -> io::Result<Vec<(String, String)>> {
    let stream = TcpStream::connect(addr)?;
    let mut reader = BufReader::new(&stream);
    let mut responses = Vec::new();
    for req in requests {
        (&stream).write_all(req.as_bytes())?;
        let mut status = String::new();
        reader.read_line(&mut status)?;
        let mut len = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            if h.trim_end().is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        responses.push((
            status.trim_end().to_string(),
            String::from_utf8_lossy(&body).into(),
        ));
    }
    Ok(responses)
}

/// `serve [ADDR] [--hubs N]`, in any order.
fn serve_args(args: &[String]) -> (String, usize) {
    let (mut addr, mut hubs) = ("127.0.0.1:8088".to_string(), 1);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--hubs" {
            let n = it.next().expect("--hubs N");
            hubs = n.parse().expect("--hubs N: a number (0: one per CPU)");
        } else {
            addr = a.clone();
        }
    }
    (addr, hubs)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        let (addr, hubs) = serve_args(&args[1..]);
        let hubs = greenlet::Hubs::new(hubs).len(); // 0: one per CPU
        let server = start(&addr, hubs);
        let s = if hubs == 1 { "" } else { "s" };
        println!("Serving on http://{}/ ({hubs} hub{s})", server.local_addr());
        server.join(); // until killed
        return;
    }
    let server = start("127.0.0.1:0", 2);
    let addr = server.local_addr();
    println!("Serving on http://{addr}/ (2 hubs)");
    let keep_alive = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let post = "POST /form HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello";
    let close = "GET /last HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let a = greenlet::spawn(move || get_many(addr, &[keep_alive, post, keep_alive, close]));
    let b = greenlet::spawn(move || get_many(addr, &["GET / HTTP/1.0\r\n\r\n"]));
    let a = a.join().unwrap().expect("client a");
    let b = b.join().unwrap().expect("client b");
    for (status, body) in a.iter().chain(&b) {
        println!("{status}: {}", body.trim_end());
    }
    // The server closes both connections itself (Connection: close, HTTP/1.0), so
    // the handlers end on their own; the grace period only bounds the wait.
    server.stop(Duration::from_secs(1));
    let report = server.join();
    println!(
        "{} requests on {} connections (one keep-alive)",
        a.len() + b.len(),
        report.served
    );
}
