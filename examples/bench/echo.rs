//! Scenario 7, TCP echo over loopback: the same load against three servers, each a child
//! process of the bench (so its RSS can be read from `/proc/PID/status` while it is
//! loaded):
//!
//! - `--child echo-green HUBS WORK`: with HUBS = 1 the server of the README's porting
//!   section (`greenlet::net::TcpListener`, `incoming()`, `greenlet::spawn` per
//!   connection, `read` / `write_all` with a `[0; 4096]` stack buffer); with HUBS > 1
//!   the same handler on `StreamServer::hubs(HUBS)`, which prints its per-hub
//!   connection counts when its stdin closes;
//! - `--child echo-thread WORK`: `std::net`, one thread per connection (64 KiB
//!   stacks), the same handler;
//! - `--child echo-monkey` (only in a bench built with `--features monkey`): that
//!   threaded `std::net` server with `thread::spawn` → `greenlet::spawn`, its std
//!   reads and writes parked by the `monkey` hooks; compared with `echo-green`;
//! - `--child echo-mio-short`: a hand-written single-threaded mio loop (edge-triggered,
//!   read until a short read or `WouldBlock`, write back, keep pending output if the
//!   socket is full): the most one thread can do here, and the syscalls
//!   `greenlet::net::TcpStream` makes (a short read drains the socket, so neither
//!   reads again until the next edge);
//! - `--child echo-mio`: the same loop reading on to `WouldBlock`, as mio's docs put
//!   it: one more syscall per round trip (not in the table; for comparison by hand).
//!
//! Each server binds `127.0.0.1:0`, prints `port=N`, serves until killed, and exits
//! when its stdin closes (the bench holds the other end) or after 10 minutes. WORK > 0
//! makes the green and thread servers CPU-bound: each message is answered after WORK
//! rounds of a hash over it (the bench calibrates WORK to about 20 µs once, in the
//! parent, and passes the same number to every server).
//!
//! The load generator is one more child, `--child echo-load PORT C WARMUP_MS
//! MEASURE_MS`: a single-threaded mio client (identical for every server) holding C
//! connections, each with one 64-byte message in flight: send, wait for the whole
//! echo, check every byte, record the latency, send the next one.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mio::net::{TcpListener as MioListener, TcpStream as MioStream};
use mio::{Events, Interest, Poll, Token};

use super::{Cfg, Report, Row, THREAD_STACK, Target, Unit, fmt_bytes, fmt_ns, median, short};

/// Message size.
pub(super) const MSG: usize = 64;

/// Server read buffer (every server): the README's `[0; 4096]`, the buffer a user
/// writes (it touches a second page of each greenlet's stack).
pub(super) const BUF: usize = 4096;

/// Computation per message in the CPU-bound echo.
const WORK_TARGET: Duration = Duration::from_micros(20);

/// Servers exit on their own after this, whatever happens to the bench.
pub(super) const SERVER_LIFETIME: Duration = Duration::from_secs(600);

// ---- children --------------------------------------------------------------------

/// `--child echo-*`: runs one echo child and exits.
pub fn child(kind: &str, args: &[String]) {
    raise_nofile();
    let arg = |i: usize| args.get(i).and_then(|a| a.parse::<usize>().ok());
    match kind {
        "echo-green" => server_green(arg(0).unwrap_or(1), arg(1).unwrap_or(0) as u64),
        "echo-thread" => server_thread(arg(0).unwrap_or(0) as u64),
        "echo-monkey" => server_monkey(),
        "echo-mio" => server_mio(false),
        "echo-mio-short" => server_mio(true),
        "echo-load" => load(
            arg(0).expect("echo-load PORT C WARMUP_MS MEASURE_MS") as u16,
            arg(1).unwrap_or(100),
            Duration::from_millis(arg(2).unwrap_or(500) as u64),
            Duration::from_millis(arg(3).unwrap_or(1000) as u64),
        ),
        other => panic!("unknown echo child {other:?}"),
    }
}

/// Soft `RLIMIT_NOFILE` up to the hard limit: 10,000 connections need 10,000 fds.
pub(super) fn raise_nofile() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// The accept queue as deep as the system allows (`net.core.somaxconn`), as
/// `greenlet::net::TcpListener::bind` does, so that no server drops SYNs (and makes a
/// client retry after a second) while it falls behind accepting a burst.
fn deep_backlog(fd: RawFd) {
    // SAFETY: listen(2) again on a listening socket only changes its backlog.
    unsafe { libc::listen(fd, libc::c_int::MAX) };
}

/// Prints the port, then exits when stdin closes or the lifetime is over.
fn announce(port: u16) {
    println!("port={port}");
    let _ = io::stdout().flush();
    thread::spawn(|| {
        let _ = io::copy(&mut io::stdin(), &mut io::sink());
        std::process::exit(0);
    });
    thread::spawn(|| {
        thread::sleep(SERVER_LIFETIME);
        std::process::exit(1);
    });
}

/// The README's handler, with `work` rounds of computation per message.
fn serve_conn<S: Read + Write>(mut stream: S, work: u64) {
    let mut buf = [0; BUF];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        if work > 0 {
            std::hint::black_box(compute(work, &buf[..n]));
        }
        if stream.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

/// `rounds` rounds of FNV-1a over `data`: a dependent chain of multiplies the
/// compiler cannot skip or vectorise.
#[inline(never)]
fn compute(rounds: u64, data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for r in 0..rounds {
        for &b in data {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= r;
    }
    h
}

/// Rounds of `compute` over a 64-byte message that take about `WORK_TARGET` on
/// this machine: the fastest of several timings (the least disturbed by the
/// machine's other load).
fn calibrate_work() -> u64 {
    let msg = [7u8; MSG];
    let probe = 2_000;
    let best = (0..15)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(compute(probe, std::hint::black_box(&msg)));
            t.elapsed()
        })
        .min()
        .expect("timings");
    ((WORK_TARGET.as_secs_f64() / best.as_secs_f64()) * probe as f64).max(1.0) as u64
}

fn server_green(hubs: usize, work: u64) {
    if hubs > 1 {
        return server_hubs(hubs, work);
    }
    let listener = greenlet::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    announce(listener.local_addr().expect("local_addr").port());
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("echo-green: accept: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        greenlet::spawn(move || serve_conn(stream, work));
    }
}

/// The same handler on `StreamServer` with `hubs` hubs; when stdin closes, stops the
/// server and prints `per_hub=A,B,...` (connections each hub accepted).
fn server_hubs(hubs: usize, work: u64) {
    let server = greenlet::server::StreamServer::bind("127.0.0.1:0")
        .expect("bind")
        .hubs(hubs)
        .serve(move |stream, _| {
            let _ = stream.set_nodelay(true);
            serve_conn(stream, work);
        })
        .expect("serve");
    println!("port={}", server.local_addr().port());
    let _ = io::stdout().flush();
    thread::spawn(|| {
        thread::sleep(SERVER_LIFETIME);
        std::process::exit(1);
    });
    let _ = io::copy(&mut io::stdin(), &mut io::sink());
    server.stop(Duration::ZERO);
    let report = server.join();
    let per_hub: Vec<String> = report.per_hub.iter().map(u64::to_string).collect();
    println!("per_hub={}", per_hub.join(","));
    let _ = io::stdout().flush();
    // SAFETY: exiting without running destructors, as the other servers do.
    unsafe { libc::_exit(0) };
}

fn server_thread(work: u64) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    deep_backlog(listener.as_raw_fd());
    announce(listener.local_addr().expect("local_addr").port());
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("echo-thread: accept: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let spawned = thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(move || serve_conn(stream, work));
        if let Err(e) = spawned {
            eprintln!("echo-thread: spawn: {e}");
        }
    }
}

/// `server_thread` with `thread::spawn` → `greenlet::spawn`: std's blocking calls,
/// green through the `monkey` hooks (without the feature it would serve one
/// connection at a time, so the bench runs it only with the feature).
fn server_monkey() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    deep_backlog(listener.as_raw_fd());
    announce(listener.local_addr().expect("local_addr").port());
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("echo-monkey: accept: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        greenlet::spawn(move || serve_conn(stream, 0));
    }
}

/// One connection of the mio server.
struct MioConn {
    stream: MioStream,
    /// Output the socket would not take yet.
    pending: Vec<u8>,
}

const LISTENER: Token = Token(usize::MAX);

fn server_mio(short_read_drains: bool) {
    let mut poll = Poll::new().expect("poll");
    let mut listener = MioListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    deep_backlog(listener.as_raw_fd());
    announce(listener.local_addr().expect("local_addr").port());
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .expect("register");
    let mut conns: Vec<Option<MioConn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut buf = vec![0u8; BUF];
    let mut events = Events::with_capacity(1024);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            panic!("poll: {e}");
        }
        for ev in &events {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let i = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            poll.registry()
                                .register(
                                    &mut stream,
                                    Token(i),
                                    Interest::READABLE | Interest::WRITABLE,
                                )
                                .expect("register");
                            conns[i] = Some(MioConn {
                                stream,
                                pending: Vec::new(),
                            });
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => {
                            eprintln!("echo-mio: accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let i = ev.token().0;
            let Some(conn) = conns.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            let alive = (!ev.is_writable() || flush(conn))
                && (!ev.is_readable()
                    || echo_back(conn, &mut buf, short_read_drains && !ev.is_read_closed()));
            if !alive {
                let mut c = conns[i].take().expect("live connection");
                let _ = poll.registry().deregister(&mut c.stream);
                free.push(i);
            }
        }
    }
}

/// Writes out pending output; false when the connection is dead.
fn flush(conn: &mut MioConn) -> bool {
    while !conn.pending.is_empty() {
        match conn.stream.write(&conn.pending) {
            Ok(n) => {
                conn.pending.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// Reads until `WouldBlock` (or, with `short_read_drains`, until a read fills less
/// than the buffer: the socket is drained and new data brings a new edge), writing
/// everything back; false when the connection is dead.
fn echo_back(conn: &mut MioConn, buf: &mut [u8], short_read_drains: bool) -> bool {
    loop {
        match conn.stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                let drained = short_read_drains && n < buf.len();
                let mut data = &buf[..n];
                if conn.pending.is_empty() {
                    loop {
                        match conn.stream.write(data) {
                            Ok(w) => data = &data[w..],
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                            Err(_) => return false,
                        }
                        if data.is_empty() {
                            break;
                        }
                    }
                }
                conn.pending.extend_from_slice(data);
                if drained {
                    return true;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

// ---- the load generator ----------------------------------------------------------

/// One client connection: one message in flight.
struct Client {
    stream: MioStream,
    id: u32,
    seq: u32,
    msg: [u8; MSG],
    /// Bytes of `msg` written so far.
    sent: usize,
    reply: [u8; MSG],
    /// Bytes of the echo received so far.
    got: usize,
    at: Instant,
}

impl Client {
    fn next_message(&mut self) {
        self.seq = self.seq.wrapping_add(1);
        self.msg[..4].copy_from_slice(&self.id.to_le_bytes());
        self.msg[4..8].copy_from_slice(&self.seq.to_le_bytes());
        for (i, b) in self.msg[8..].iter_mut().enumerate() {
            *b = (i as u32).wrapping_mul(31).wrapping_add(self.seq) as u8;
        }
        self.sent = 0;
        self.got = 0;
        self.at = Instant::now();
    }

    /// Writes what is left of the message; false on error.
    fn send(&mut self) -> bool {
        while self.sent < MSG {
            match self.stream.write(&self.msg[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Reads the echo; `Ok(true)` once it is complete (and checked).
    fn receive(&mut self) -> Result<bool, String> {
        while self.got < MSG {
            match self.stream.read(&mut self.reply[self.got..]) {
                Ok(0) => return Err("server closed a connection".into()),
                Ok(n) => self.got += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        if self.reply != self.msg {
            return Err(format!("connection {}: echo differs from message", self.id));
        }
        Ok(true)
    }
}

fn load(port: u16, c: usize, warmup: Duration, measure: Duration) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut poll = Poll::new().expect("poll");
    let t0 = Instant::now();
    let mut clients = Vec::with_capacity(c);
    for i in 0..c {
        if t0.elapsed() > Duration::from_secs(60) {
            fail(&format!("connecting took over 60 s ({i} of {c})"));
        }
        let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .unwrap_or_else(|e| fail(&format!("connect {i} of {c}: {e}")));
        s.set_nodelay(true).expect("nodelay");
        s.set_nonblocking(true).expect("nonblocking");
        let mut stream = MioStream::from_std(s);
        poll.registry()
            .register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .expect("register");
        clients.push(Client {
            stream,
            id: i as u32,
            seq: 0,
            msg: [0; MSG],
            sent: 0,
            reply: [0; MSG],
            got: 0,
            at: t0,
        });
    }
    let connect = t0.elapsed();
    for cl in &mut clients {
        cl.next_message();
        if !cl.send() {
            fail("first send failed");
        }
    }
    let start = Instant::now();
    let (from, until) = (start + warmup, start + warmup + measure);
    let mut lat: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut done: u64 = 0;
    let mut events = Events::with_capacity(1024);
    let mut now = Instant::now();
    while now < until {
        let wait = (until - now).min(Duration::from_millis(50));
        if let Err(e) = poll.poll(&mut events, Some(wait))
            && e.kind() != ErrorKind::Interrupted
        {
            fail(&format!("poll: {e}"));
        }
        for ev in &events {
            let cl = &mut clients[ev.token().0];
            if ev.is_writable() && cl.sent < MSG && !cl.send() {
                fail("send failed");
            }
            if !ev.is_readable() {
                continue;
            }
            match cl.receive() {
                Ok(false) => {}
                Ok(true) => {
                    let t = Instant::now();
                    if t >= from && t < until {
                        done += 1;
                        lat.push(u32::try_from((t - cl.at).as_nanos()).unwrap_or(u32::MAX));
                    }
                    cl.next_message();
                    if !cl.send() {
                        fail("send failed");
                    }
                }
                Err(e) => fail(&e),
            }
        }
        now = Instant::now();
    }
    let secs = (now.min(until) - from).as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(f64::NAN, |&v| f64::from(v))
    };
    println!("rate={}", done as f64 / secs);
    println!("p50={}", pct(0.50));
    println!("p99={}", pct(0.99));
    println!("connect_ms={}", connect.as_secs_f64() * 1e3);
    let _ = io::stdout().flush();
    // SAFETY: exiting without running destructors; 10,000 sockets close with the process.
    unsafe { libc::_exit(0) };
}

pub(super) fn fail(msg: &str) -> ! {
    println!("err={msg}");
    let _ = io::stdout().flush();
    std::process::exit(1)
}

// ---- the parent ------------------------------------------------------------------

/// What one (server, C) measurement gave.
#[derive(Clone)]
struct Sample {
    rate: f64,
    p50: f64,
    p99: f64,
    rss: f64,
    /// Connections per hub, from a `StreamServer` child.
    per_hub: Option<String>,
    err: Option<String>,
}

/// One server as the bench starts it: `--child echo-KIND ARGS...`.
#[derive(Clone)]
pub(super) struct Server {
    pub(super) kind: &'static str,
    args: Vec<String>,
}

impl Server {
    pub(super) fn new(kind: &'static str, args: &[u64]) -> Server {
        Server {
            kind,
            args: args.iter().map(u64::to_string).collect(),
        }
    }
}

fn vm_rss(pid: u32) -> f64 {
    status_bytes(pid, "VmRSS:")
}

/// A `kB` field of `/proc/PID/status` (`VmRSS:`, `VmPTE:`), in bytes; 0 when the
/// process is gone.
pub(super) fn status_bytes(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib * 1024.0)
}

/// Closes the server's stdin (it exits, a `StreamServer` child after printing its
/// per-hub counts), reads what it printed after the port, and reaps it.
pub(super) fn finish(mut child: Child, mut out: Option<BufReader<ChildStdout>>) -> String {
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut rest = String::new();
    if let Some(o) = out.as_mut() {
        let _ = o.read_to_string(&mut rest);
    }
    rest
}

/// The bench's own binary, for its children. Not `current_exe()`: a rebuild during
/// the run replaces that path, while /proc/self/exe stays this very binary.
pub(super) const EXE: &str = "/proc/self/exe";

/// Starts `server` and reads the port it announces: the child, its stdout after
/// that line (for `finish`) and the port.
pub(super) fn start(
    server: &Server,
) -> Result<(Child, Option<BufReader<ChildStdout>>, u16), String> {
    let name = format!("echo-{}", server.kind);
    let mut srv = Command::new(EXE)
        .args(["--child", &name])
        .args(&server.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cannot start the echo server");
    let mut srv_out = srv.stdout.take().map(BufReader::new);
    let mut line = String::new();
    let port = srv_out
        .as_mut()
        .and_then(|r| r.read_line(&mut line).ok())
        .and_then(|_| line.trim().strip_prefix("port=")?.parse::<u16>().ok());
    match port {
        Some(port) => Ok((srv, srv_out, port)),
        None => {
            finish(srv, srv_out);
            Err(format!("{name} did not start"))
        }
    }
}

/// Starts `server` and the load generator against it; reads the server's peak RSS
/// while loaded.
fn measure(server: &Server, c: usize, warmup: Duration, dur: Duration) -> Sample {
    let bad = |e: String| Sample {
        rate: f64::NAN,
        p50: f64::NAN,
        p99: f64::NAN,
        rss: f64::NAN,
        per_hub: None,
        err: Some(e),
    };
    let name = format!("echo-{}", server.kind);
    let (srv, srv_out, port) = match start(server) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let ms = |d: Duration| d.as_millis().to_string();
    let mut ld = Command::new(EXE)
        .args([
            "--child",
            "echo-load",
            &port.to_string(),
            &c.to_string(),
            &ms(warmup),
            &ms(dur),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("cannot start the load generator");
    let deadline = Instant::now() + warmup + dur + Duration::from_secs(90);
    let mut rss: f64 = 0.0;
    let mut timed_out = false;
    loop {
        match ld.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() > deadline => {
                let _ = ld.kill();
                timed_out = true;
                break;
            }
            Ok(None) => {}
            Err(e) => panic!("waiting for the load generator: {e}"),
        }
        rss = rss.max(vm_rss(srv.id()));
        thread::sleep(Duration::from_millis(25));
    }
    let mut out = String::new();
    if let Some(mut o) = ld.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    let _ = ld.wait();
    let rest = finish(srv, srv_out);
    if timed_out {
        return bad(format!("{name} C={c}: load generator timed out"));
    }
    let field = |text: &str, k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(str::to_string)
    };
    let num = |k: &str| {
        field(&out, k)
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    if let Some(e) = field(&out, "err") {
        return bad(format!("{name} C={c}: {e}"));
    }
    Sample {
        rate: num("rate"),
        p50: num("p50"),
        p99: num("p99"),
        rss,
        per_hub: field(&rest, "per_hub"),
        err: None,
    }
}

fn fmt_rate(v: f64) -> String {
    if v >= 1e3 {
        format!("{:.1}k/s", v / 1e3)
    } else {
        format!("{v:.0}/s")
    }
}

/// Runs every server of `servers` `reps` times at C = `c`, alternating their order
/// per repetition (so no server always runs right after another); one `Vec` of
/// samples per server.
fn run_all(
    what: &str,
    servers: &[Server],
    c: usize,
    reps: usize,
    warmup: Duration,
    dur: Duration,
) -> Vec<Vec<Sample>> {
    let mut s: Vec<Vec<Sample>> = vec![Vec::new(); servers.len()];
    eprint!("  {what} C={}, rep", short(c));
    for rep in 0..reps {
        eprint!(" {}", rep + 1);
        for k in 0..servers.len() {
            let k = (k + rep) % servers.len();
            s[k].push(measure(&servers[k], c, warmup, dur));
        }
    }
    eprintln!();
    s
}

fn col(v: &[Sample], f: fn(&Sample) -> f64) -> Vec<f64> {
    v.iter().map(f).collect()
}

fn med(v: &[Sample], f: fn(&Sample) -> f64) -> f64 {
    median(&col(v, f))
}

/// "; FAILED: ..." for the samples that failed, or nothing.
fn failures(all: &[Vec<Sample>]) -> String {
    let errs: Vec<String> = all.iter().flatten().filter_map(|x| x.err.clone()).collect();
    if errs.is_empty() {
        String::new()
    } else {
        format!("; FAILED: {}", errs.join("; "))
    }
}

/// The 2-hub server's connections per hub, one `a/b` per repetition.
fn per_hub(v: &[Sample]) -> String {
    let each: Vec<String> = v
        .iter()
        .map(|x| x.per_hub.as_deref().unwrap_or("?").replace(',', "/"))
        .collect();
    each.join(", ")
}

pub fn echo(cfg: &Cfg, report: &mut Report) {
    let (sizes, reps, warmup, dur): (&[usize], usize, u64, u64) = if cfg.quick {
        (&[100, 1_000], 1, 300, 1_000)
    } else {
        (&[100, 1_000, 10_000], 5, 1_000, 3_000)
    };
    let (warmup, dur) = (Duration::from_millis(warmup), Duration::from_millis(dur));
    // The table's "mio loop" is `mio-short`.
    // The hooked std::net server only where the hooks are built in.
    let mut servers = vec![
        Server::new("green", &[1, 0]),
        Server::new("green", &[2, 0]),
        Server::new("thread", &[0]),
        Server::new("mio-short", &[]),
    ];
    if cfg!(feature = "monkey") {
        servers.push(Server::new("monkey", &[]));
    }
    for &c in sizes {
        let all = run_all("echo", &servers, c, reps, warmup, dur);
        let (green, hubs2, thread, mio) = (&all[0], &all[1], &all[2], &all[3]);
        let err_note = failures(&all);
        let name = |what: &str| format!("echo, C={}: {what}", short(c));

        let mut rate = Row::new(format!("echo_rate_{c}"), name("round trips/s"), Unit::Rate);
        rate.green = col(green, |x| x.rate);
        rate.hubs2 = col(hubs2, |x| x.rate);
        rate.thread = col(thread, |x| x.rate);
        rate.target = Some(Target {
            text: "≥ 1.5× threads",
            max_green: None,
            min_green: None,
            min_ratio: Some(1.5),
        });
        rate.note = format!(
            "hand-written mio loop {}; 2 hubs' connections per hub {}{err_note}",
            fmt_rate(med(mio, |x| x.rate)),
            per_hub(hubs2)
        );
        report.rows.push(rate);

        let mut vs = Row::new(
            format!("echo_vs_mio_{c}"),
            name("round trips/s, greenlets vs mio loop (in the threads column)"),
            Unit::Rate,
        );
        vs.green = col(green, |x| x.rate);
        vs.thread = col(mio, |x| x.rate);
        vs.target = Some(Target {
            text: "≥ 95% of the mio loop",
            max_green: None,
            min_green: None,
            min_ratio: Some(0.95),
        });
        vs.note = format!(
            "greenlets at {:.1}% of the mio loop",
            100.0 * med(green, |x| x.rate) / med(mio, |x| x.rate)
        );
        report.rows.push(vs);

        if let Some(monkey) = all.get(4) {
            let mut r = Row::new(
                format!("echo_monkey_{c}"),
                name("round trips/s, hooked std::net vs greenlet::net (in the threads column)"),
                Unit::Rate,
            );
            r.green = col(monkey, |x| x.rate);
            r.thread = col(green, |x| x.rate);
            r.target = Some(Target {
                text: "≥ 95% of greenlet::net",
                max_green: None,
                min_green: None,
                min_ratio: Some(0.95),
            });
            r.note = format!(
                "std::net with the monkey hooks at {:.1}% of greenlet::net",
                100.0 * med(monkey, |x| x.rate) / med(green, |x| x.rate)
            );
            report.rows.push(r);
        }

        for (what, key, f) in [
            (
                "p50 latency",
                "p50",
                (|x: &Sample| x.p50) as fn(&Sample) -> f64,
            ),
            ("p99 latency", "p99", |x: &Sample| x.p99),
        ] {
            let mut r = Row::new(format!("echo_{key}_{c}"), name(what), Unit::Nanos);
            r.green = col(green, f);
            r.hubs2 = col(hubs2, f);
            r.thread = col(thread, f);
            r.note = format!("mio loop {}", fmt_ns(med(mio, f)));
            report.rows.push(r);
        }

        let mut rss = Row::new(format!("echo_rss_{c}"), name("server RSS"), Unit::Bytes);
        rss.green = col(green, |x| x.rss);
        rss.hubs2 = col(hubs2, |x| x.rss);
        rss.thread = col(thread, |x| x.rss);
        if c == 10_000 {
            rss.target = Some(Target::max("< 40 MiB", 40.0 * 1024.0 * 1024.0));
        }
        rss.note = format!(
            "peak VmRSS of the server process while loaded; mio loop {}",
            fmt_bytes(med(mio, |x| x.rss))
        );
        report.rows.push(rss);
    }
    report.notes.push(format!(
        "echo: ratio = greenlets ÷ threads for round trips/s (higher is better; in the \
         \"vs mio loop\" rows greenlets ÷ mio loop); the latency and RSS rows keep threads ÷ \
         greenlets. Load generator: one single-threaded mio client process (the same for all \
         servers), C loopback connections each with one 64-byte message in flight \
         (send, wait for the whole echo, check every byte, record the latency, send again), \
         {} ms warm-up then {} ms measured; every server is a child process, unpinned \
         (greenlets: the README's server, one hub, a greenlet per connection, default stack; \
         2 hubs: the same handler on StreamServer::hubs(2), SO_REUSEPORT; threads: one \
         std::thread per connection, 64 KiB stacks; mio loop: hand-written, edge-triggered, \
         one thread, stopping at a short read as greenlet's TcpStream does), {BUF}-byte read \
         buffer on the stack (the README's), TCP_NODELAY; server kinds alternate, {reps} \
         rep(s), medians",
        warmup.as_millis(),
        dur.as_millis()
    ));
    cpu_bound(cfg, report, reps, warmup, dur);
}

/// The CPU-bound echo: each message answered after about 20 µs of computation, so
/// that one hub is limited by its core and a second hub (or threads) can use the
/// other.
fn cpu_bound(cfg: &Cfg, report: &mut Report, reps: usize, warmup: Duration, dur: Duration) {
    let work = calibrate_work();
    let sizes: &[usize] = if cfg.quick { &[100] } else { &[100, 1_000] };
    let servers = [
        Server::new("green", &[1, work]),
        Server::new("green", &[2, work]),
        Server::new("thread", &[work]),
    ];
    for &c in sizes {
        let all = run_all("CPU-bound echo", &servers, c, reps, warmup, dur);
        let [green, hubs2, thread] = &all[..] else {
            unreachable!("three servers")
        };
        let mut rate = Row::new(
            format!("echo_cpu_rate_{c}"),
            format!(
                "CPU-bound echo (~20 µs a message), C={}: round trips/s",
                short(c)
            ),
            Unit::Rate,
        );
        rate.green = col(green, |x| x.rate);
        rate.hubs2 = col(hubs2, |x| x.rate);
        rate.thread = col(thread, |x| x.rate);
        rate.target = Some(Target {
            text: "2 hubs ≥ 1.7× 1 hub and ≥ 1.3× threads",
            max_green: None,
            min_green: None,
            min_ratio: None,
        });
        rate.hubs2_min = Some((1.7, 1.3));
        let (g, h, t) = (
            med(green, |x| x.rate),
            med(hubs2, |x| x.rate),
            med(thread, |x| x.rate),
        );
        rate.note = format!(
            "2 hubs {:.2}× 1 hub, {:.2}× threads; {work} hash rounds a message \
             (calibrated to 20 µs in this run); 2 hubs' connections per hub {}{}",
            h / g,
            h / t,
            per_hub(hubs2),
            failures(&all)
        );
        report.rows.push(rate);
    }
}
