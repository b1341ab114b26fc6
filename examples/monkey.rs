//! The README's threaded `std::net` echo server, ported by changing one word:
//! `thread::spawn` → `greenlet::spawn`. The std imports stay; with the `monkey`
//! feature std's blocking calls park the greenlet instead of the thread, so one
//! thread serves every connection. Then a `ureq` fan-out: an unmodified HTTP client
//! crate making 20 requests at once, also on this one thread.
//!
//! ```sh
//! cargo run --release --features monkey --example monkey
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// The README's server (`thread::spawn` → `greenlet::spawn` is the only change),
/// on a port of the system's choosing.
fn echo_server(listener: TcpListener) -> std::io::Result<()> {
    for stream in listener.incoming() {
        let mut stream = stream?;
        greenlet::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 || stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
    Ok(())
}

/// A client: sends a few lines, checks each echo.
fn client(addr: SocketAddr, id: usize) -> bool {
    let stream = TcpStream::connect(addr).unwrap();
    let mut lines = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    (0..5).all(|i| {
        let line = format!("client {id} line {i}\n");
        stream.write_all(line.as_bytes()).unwrap();
        let mut echo = String::new();
        lines.read_line(&mut echo).unwrap();
        echo == line
    })
}

/// A std-only HTTP server that answers each request after `delay`.
fn slow_http(listener: TcpListener, delay: Duration) {
    for stream in listener.incoming() {
        // A kill of this greenlet fails the hooked accept (ECANCELED): stop then.
        let Ok(mut s) = stream else { return };
        greenlet::spawn(move || {
            let mut req = Vec::new();
            let mut buf = [0; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            std::thread::sleep(delay);
            let body = "hello from a std::net server";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        });
    }
}

fn main() {
    println!(
        "monkey hooks active: {}",
        greenlet::spawn(greenlet::monkey::is_active).join().unwrap()
    );

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    println!("echo server on {addr} (std::net, one thread)");
    let server = greenlet::spawn(move || echo_server(listener));
    let clients: Vec<_> = (0..100)
        .map(|id| greenlet::spawn(move || client(addr, id)))
        .collect();
    let ok = greenlet::joinall(clients)
        .into_iter()
        .filter(|r| matches!(r, Ok(true)))
        .count();
    println!("{ok}/100 clients got their lines echoed");
    server.kill();

    let delay = Duration::from_millis(200);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let http = greenlet::spawn(move || slow_http(listener, delay));
    let start = Instant::now();
    let fetches: Vec<_> = (0..20)
        .map(|i| {
            let url = format!("{base}/page/{i}");
            greenlet::spawn(move || ureq::get(&url).call()?.body_mut().read_to_string())
        })
        .collect();
    let bodies = greenlet::joinall(fetches);
    let good = bodies
        .iter()
        .filter(|b| matches!(b, Ok(Ok(s)) if s == "hello from a std::net server"))
        .count();
    println!(
        "ureq: {good}/20 fetches of a page served after {:.1} s took {:.1} s in all \
         (one after another: {:.1} s)",
        delay.as_secs_f64(),
        start.elapsed().as_secs_f64(),
        20.0 * delay.as_secs_f64()
    );
    http.kill();
}
