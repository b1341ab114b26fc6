//! Scenario 7, TCP echo over loopback: the same load against three servers, each a child
//! process of the bench (so its RSS can be read from `/proc/PID/status` while it is
//! loaded):
//!
//! - `--child echo-green [STACK_BYTES] [BUF_BYTES]`: one hub, an accept loop and one
//!   greenlet per connection doing `read` / `write_all` with `greenlet::net`;
//! - `--child echo-thread`: `std::net`, one thread per connection (64 KiB stacks);
//! - `--child echo-mio-short`: a hand-written single-threaded mio loop (edge-triggered,
//!   read until a short read or `WouldBlock`, write back, keep pending output if the
//!   socket is full): the most one thread can do here, and the syscalls
//!   `greenlet::net::TcpStream` makes (a short read drains the socket, so neither
//!   reads again until the next edge);
//! - `--child echo-mio`: the same loop reading on to `WouldBlock`, as mio's docs put
//!   it: one more syscall per round trip (not in the table; for comparison by hand);
//! - `--child echo-monkey` (only in a bench built with `--features monkey`): the
//!   threaded `std::net` server with `thread::spawn` → `greenlet::spawn`, its std
//!   reads and writes parked by the `monkey` hooks; compared with `echo-green`.
//!
//! Each server binds `127.0.0.1:0`, prints `port=N`, serves until killed, and exits
//! when its stdin closes (the bench holds the other end) or after 10 minutes.
//!
//! The load generator is one more child, `--child echo-load PORT C WARMUP_MS
//! MEASURE_MS`: a single-threaded mio client (identical for every server) holding C
//! connections, each with one 64-byte message in flight: send, wait for the whole
//! echo, check every byte, record the latency, send the next one.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mio::net::{TcpListener as MioListener, TcpStream as MioStream};
use mio::{Events, Interest, Poll, Token};

use super::{Cfg, Report, Row, THREAD_STACK, Target, Unit, fmt_bytes, fmt_ns, median, short};

/// Message size.
const MSG: usize = 64;

/// Server read buffer (all three servers): a typical `[0; 4096]` would touch a
/// whole page of each greenlet's stack (and thread's) just by being zeroed.
const BUF: usize = 1024;

/// Servers exit on their own after this, whatever happens to the bench.
const SERVER_LIFETIME: Duration = Duration::from_secs(600);

// ---- children --------------------------------------------------------------------

/// `--child echo-*`: runs one echo child and exits.
pub fn child(kind: &str, args: &[String]) {
    raise_nofile();
    let arg = |i: usize| args.get(i).and_then(|a| a.parse::<usize>().ok());
    match kind {
        "echo-green" => server_green(arg(0).filter(|&s| s > 0), arg(1).unwrap_or(BUF)),
        "echo-thread" => server_thread(),
        "echo-mio" => server_mio(false),
        "echo-mio-short" => server_mio(true),
        "echo-monkey" => server_monkey(),
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
fn raise_nofile() {
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

fn server_green(stack: Option<usize>, buf: usize) {
    let listener = greenlet::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    announce(listener.local_addr().expect("local_addr").port());
    loop {
        let (stream, _) = match listener.accept() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("echo-green: accept: {e}");
                continue;
            }
        };
        let mut b = greenlet::Builder::new();
        if let Some(s) = stack {
            b = b.stack_size(s);
        }
        let spawned = if buf == BUF {
            b.spawn(move || handle_green::<BUF>(stream))
        } else if buf <= 64 {
            b.spawn(move || handle_green::<64>(stream))
        } else {
            b.spawn(move || handle_green::<4096>(stream))
        };
        if let Err(e) = spawned {
            eprintln!("echo-green: spawn: {e}");
        }
    }
}

fn handle_green<const N: usize>(stream: greenlet::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut s = &stream;
    let mut buf = [0u8; N];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

fn server_thread() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    deep_backlog(listener.as_raw_fd());
    announce(listener.local_addr().expect("local_addr").port());
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("echo-thread: accept: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let spawned = thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut buf = [0u8; BUF];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
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
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("echo-monkey: accept: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        greenlet::spawn(move || {
            let _ = stream.set_nodelay(true);
            let mut buf = [0u8; BUF];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
        });
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

fn fail(msg: &str) -> ! {
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
    err: Option<String>,
}

fn vm_rss(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib * 1024.0)
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts `server` and the load generator against it; reads the server's peak RSS
/// while loaded.
fn measure(server: &str, c: usize, warmup: Duration, dur: Duration) -> Sample {
    let bad = |e: String| Sample {
        rate: f64::NAN,
        p50: f64::NAN,
        p99: f64::NAN,
        rss: f64::NAN,
        err: Some(e),
    };
    // Not `current_exe()`: a rebuild during the run replaces that path, while
    // /proc/self/exe stays this very binary.
    let exe = "/proc/self/exe";
    let mut srv = Command::new(exe)
        .args(["--child", &format!("echo-{server}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cannot start the echo server");
    let mut line = String::new();
    let port = srv
        .stdout
        .take()
        .map(BufReader::new)
        .and_then(|mut r| r.read_line(&mut line).ok())
        .and_then(|_| line.trim().strip_prefix("port=")?.parse::<u16>().ok());
    let Some(port) = port else {
        kill(srv);
        return bad(format!("echo-{server} did not start"));
    };
    let ms = |d: Duration| d.as_millis().to_string();
    let mut ld = Command::new(exe)
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
    kill(srv);
    if timed_out {
        return bad(format!("echo-{server} C={c}: load generator timed out"));
    }
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(str::to_string)
    };
    let num = |k: &str| field(k).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
    if let Some(e) = field("err") {
        return bad(format!("echo-{server} C={c}: {e}"));
    }
    Sample {
        rate: num("rate"),
        p50: num("p50"),
        p99: num("p99"),
        rss,
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

/// The servers, as `--child echo-KIND`: the table's "mio loop" is `mio-short`; the
/// hooked std::net server only where the hooks are built in.
const KINDS: &[&str] = if cfg!(feature = "monkey") {
    &["green", "thread", "mio-short", "monkey"]
} else {
    &["green", "thread", "mio-short"]
};

pub fn echo(cfg: &Cfg, report: &mut Report) {
    let (sizes, reps, warmup, dur): (&[usize], usize, u64, u64) = if cfg.quick {
        (&[100, 1_000], 1, 300, 1_000)
    } else {
        (&[100, 1_000, 10_000], 5, 1_000, 3_000)
    };
    let (warmup, dur) = (Duration::from_millis(warmup), Duration::from_millis(dur));
    for &c in sizes {
        let mut s: Vec<Vec<Sample>> = vec![Vec::new(); KINDS.len()];
        eprint!("  echo C={}, rep", short(c));
        for rep in 0..reps {
            eprint!(" {}", rep + 1);
            // Alternate the order too, so no server always runs right after another.
            for k in 0..KINDS.len() {
                let k = (k + rep) % KINDS.len();
                s[k].push(measure(KINDS[k], c, warmup, dur));
            }
        }
        eprintln!();
        let monkey = s.get(3).cloned();
        let (green, thread, mio) = (s[0].clone(), s[1].clone(), s[2].clone());
        let col = |v: &[Sample], f: fn(&Sample) -> f64| v.iter().map(f).collect::<Vec<f64>>();
        let med = |v: &[Sample], f: fn(&Sample) -> f64| median(&col(v, f));
        let errs: Vec<String> = green
            .iter()
            .chain(&thread)
            .chain(&mio)
            .chain(monkey.iter().flatten())
            .filter_map(|x| x.err.clone())
            .collect();
        let err_note = if errs.is_empty() {
            String::new()
        } else {
            format!("; FAILED: {}", errs.join("; "))
        };
        let name = |what: &str| format!("echo, C={}: {what}", short(c));

        let mut rate = Row::new(format!("echo_rate_{c}"), name("round trips/s"), Unit::Rate);
        rate.green = col(&green, |x| x.rate);
        rate.thread = col(&thread, |x| x.rate);
        rate.target = Some(Target {
            text: "≥ 1.5× threads",
            max_green: None,
            min_green: None,
            min_ratio: Some(1.5),
        });
        rate.note = format!(
            "hand-written mio loop {}{err_note}",
            fmt_rate(med(&mio, |x| x.rate))
        );
        report.rows.push(rate);

        let mut vs = Row::new(
            format!("echo_vs_mio_{c}"),
            name("round trips/s, greenlets vs mio loop (in the threads column)"),
            Unit::Rate,
        );
        vs.green = col(&green, |x| x.rate);
        vs.thread = col(&mio, |x| x.rate);
        vs.target = Some(Target {
            text: "≥ 95% of the mio loop",
            max_green: None,
            min_green: None,
            min_ratio: Some(0.95),
        });
        vs.note = format!(
            "greenlets at {:.1}% of the mio loop",
            100.0 * med(&green, |x| x.rate) / med(&mio, |x| x.rate)
        );
        report.rows.push(vs);

        if let Some(monkey) = &monkey {
            let mut r = Row::new(
                format!("echo_monkey_{c}"),
                name("round trips/s, hooked std::net vs greenlet::net (in the threads column)"),
                Unit::Rate,
            );
            r.green = col(monkey, |x| x.rate);
            r.thread = col(&green, |x| x.rate);
            r.target = Some(Target {
                text: "≥ 95% of greenlet::net",
                max_green: None,
                min_green: None,
                min_ratio: Some(0.95),
            });
            r.note = format!(
                "std::net with the monkey hooks at {:.1}% of greenlet::net",
                100.0 * med(monkey, |x| x.rate) / med(&green, |x| x.rate)
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
            r.green = col(&green, f);
            r.thread = col(&thread, f);
            r.note = format!("mio loop {}", fmt_ns(med(&mio, f)));
            report.rows.push(r);
        }

        let mut rss = Row::new(format!("echo_rss_{c}"), name("server RSS"), Unit::Bytes);
        rss.green = col(&green, |x| x.rss);
        rss.thread = col(&thread, |x| x.rss);
        if c == 10_000 {
            rss.target = Some(Target::max("< 40 MiB", 40.0 * 1024.0 * 1024.0));
        }
        rss.note = format!(
            "peak VmRSS of the server process while loaded; mio loop {}",
            fmt_bytes(med(&mio, |x| x.rss))
        );
        report.rows.push(rss);
    }
    report.notes.push(format!(
        "echo: ratio = greenlets ÷ threads for round trips/s (higher is better; in the \
         \"vs mio loop\" rows greenlets ÷ mio loop); the latency and RSS rows keep threads ÷ \
         greenlets. Load generator: one single-threaded mio client process (the same for all \
         three servers), C loopback connections each with one 64-byte message in flight \
         (send, wait for the whole echo, check every byte, record the latency, send again), \
         {} ms warm-up then {} ms measured; every server is a child process (greenlets: one \
         hub, a greenlet per connection, default stack; threads: one std::thread per \
         connection, 64 KiB stacks; mio loop: hand-written, edge-triggered, one thread, \
         stopping at a short read as greenlet's TcpStream does), \
         {BUF}-byte read buffer, TCP_NODELAY; server kinds alternate, {reps} rep(s), medians",
        warmup.as_millis(),
        dur.as_millis()
    ));
}
