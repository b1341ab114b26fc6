//! The idle row: what a connection costs while it waits. N connections to two of the
//! echo servers of module `echo`, `echo-green 1 0` (the README's server: a greenlet
//! per connection, `read` / `write_all` with a `[0; 4096]` stack buffer) and
//! `echo-thread 0` (a 64 KiB thread per connection, the same handler), each
//! connection opened, one round trip done, then left parked in `read` with no
//! traffic for the idle period (2 s; 0.5 s with `--quick`) while the load generator
//! holds every socket open; then it closes them all. Per connection: (the server's
//! VmRSS at the end of the idle period − its VmRSS before the first connection) / N,
//! the server being a child process of its own so that the figure is its memory
//! alone.
//!
//! The load generator is one more child, `--child idle-load PORT N`, stepped over its
//! stdin and stdout so that the parent reads each RSS at a known point: it prints
//! `ready` and waits for a line (the parent reads the baseline, then sends it), opens
//! the N connections, writes one 64-byte message on each and reads every echo back,
//! checking it, prints `connected`, and holds the sockets until its stdin closes;
//! then it closes them and prints `close_ms=`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::echo::{self, MSG, SERVER_LIFETIME, Server};
use super::{Cfg, Report, Row, Target, Unit, alternate, fmt_bytes, fmt_count, median, short};

/// The target of the issue: tokio's `current_thread` runtime measures about 5.0 KiB a
/// connection with the same 4 KiB buffer.
const TARGET_PER_CONN: f64 = 5.5 * 1024.0;

// ---- the load generator ----------------------------------------------------------

/// The message of connection `i`: distinct per connection, so that a reply crossed
/// with another connection's is caught.
fn message(i: usize) -> [u8; MSG] {
    let mut m = [0u8; MSG];
    for (k, b) in m.iter_mut().enumerate() {
        *b = (i.wrapping_mul(131) + k * 7) as u8;
    }
    m[..8].copy_from_slice(&(i as u64).to_le_bytes());
    m
}

/// `--child idle-load PORT N`.
pub fn child(args: &[String]) {
    echo::raise_nofile();
    let arg = |i: usize| args.get(i).and_then(|a| a.parse::<usize>().ok());
    let port = arg(0).expect("idle-load PORT N") as u16;
    let n = arg(1).expect("idle-load PORT N");
    thread::spawn(|| {
        thread::sleep(SERVER_LIFETIME);
        std::process::exit(1);
    });
    say("ready");
    let mut stdin = io::stdin().lock();
    let mut go = String::new();
    if stdin.read_line(&mut go).unwrap_or(0) == 0 {
        return; // the parent went away before the start
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let t0 = Instant::now();
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        if t0.elapsed() > Duration::from_secs(60) {
            echo::fail(&format!("connecting took over 60 s ({i} of {n})"));
        }
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .unwrap_or_else(|e| echo::fail(&format!("connect {i} of {n}: {e}")));
        s.set_nodelay(true).expect("nodelay");
        // A server that dropped a connection, or died, shows as an error, not a hang.
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        conns.push(s);
    }
    let connect = t0.elapsed();
    // One round trip each: every message out first, then every echo back, so that
    // the N round trips overlap instead of queueing one after another.
    let t1 = Instant::now();
    for (i, s) in conns.iter_mut().enumerate() {
        s.write_all(&message(i))
            .unwrap_or_else(|e| echo::fail(&format!("write on connection {i} of {n}: {e}")));
    }
    for (i, s) in conns.iter_mut().enumerate() {
        let mut reply = [0u8; MSG];
        s.read_exact(&mut reply)
            .unwrap_or_else(|e| echo::fail(&format!("echo on connection {i} of {n}: {e}")));
        if reply != message(i) {
            echo::fail(&format!("connection {i}: echo differs from message"));
        }
    }
    let round_trips = t1.elapsed();
    say(&format!("connect_ms={}", connect.as_secs_f64() * 1e3));
    say(&format!("roundtrip_ms={}", round_trips.as_secs_f64() * 1e3));
    say("connected");
    // Idle: the parent measures; its closing our stdin ends the period.
    let _ = io::copy(&mut stdin, &mut io::sink());
    let t2 = Instant::now();
    drop(conns);
    say(&format!("close_ms={}", t2.elapsed().as_secs_f64() * 1e3));
}

fn say(line: &str) {
    println!("{line}");
    let _ = io::stdout().flush();
}

// ---- the parent ------------------------------------------------------------------

/// What one (server, N) measurement gave, in bytes per connection.
struct Sample {
    /// After the idle period: the row's figure.
    per_conn: f64,
    /// Right after the round trips, before the idle period.
    per_conn_busy: f64,
    /// Page tables (VmPTE, not in RSS) per connection after the idle period.
    pte_per_conn: f64,
    /// The server's VmRSS before the first connection.
    base: f64,
    connect_ms: f64,
    roundtrip_ms: f64,
    err: Option<String>,
}

impl Sample {
    fn failed(e: String) -> Sample {
        Sample {
            per_conn: f64::NAN,
            per_conn_busy: f64::NAN,
            pte_per_conn: f64::NAN,
            base: f64::NAN,
            connect_ms: f64::NAN,
            roundtrip_ms: f64::NAN,
            err: Some(e),
        }
    }
}

/// Starts `server`, reads its baseline, has the load generator open `n` connections
/// and do one round trip on each, waits `idle`, reads the server's RSS, then lets the
/// load generator close everything and stops the server.
fn measure(server: &Server, n: usize, idle: Duration) -> Sample {
    let (mut srv, srv_out, port) = match echo::start(server) {
        Ok(s) => s,
        Err(e) => return Sample::failed(e),
    };
    let pid = srv.id();
    let mut ld = Command::new(echo::EXE)
        .args(["--child", "idle-load", &port.to_string(), &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cannot start the idle load generator");
    let mut ld_in = ld
        .stdin
        .take()
        .expect("the load generator's stdin is piped");
    let mut ld_out = BufReader::new(ld.stdout.take().expect("its stdout is piped"));
    // Every line up to `until` (or an `err=`, or the end): the fields it printed.
    let mut fields = Vec::new();
    let mut read_to = |until: &str, fields: &mut Vec<(String, String)>| -> Result<(), String> {
        loop {
            let mut line = String::new();
            if ld_out.read_line(&mut line).unwrap_or(0) == 0 {
                return Err(format!("the load generator ended before {until:?}"));
            }
            let line = line.trim();
            if line == until {
                return Ok(());
            }
            if let Some((k, v)) = line.split_once('=') {
                if k == "err" {
                    return Err(v.to_string());
                }
                fields.push((k.to_string(), v.to_string()));
            }
        }
    };
    let kind = format!("echo-{} N={}", server.kind, short(n));
    let result = (|| {
        read_to("ready", &mut fields)?;
        let (rss0, pte0) = (
            echo::status_bytes(pid, "VmRSS:"),
            echo::status_bytes(pid, "VmPTE:"),
        );
        writeln!(ld_in, "go").map_err(|e| format!("starting the load generator: {e}"))?;
        read_to("connected", &mut fields)?;
        let rss1 = echo::status_bytes(pid, "VmRSS:");
        // The measured condition: every connection parked in `read`, no traffic.
        thread::sleep(idle);
        let (rss2, pte2) = (
            echo::status_bytes(pid, "VmRSS:"),
            echo::status_bytes(pid, "VmPTE:"),
        );
        if let Ok(Some(status)) = srv.try_wait() {
            return Err(format!("the server exited while idle ({status})"));
        }
        Ok((rss0, pte0, rss1, rss2, pte2))
    })();
    // Closing its stdin makes the load generator close every socket and exit.
    drop(ld_in);
    let mut rest = String::new();
    let _ = ld_out.read_to_string(&mut rest);
    let _ = ld.wait();
    echo::finish(srv, srv_out);
    let (rss0, pte0, rss1, rss2, pte2) = match result {
        Ok(r) => r,
        Err(e) => return Sample::failed(format!("{kind}: {e}")),
    };
    let num = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let per = |bytes: f64| bytes / n as f64;
    Sample {
        per_conn: per(rss2 - rss0),
        per_conn_busy: per(rss1 - rss0),
        pte_per_conn: per(pte2 - pte0),
        base: rss0,
        connect_ms: num("connect_ms"),
        roundtrip_ms: num("roundtrip_ms"),
        err: None,
    }
}

fn med(v: &[Sample], f: fn(&Sample) -> f64) -> f64 {
    median(
        &v.iter()
            .filter(|s| s.err.is_none())
            .map(f)
            .collect::<Vec<_>>(),
    )
}

pub fn idle(cfg: &Cfg, report: &mut Report) {
    let (n, idle, reps) = if cfg.quick {
        (1_000, Duration::from_millis(500), 1)
    } else {
        (10_000, Duration::from_secs(2), cfg.reps)
    };
    let green_srv = Server::new("green", &[1, 0]);
    let thread_srv = Server::new("thread", &[0]);
    let (green, thread) = alternate(
        reps,
        &format!("idle connections N={}", short(n)),
        || measure(&green_srv, n, idle),
        || measure(&thread_srv, n, idle),
    );
    let idle_text = if idle < Duration::from_secs(1) {
        format!("{} ms", idle.as_millis())
    } else {
        format!("{} s", idle.as_secs())
    };
    let mut row = Row::new(
        format!("idle_rss_{n}"),
        format!(
            "idle connections, N={}, {idle_text} idle: server RSS per connection",
            short(n)
        ),
        Unit::Bytes,
    );
    let ok = |v: &[Sample]| -> Vec<f64> {
        v.iter()
            .filter(|s| s.err.is_none())
            .map(|s| s.per_conn)
            .collect()
    };
    row.green = ok(&green);
    row.thread = ok(&thread);
    let thread_err = thread.iter().find_map(|s| s.err.clone());
    if row.thread.is_empty() {
        // Threads may not reach N (vm.max_map_count, RLIMIT_NOFILE): say so in the
        // row instead of failing the run.
        row.thread_note = format!("n/a: {}", thread_err.as_deref().unwrap_or("not measured"));
    }
    row.target = Some(Target::max("≤ 5.5 KiB", TARGET_PER_CONN));
    // "—" where every sample of that server failed.
    let kib = |v: f64| {
        if v.is_finite() {
            fmt_bytes(v)
        } else {
            "—".to_string()
        }
    };
    let ms = |v: f64| {
        if v.is_finite() {
            format!("{v:.0} ms")
        } else {
            "—".to_string()
        }
    };
    let mut note = format!(
        "(server VmRSS after {idle_text} with every connection parked in read − VmRSS \
         before the first connection) / {}, the load generator holding all those sockets \
         open; right after the round trips {} (greenlets) and {} (threads); page tables \
         (not in RSS) {} and {} per connection; server baseline {} and {}; opening {} \
         connections {} and {}, one round trip on each {} and {}; \
         tokio current_thread measures about 5.0 KiB with the same 4 KiB buffer (the \
         issue's figure, not measured here)",
        fmt_count(n as u64),
        kib(med(&green, |s| s.per_conn_busy)),
        kib(med(&thread, |s| s.per_conn_busy)),
        kib(med(&green, |s| s.pte_per_conn)),
        kib(med(&thread, |s| s.pte_per_conn)),
        kib(med(&green, |s| s.base)),
        kib(med(&thread, |s| s.base)),
        fmt_count(n as u64),
        ms(med(&green, |s| s.connect_ms)),
        ms(med(&thread, |s| s.connect_ms)),
        ms(med(&green, |s| s.roundtrip_ms)),
        ms(med(&thread, |s| s.roundtrip_ms)),
    );
    let errs: Vec<String> = green
        .iter()
        .chain(&thread)
        .filter_map(|s| s.err.clone())
        .collect();
    if !errs.is_empty() {
        note.push_str(&format!("; FAILED: {}", errs.join("; ")));
    }
    row.note = note;
    report.rows.push(row);
}
