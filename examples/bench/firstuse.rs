//! Scenario "first-use": no call of the crate may stall because of one-time setup
//! (issue 14's target: nothing over 1 ms). Each sample is a fresh child process,
//! `--child first-use`, with four idle threads started before the first call (as in
//! any threaded program: some setup, such as `membarrier` registration, waits for an
//! RCU grace period only once the process has several threads). The child times the
//! first call of each part of the crate once and prints `NAME=NS` lines.
//!
//! Left out: child processes (`process::Command::status` takes as long as fork, exec
//! and the child's own run, 1-4 ms here, the same as std's), and waits whose length is
//! their argument (a timeout's first expiry).

use std::io::Write;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{Cfg, Report, Row, Target, Unit, fmt_ns, median};

/// `--child first-use`: one sample, then exits.
pub fn child() {
    let idle: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(std::thread::park))
        .collect();
    let mut out = Vec::new();
    // `less`: how long the call takes by its nature, not counted.
    let mut time_less = |name: &str, less: Duration, f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        out.push(format!(
            "{name}={}",
            t.elapsed().saturating_sub(less).as_nanos()
        ));
    };
    let zero = Duration::ZERO;
    time_less("spawn+join", zero, &mut || {
        greenlet::spawn(|| 1).join().map(drop).unwrap()
    });
    time_less("sleep(0)", zero, &mut || greenlet::sleep(Duration::ZERO));
    time_less("Event set+wait", zero, &mut || {
        let ev = Rc::new(greenlet::sync::Event::new());
        let e2 = ev.clone();
        let g = greenlet::spawn(move || e2.wait());
        greenlet::yield_now();
        ev.set();
        g.join().unwrap();
    });
    time_less("Channel send+recv", zero, &mut || {
        let (tx, rx) = greenlet::queue::channel::<u32>(None);
        let g = greenlet::spawn(move || rx.recv());
        tx.send(1).unwrap();
        assert_eq!(g.join().unwrap().ok(), Some(1));
    });
    time_less("Mutex lock", zero, &mut || {
        let m = greenlet::sync::Mutex::new(0);
        *m.lock() += 1;
    });
    time_less("TCP bind+connect+accept", zero, &mut || {
        let l = greenlet::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        let g = greenlet::spawn(move || l.accept().map(drop));
        let _c = greenlet::net::TcpStream::connect(a).unwrap();
        g.join().unwrap().unwrap();
    });
    time_less(
        "sleep(1 ms), past the 1 ms",
        Duration::from_millis(1),
        &mut || {
            greenlet::sleep(Duration::from_millis(1));
        },
    );
    time_less("threadpool apply", zero, &mut || {
        assert_eq!(greenlet::threadpool::apply(|| 5), 5)
    });
    time_less("fs read", zero, &mut || {
        greenlet::fs::read("/proc/self/stat").unwrap();
    });
    time_less("signal listen", zero, &mut || {
        greenlet::signal::listen(libc::SIGUSR2).unwrap();
    });
    time_less("Handle::spawn onto Hubs", zero, &mut || {
        for r in greenlet::Hubs::new(1).start(|_| ()).join() {
            r.unwrap();
        }
    });
    for t in &idle {
        t.thread().unpark();
    }
    let mut so = std::io::stdout().lock();
    for l in out {
        let _ = writeln!(so, "{l}");
    }
}

pub fn first_use(cfg: &Cfg, report: &mut Report) {
    let runs = if cfg.quick { 3 } else { 9 };
    eprint!("  first use, run");
    let mut samples: Vec<Vec<(String, f64)>> = Vec::new();
    for r in 0..runs {
        eprint!(" {}", r + 1);
        let out = Command::new("/proc/self/exe")
            .args(["--child", "first-use"])
            .output()
            .expect("cannot run the first-use child");
        assert!(
            out.status.success(),
            "first-use child failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        samples.push(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| {
                    let (k, v) = l.split_once('=')?;
                    Some((k.to_string(), v.parse().ok()?))
                })
                .collect(),
        );
    }
    eprintln!();
    // The median of each call over the runs, then the slowest call.
    let names: Vec<String> = samples[0].iter().map(|(k, _)| k.clone()).collect();
    let medians: Vec<(String, f64, f64)> = names
        .iter()
        .map(|n| {
            let v: Vec<f64> = samples
                .iter()
                .filter_map(|s| s.iter().find(|(k, _)| k == n).map(|(_, v)| *v))
                .collect();
            let max = v.iter().copied().fold(0.0, f64::max);
            (n.clone(), median(&v), max)
        })
        .collect();
    let worst = medians
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("no first-use figures");
    let mut row = Row::new(
        "first_use_slowest",
        "first call of each API, 4 idle threads: the slowest",
        Unit::Nanos,
    );
    row.green = samples
        .iter()
        .map(|s| s.iter().map(|(_, v)| *v).fold(0.0, f64::max))
        .collect();
    row.thread_note = "—".into();
    row.target = Some(Target::max("≤ 1 ms", 1e6));
    row.note = format!(
        "{runs} fresh processes; slowest call {} (median {}, worst run {}); medians: {}",
        worst.0,
        fmt_ns(worst.1),
        fmt_ns(worst.2),
        medians
            .iter()
            .map(|(n, m, _)| format!("{n} {}", fmt_ns(*m)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    report.rows.push(row);
}
