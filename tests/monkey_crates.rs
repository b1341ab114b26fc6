//! Real crates, unmodified, on one thread: `ureq` (an HTTP client opening its own
//! std sockets) and `tungstenite` (WebSockets over std's `TcpStream`). Their
//! blocking calls park greenlets, so many requests overlap on one hub.

#![cfg(feature = "monkey")]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use support::watchdog::watchdog;
use support::{assert_took, ms};

/// A std-only HTTP server on this hub: each request is answered after 200 ms (a
/// std `thread::sleep`) with a body naming its path. Serves `n` connections.
fn slow_http_server(n: usize) -> (String, greenlet::Greenlet<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = greenlet::spawn(move || {
        let mut handlers = Vec::new();
        for _ in 0..n {
            let (mut s, _) = listener.accept().unwrap();
            handlers.push(greenlet::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    let k = s.read(&mut buf).unwrap();
                    assert!(k > 0, "the client closed mid-request");
                    req.extend_from_slice(&buf[..k]);
                }
                let line = String::from_utf8_lossy(&req);
                let path = line.split_whitespace().nth(1).unwrap_or("?").to_string();
                std::thread::sleep(ms(200));
                let body = format!("you asked for {path}");
                write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }));
        }
        for h in handlers {
            h.join().unwrap();
        }
    });
    (base, server)
}

#[test]
fn ureq_twenty_requests_overlap() {
    let _w = watchdog("ureq");
    let (base, server) = slow_http_server(20);
    let start = Instant::now();
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let url = format!("{base}/item/{i}");
            greenlet::spawn(move || {
                let mut resp = ureq::get(&url).call().unwrap();
                assert_eq!(resp.status(), 200);
                resp.body_mut().read_to_string().unwrap()
            })
        })
        .collect();
    for (i, c) in clients.into_iter().enumerate() {
        assert_eq!(c.join().unwrap(), format!("you asked for /item/{i}"));
    }
    // Twenty 200 ms answers one after another would take 4 s.
    assert_took(start, ms(200));
    server.join().unwrap();
}

#[test]
fn tungstenite_server_and_a_hundred_clients_on_one_thread() {
    use tungstenite::Message;
    let _w = watchdog("tungstenite");
    const CLIENTS: usize = 100;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = greenlet::spawn(move || {
        let mut handlers = Vec::new();
        for _ in 0..CLIENTS {
            let (s, _) = listener.accept().unwrap();
            handlers.push(greenlet::spawn(move || {
                let mut ws = tungstenite::accept(s).unwrap();
                let mut echoed = 0;
                loop {
                    match ws.read() {
                        Ok(m) if m.is_text() || m.is_binary() => {
                            ws.send(m).unwrap();
                            echoed += 1;
                        }
                        Ok(_) => {}
                        Err(tungstenite::Error::ConnectionClosed) => break echoed,
                        Err(e) => panic!("server: {e}"),
                    }
                }
            }));
        }
        handlers
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum::<usize>()
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            greenlet::spawn(move || {
                let stream = TcpStream::connect(addr).unwrap();
                let (mut ws, _) = tungstenite::client(format!("ws://{addr}/"), stream).unwrap();
                for round in 0..3 {
                    let text = format!("client {i} round {round}");
                    ws.send(Message::text(text.clone())).unwrap();
                    let reply = ws.read().unwrap();
                    assert_eq!(reply.into_text().unwrap().as_str(), text);
                }
                ws.close(None).unwrap();
                loop {
                    match ws.read() {
                        Ok(_) => {}
                        Err(tungstenite::Error::ConnectionClosed) => break,
                        Err(e) => panic!("client {i}: {e}"),
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(server.join().unwrap(), CLIENTS * 3);
}
