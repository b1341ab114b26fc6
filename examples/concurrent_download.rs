//! gevent's `examples/concurrent_download.py`: fetch several URLs at once with a
//! small HTTP/1.1 GET client; the total time is about the slowest download, not the
//! sum. The URLs are served by a local server in the same process, each answering
//! after its own delay.
//!
//! Run it with `cargo run --release --example concurrent_download`; set
//! `GREENLET_FAST=1` for shorter delays.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use greenlet::net::{TcpListener, TcpStream};

/// Answers `GET /delay/<ms>` after that many milliseconds with a 64 KiB body.
fn server(listener: TcpListener, requests: usize) {
    for conn in listener.incoming().take(requests) {
        let s = conn.expect("accept");
        greenlet::spawn(move || -> io::Result<()> {
            let mut line = String::new();
            let mut reader = BufReader::new(&s);
            reader.read_line(&mut line)?;
            while {
                let mut h = String::new();
                reader.read_line(&mut h)? > 0 && !h.trim_end().is_empty()
            } {}
            let ms: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.strip_prefix("/delay/"))
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            greenlet::sleep(Duration::from_millis(ms));
            let body = vec![b'x'; 64 * 1024];
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            (&s).write_all(head.as_bytes())?;
            (&s).write_all(&body)
        });
    }
}

/// A minimal `GET http://host:port/path`: returns the status code and body length.
fn get(url: &str) -> io::Result<(u16, usize)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or(io::ErrorKind::InvalidInput)?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = TcpStream::connect(host)?;
    s.write_all(
        format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut response = Vec::new();
    s.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or(0, |(_, b)| b.len());
    Ok((status, body))
}

fn main() {
    let unit = if std::env::var_os("GREENLET_FAST").is_some() {
        20
    } else {
        200
    };
    let delays: Vec<u64> = [3, 1, 2, 1, 3, 2].iter().map(|d| d * unit).collect();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr: SocketAddr = listener.local_addr().unwrap();
    greenlet::spawn({
        let n = delays.len();
        move || server(listener, n)
    });
    let t = Instant::now();
    let downloads: Vec<_> = delays
        .iter()
        .map(|&ms| {
            let url = format!("http://{addr}/delay/{ms}");
            greenlet::spawn(move || {
                let r = get(&url);
                match &r {
                    Ok((status, len)) => {
                        println!("{url}: {status}, {len} bytes after {:?}", t.elapsed())
                    }
                    Err(e) => println!("{url}: failed: {e}"),
                }
                r
            })
        })
        .collect();
    let ok = greenlet::joinall(downloads)
        .into_iter()
        .filter(|r| matches!(r, Ok(Ok((200, _)))))
        .count();
    let total = t.elapsed();
    let slowest = Duration::from_millis(*delays.iter().max().unwrap());
    let sum = Duration::from_millis(delays.iter().sum());
    println!(
        "{ok}/{} downloads in {total:?}: slowest alone {slowest:?}, sum {sum:?}",
        delays.len()
    );
    println!(
        "about the slowest, not the sum: {}",
        if total < slowest + (sum - slowest) / 2 {
            "yes"
        } else {
            "no"
        }
    );
}
