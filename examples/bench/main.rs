//! The benchmark against OS threads: the same workloads as greenlets (one hub) and as
//! `std::thread` with std's primitives, alternating, repeated, reporting medians and
//! the threads ÷ greenlets ratio (how many times cheaper the greenlet is).
//!
//! ```text
//! cargo run --release --example bench [-- --quick] [--json PATH] [--svg PATH] [--only NAME]
//! ```
//!
//! Scenarios (numbers as in issue 5):
//! 1. spawn+join of N trivial tasks (spawn all, then join all), N = 1k, 10k, 100k.
//! 2. switch: `yield_now` round-robin among 2 and 1,000 tasks; per yield.
//! 5. memory: VmRSS per idle task at 10k and 100k (greenlets also at 1,000,000),
//!    each measured in a fresh child process; how many sleeping greenlets one
//!    process holds.
//! 6. timers: tasks sleeping a random 0-100 ms: wall time and worst lateness.
//!
//! 3. ping-pong: a token handed back and forth over `Event` and over `Channel` (and
//!    the raw wait/wake seam, the floor), against std's `Mutex`+`Condvar` and
//!    `sync_channel(0)` between two threads.
//! 4. mutex: K tasks incrementing one counter under a `Mutex`, K = 2, 100, 10,000, and
//!    an uncontended lock+unlock (module `sync`).
//! 7. echo: a loopback TCP echo server, one hub against thread-per-connection and a
//!    hand-written single-threaded mio loop, driven by one mio load generator
//!    (module `echo`).
//! 8. idle: N connections to that echo server (greenlets) and to the
//!    thread-per-connection one, each with one round trip done, then parked in `read`
//!    for 2 s: the server's RSS per connection, N = 10k (1k for 0.5 s with `--quick`)
//!    (module `idle`).
//!
//! Threads always use `std::thread::Builder::stack_size(64 KiB)`; greenlets use the
//! default stack (256 KiB of address space, touched on demand). `--quick` runs
//! every scenario at N <= 10k with 3 repetitions (about 30 s on 2 cores); the full
//! run uses 5 repetitions and takes a few minutes.
//!
//! Output: a markdown table on stdout, the same figures as JSON (`--json`, default
//! `target/bench.json`) and an SVG plot of spawn+join time per task against N
//! (`--svg`, default `target/bench.svg`). Progress goes to stderr.
//!
//! Instruction counts: `bench --child count KIND N` runs one hot loop N times and
//! nothing else (module `count`), KIND `yield` (two greenlets, 2 yields per round
//! trip), `raw` (`wake::waker()` + `park()` with a flag), `event` or `channel` (the
//! greenlet side of ping-pong), each loop checking a count so that a broken one
//! panics. `examples/bench/callgrind.sh [KIND...]` (needs valgrind; not run by .ci)
//! builds the bench in release, runs each KIND at N = 100k and 200k under
//! `valgrind --tool=callgrind` and prints (Ir(200k) - Ir(100k)) / 100k, the
//! instructions per round trip without setup and teardown; the count is the same
//! from run to run, so a change to a hot path shows as a change in these figures.

mod count;
mod echo;
mod firstuse;
mod idle;
mod sync;

use std::cell::Cell;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

/// Stack size of every benchmark thread.
const THREAD_STACK: usize = 64 * 1024;

/// A scenario adds its rows (and curve points) to the report.
type Scenario = fn(&Cfg, &mut Report);

/// Every scenario, in table order. Later layers add theirs here:
/// `("ping-pong", ping_pong)` and `("mutex", mutex)` with the sync and channel
/// layer, `("echo", echo)` with green TCP.
const SCENARIOS: &[(&str, Scenario)] = &[
    ("spawn", spawn_join),
    ("switch", switch),
    ("ping-pong", sync::ping_pong),
    ("mutex", sync::mutex),
    ("memory", memory),
    ("timers", timers),
    ("echo", echo::echo),
    ("idle", idle::idle),
    ("first-use", firstuse::first_use),
];

// ---- configuration ---------------------------------------------------------------

struct Cfg {
    quick: bool,
    reps: usize,
    json: PathBuf,
    svg: PathBuf,
    only: Option<String>,
}

fn parse_args() -> Cfg {
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    let mut cfg = Cfg {
        quick: false,
        reps: 5,
        json: target.join("bench.json"),
        svg: target.join("bench.svg"),
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match a.as_str() {
            "--quick" => cfg.quick = true,
            "--json" => cfg.json = PathBuf::from(value("--json")),
            "--svg" => cfg.svg = PathBuf::from(value("--svg")),
            "--only" => cfg.only = Some(value("--only")),
            "--reps" => {
                cfg.reps = value("--reps")
                    .parse()
                    .unwrap_or_else(|_| usage("--reps takes a number"))
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if cfg.quick && !std::env::args().any(|a| a == "--reps") {
        cfg.reps = 3;
    }
    cfg.reps = cfg.reps.max(1);
    cfg
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("bench: {err}");
    }
    eprintln!(
        "usage: cargo run --release --example bench [-- --quick] [--json PATH] [--svg PATH] \
         [--only spawn|switch|ping-pong|mutex|memory|timers|echo|idle|first-use] [--reps N]"
    );
    std::process::exit(if err.is_empty() { 0 } else { 2 })
}

// ---- the report --------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    /// Nanoseconds; lower is better.
    Nanos,
    /// Bytes; lower is better.
    Bytes,
    /// A count; higher is better.
    Count,
    /// Events per second; higher is better (ratio: greenlets ÷ threads).
    Rate,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Nanos => "ns",
            Unit::Bytes => "bytes",
            Unit::Count => "count",
            Unit::Rate => "per_s",
        }
    }

    fn show(self, v: f64) -> String {
        match self {
            Unit::Nanos => fmt_ns(v),
            Unit::Bytes => fmt_bytes(v),
            Unit::Count => fmt_count(v as u64),
            Unit::Rate => format!("{}/s", fmt_count(v as u64)),
        }
    }
}

/// A target from the issues: a bound on the greenlet figure and/or on the ratio.
#[derive(Clone, Copy)]
struct Target {
    text: &'static str,
    max_green: Option<f64>,
    min_green: Option<f64>,
    min_ratio: Option<f64>,
}

impl Target {
    const fn max(text: &'static str, max_green: f64) -> Target {
        Target {
            text,
            max_green: Some(max_green),
            min_green: None,
            min_ratio: None,
        }
    }

    fn met(&self, green: f64, ratio: Option<f64>) -> bool {
        self.max_green.is_none_or(|m| green <= m)
            && self.min_green.is_none_or(|m| green >= m)
            && self.min_ratio.is_none_or(|m| ratio.is_some_and(|r| r >= m))
    }
}

struct Row {
    key: String,
    scenario: String,
    unit: Unit,
    green: Vec<f64>,
    /// Empty when the thread side is not measured (then `thread_note` says why).
    thread: Vec<f64>,
    thread_note: String,
    /// The echo rows' second greenlet server: `StreamServer` on 2 hubs.
    hubs2: Vec<f64>,
    /// With `hubs2`: the least 2 hubs ÷ 1 hub and 2 hubs ÷ threads the target asks
    /// (for rates), on top of `target`'s own bounds.
    hubs2_min: Option<(f64, f64)>,
    target: Option<Target>,
    note: String,
}

impl Row {
    fn new(key: impl Into<String>, scenario: impl Into<String>, unit: Unit) -> Row {
        Row {
            key: key.into(),
            scenario: scenario.into(),
            unit,
            green: Vec::new(),
            thread: Vec::new(),
            thread_note: String::new(),
            hubs2: Vec::new(),
            hubs2_min: None,
            target: None,
            note: String::new(),
        }
    }

    fn green_median(&self) -> f64 {
        median(&self.green)
    }

    fn thread_median(&self) -> Option<f64> {
        (!self.thread.is_empty()).then(|| median(&self.thread))
    }

    /// threads ÷ greenlets for costs: how many times cheaper a greenlet is;
    /// greenlets ÷ threads for rates.
    fn ratio(&self) -> Option<f64> {
        let t = self.thread_median()?;
        let g = self.green_median();
        match self.unit {
            Unit::Count => None,
            Unit::Rate => (t > 0.0).then(|| g / t),
            _ => (g > 0.0).then(|| t / g),
        }
    }

    fn hubs2_median(&self) -> Option<f64> {
        (!self.hubs2.is_empty()).then(|| median(&self.hubs2))
    }

    fn target_met(&self) -> Option<bool> {
        let hubs2_ok = self.hubs2_min.is_none_or(|(vs_green, vs_thread)| {
            let h = self.hubs2_median().unwrap_or(f64::NAN);
            h >= vs_green * self.green_median()
                && self.thread_median().is_some_and(|t| h >= vs_thread * t)
        });
        self.target
            .map(|t| t.met(self.green_median(), self.ratio()) && hubs2_ok)
    }
}

struct CurvePoint {
    n: usize,
    green_ns: f64,
    thread_ns: Option<f64>,
    /// Threads actually spawned (less than `n` when creation failed).
    thread_reached: usize,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    curve: Vec<CurvePoint>,
    notes: Vec<String>,
}

// ---- helpers -----------------------------------------------------------------------

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

fn ns(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

/// Three significant digits, no exponent.
fn sig3(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn fmt_ns(v: f64) -> String {
    if !v.is_finite() {
        "—".into()
    } else if v < 1e3 {
        format!("{} ns", sig3(v))
    } else if v < 1e6 {
        format!("{} µs", sig3(v / 1e3))
    } else if v < 1e9 {
        format!("{} ms", sig3(v / 1e6))
    } else {
        format!("{} s", sig3(v / 1e9))
    }
}

/// A power of ten of nanoseconds, as an axis label: `100 ns`, `1 µs`, `10 ms`.
fn fmt_decade(v: f64) -> String {
    let (x, unit) = if v < 1e3 {
        (v, "ns")
    } else if v < 1e6 {
        (v / 1e3, "µs")
    } else if v < 1e9 {
        (v / 1e6, "ms")
    } else {
        (v / 1e9, "s")
    };
    format!("{} {unit}", x.round())
}

fn fmt_bytes(v: f64) -> String {
    if v < 1024.0 * 1024.0 {
        format!("{} KiB", sig3(v / 1024.0))
    } else {
        format!("{} MiB", sig3(v / 1024.0 / 1024.0))
    }
}

fn fmt_count(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1k`, `10k`, `1M`.
fn short(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// xorshift64*: a tiny PRNG, enough for benchmark delays.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Runs the greenlet and thread variants alternately, `reps` times each.
fn alternate<A, B>(
    reps: usize,
    label: &str,
    mut green: impl FnMut() -> A,
    mut thread: impl FnMut() -> B,
) -> (Vec<A>, Vec<B>) {
    let (mut g, mut t) = (Vec::new(), Vec::new());
    eprint!("  {label}, rep");
    for rep in 0..reps {
        eprint!(" {}", rep + 1);
        g.push(green());
        t.push(thread());
    }
    eprintln!();
    (g, t)
}

fn repeat<A>(reps: usize, label: &str, mut green: impl FnMut() -> A) -> Vec<A> {
    alternate(reps, label, &mut green, || ()).0
}

/// How many memory mappings one live std thread costs, measured once: its stack and
/// guard page, and the signal stack and guard page std gives every thread.
fn maps_per_thread() -> f64 {
    static PER: OnceLock<f64> = OnceLock::new();
    *PER.get_or_init(|| {
        const K: usize = 64;
        let started = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let before = map_count();
        let hs: Vec<_> = (0..K)
            .map(|_| {
                let (started, stop) = (started.clone(), stop.clone());
                thread::Builder::new()
                    .stack_size(THREAD_STACK)
                    .spawn(move || {
                        started.fetch_add(1, Ordering::SeqCst);
                        while !stop.load(Ordering::SeqCst) {
                            thread::park();
                        }
                    })
                    .expect("cannot start calibration threads")
            })
            .collect();
        while started.load(Ordering::SeqCst) < K {
            thread::yield_now();
        }
        let per = map_count().saturating_sub(before) as f64 / K as f64;
        stop.store(true, Ordering::SeqCst);
        for h in &hs {
            h.thread().unpark();
        }
        join_threads(hs);
        per.max(2.0)
    })
}

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count())
}

fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65_530)
}

/// Spawns up to `n` threads with 64 KiB stacks. Stops at the first failure, or
/// before the process would run out of memory mappings (`vm.max_map_count`): past
/// that limit std aborts the whole process from inside the new thread (it cannot
/// map the thread's signal stack) instead of returning an error. Returns the handles
/// and, if it stopped early, why.
fn spawn_threads<F>(
    n: usize,
    mut make: impl FnMut(usize) -> F,
) -> (Vec<JoinHandle<()>>, Option<String>)
where
    F: FnOnce() + Send + 'static,
{
    let per = maps_per_thread();
    let max = max_map_count();
    let budget = (max.saturating_sub(map_count() + 1024) as f64 / per) as usize;
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        if i >= budget {
            let why = format!(
                "vm.max_map_count = {} and each live thread maps {per:.1} regions (stack, \
                 guard, signal stack, guard); beyond that std aborts the process",
                fmt_count(max as u64)
            );
            return (handles, Some(why));
        }
        match thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(make(i))
        {
            Ok(h) => handles.push(h),
            Err(e) => return (handles, Some(e.to_string())),
        }
    }
    (handles, None)
}

fn join_threads(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        h.join().expect("benchmark thread panicked");
    }
}

/// Notes where thread creation stopped, once per distinct outcome.
fn stop_note(n: usize, reached: &[usize], err: &Option<String>) -> String {
    match (reached.iter().min(), err) {
        (Some(&min), Some(e)) if min < n => format!(
            "threads: stopped at {}{} of {}: {e}",
            fmt_count(min as u64),
            if reached.iter().max() != Some(&min) {
                format!(
                    "-{}",
                    fmt_count(*reached.iter().max().unwrap_or(&min) as u64)
                )
            } else {
                String::new()
            },
            fmt_count(n as u64)
        ),
        _ => String::new(),
    }
}

// ---- 1. spawn + join ---------------------------------------------------------------

/// Repeats `batch` (returning its wall time and task count) until `min` has passed.
/// Returns ns per task over all batches (steady state) and over the first batch
/// alone (cold: right after the other side of the comparison ran).
fn batched(min: Duration, mut batch: impl FnMut() -> (Duration, usize)) -> (f64, f64) {
    let (mut total, mut tasks, mut first) = (Duration::ZERO, 0, None);
    while total < min {
        let (d, k) = batch();
        if k == 0 {
            break;
        }
        first.get_or_insert(ns(d) / k as f64);
        total += d;
        tasks += k;
    }
    (ns(total) / tasks.max(1) as f64, first.unwrap_or(f64::NAN))
}

fn spawn_join(cfg: &Cfg, report: &mut Report) {
    let sizes: &[usize] = if cfg.quick {
        &[1_000, 10_000]
    } else {
        &[1_000, 10_000, 100_000]
    };
    let min = Duration::from_millis(if cfg.quick { 50 } else { 200 });
    for &n in sizes {
        let mut reached = Vec::new();
        let mut err = None;
        let (green, thread) = alternate(
            cfg.reps,
            &format!("spawn+join N={}", short(n)),
            || {
                batched(min, || {
                    let t = Instant::now();
                    let gs: Vec<_> = (0..n).map(|_| greenlet::spawn(|| ())).collect();
                    greenlet::joinall(gs);
                    (t.elapsed(), n)
                })
            },
            || {
                batched(min, || {
                    let t = Instant::now();
                    let (hs, e) = spawn_threads(n, |_| || ());
                    let k = hs.len();
                    join_threads(hs);
                    reached.push(k);
                    if e.is_some() {
                        err = e;
                    }
                    (t.elapsed(), k)
                })
            },
        );
        let mut row = Row::new(
            format!("spawn_join_{n}"),
            format!("spawn+join, N={}, per task", short(n)),
            Unit::Nanos,
        );
        row.green = green.iter().map(|g| g.0).collect();
        row.thread = thread.iter().map(|t| t.0).collect();
        row.target = Some(Target {
            text: "≤ 100 ns, ≥ 400×",
            max_green: Some(100.0),
            min_green: None,
            min_ratio: Some(400.0),
        });
        let cold_g = median(&green.iter().map(|g| g.1).collect::<Vec<_>>());
        let cold_t = median(&thread.iter().map(|t| t.1).collect::<Vec<_>>());
        row.note = format!(
            "batches repeated for >= {} ms per rep; first batch of each rep (cold caches): \
             greenlets {}, threads {}",
            min.as_millis(),
            fmt_ns(cold_g),
            fmt_ns(cold_t)
        );
        let stop = stop_note(n, &reached, &err);
        if !stop.is_empty() {
            row.note = format!("{stop}; {}", row.note);
        }
        report.curve.push(CurvePoint {
            n,
            green_ns: row.green_median(),
            thread_ns: row.thread_median(),
            thread_reached: reached.iter().copied().min().unwrap_or(0),
        });
        report.rows.push(row);
    }
}

// ---- 2. switch ---------------------------------------------------------------------

fn switch(cfg: &Cfg, report: &mut Report) {
    let cases: &[(usize, usize)] = if cfg.quick {
        &[(2, 200_000), (1_000, 100)]
    } else {
        &[(2, 1_000_000), (1_000, 1_000)]
    };
    for &(k, m) in cases {
        let (green, thread) = alternate(
            cfg.reps,
            &format!("switch among {k}"),
            || {
                let gs: Vec<_> = (0..k)
                    .map(|_| {
                        greenlet::spawn(move || {
                            for _ in 0..m {
                                greenlet::yield_now();
                            }
                        })
                    })
                    .collect();
                let t = Instant::now();
                greenlet::joinall(gs);
                ns(t.elapsed()) / (k * m) as f64
            },
            || {
                let barrier = Arc::new(Barrier::new(k + 1));
                let (hs, e) = spawn_threads(k, |_| {
                    let b = barrier.clone();
                    move || {
                        b.wait();
                        for _ in 0..m {
                            thread::yield_now();
                        }
                    }
                });
                if let Some(e) = e {
                    panic!("cannot spawn {k} threads: {e}");
                }
                barrier.wait();
                let t = Instant::now();
                join_threads(hs);
                ns(t.elapsed()) / (k * m) as f64
            },
        );
        let mut row = Row::new(
            format!("switch_{k}"),
            format!("switch, {k} tasks, per yield"),
            Unit::Nanos,
        );
        row.green = green;
        row.thread = thread;
        if k == 2 {
            row.target = Some(Target::max("≤ 10 ns", 10.0));
            row.note =
                "threads: 2 threads on 2 cores rarely switch; sched_yield mostly returns at once"
                    .into();
        }
        report.rows.push(row);
    }
}

// ---- 5. memory ---------------------------------------------------------------------

/// What a memory child process measured.
#[derive(Default)]
struct MemSample {
    rss_before: f64,
    rss_after: f64,
    pte_before: f64,
    pte_after: f64,
    spawned: usize,
    kill_ns: f64,
    /// Memory mappings of the process while the tasks were alive.
    maps: usize,
    err: Option<String>,
}

impl MemSample {
    fn rss_per_task(&self) -> f64 {
        (self.rss_after - self.rss_before) / self.spawned.max(1) as f64
    }

    fn pte_per_task(&self) -> f64 {
        (self.pte_after - self.pte_before) / self.spawned.max(1) as f64
    }
}

/// (VmRSS, VmPTE) of this process, in bytes.
fn proc_status() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib * 1024.0)
    };
    (field("VmRSS:"), field("VmPTE:"))
}

/// Child process: `n` greenlets sleeping for an hour, measured, then killed.
fn child_mem_green(n: usize) {
    greenlet::hub_stats(); // create the hub before the baseline
    let (rss0, pte0) = proc_status();
    let mut gs = Vec::with_capacity(n);
    let mut err = None;
    for _ in 0..n {
        match greenlet::Builder::new().spawn(|| greenlet::sleep(Duration::from_secs(3600))) {
            Ok(g) => gs.push(g),
            Err(e) => {
                err = Some(e.to_string());
                break;
            }
        }
    }
    greenlet::yield_now(); // every greenlet runs until it parks in sleep
    let stats = greenlet::hub_stats();
    assert_eq!(stats.timers, gs.len(), "every greenlet sleeps");
    let (rss1, pte1) = proc_status();
    println!("maps={}", map_count());
    let t = Instant::now();
    greenlet::killall(&gs);
    let kill_ns = ns(t.elapsed()) / gs.len().max(1) as f64;
    print_child(rss0, rss1, pte0, pte1, gs.len(), kill_ns, err);
}

static STARTED: AtomicUsize = AtomicUsize::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

/// Child process: `n` threads parked, measured, then released and joined.
fn child_mem_thread(n: usize) {
    let (rss0, pte0) = proc_status();
    let (hs, err) = spawn_threads(n, |_| {
        || {
            STARTED.fetch_add(1, Ordering::SeqCst);
            while !STOP.load(Ordering::SeqCst) {
                thread::park();
            }
        }
    });
    while STARTED.load(Ordering::SeqCst) < hs.len() {
        thread::sleep(Duration::from_millis(1));
    }
    thread::sleep(Duration::from_millis(20)); // let the last ones reach park()
    let (rss1, pte1) = proc_status();
    println!("maps={}", map_count());
    let t = Instant::now();
    STOP.store(true, Ordering::SeqCst);
    let k = hs.len();
    for h in &hs {
        h.thread().unpark();
    }
    join_threads(hs);
    print_child(
        rss0,
        rss1,
        pte0,
        pte1,
        k,
        ns(t.elapsed()) / k.max(1) as f64,
        err,
    );
}

fn print_child(
    rss0: f64,
    rss1: f64,
    pte0: f64,
    pte1: f64,
    spawned: usize,
    kill_ns: f64,
    err: Option<String>,
) {
    println!("rss_before={rss0}");
    println!("rss_after={rss1}");
    println!("pte_before={pte0}");
    println!("pte_after={pte1}");
    println!("spawned={spawned}");
    println!("kill_ns={kill_ns}");
    if let Some(e) = err {
        println!("err={}", e.replace('\n', " "));
    }
}

/// Runs a memory measurement in a fresh process, so that no earlier scenario's
/// pooled stacks or freed heap hide the cost.
fn run_child(kind: &str, n: usize) -> MemSample {
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args(["--child", kind, &n.to_string()])
        .output()
        .expect("cannot run the child process");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut s = MemSample::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let f = v.parse::<f64>().unwrap_or(f64::NAN);
        match k {
            "rss_before" => s.rss_before = f,
            "rss_after" => s.rss_after = f,
            "pte_before" => s.pte_before = f,
            "pte_after" => s.pte_after = f,
            "spawned" => s.spawned = f as usize,
            "kill_ns" => s.kill_ns = f,
            "maps" => s.maps = f as usize,
            "err" => s.err = Some(v.to_string()),
            _ => {}
        }
    }
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        s.err = Some(format!(
            "child {kind} {n} failed ({}): {}",
            out.status,
            last.unwrap_or("no message")
        ));
    }
    s
}

fn memory(cfg: &Cfg, report: &mut Report) {
    let sizes: &[usize] = if cfg.quick {
        &[10_000]
    } else {
        &[10_000, 100_000]
    };
    for &n in sizes {
        let (green, thread) = alternate(
            cfg.reps,
            &format!("memory N={}", short(n)),
            || run_child("mem-green", n),
            || run_child("mem-thread", n),
        );
        let mut row = Row::new(
            format!("rss_idle_{n}"),
            format!("RSS per idle task, N={}", short(n)),
            Unit::Bytes,
        );
        row.green = green.iter().map(MemSample::rss_per_task).collect();
        row.thread = thread.iter().map(MemSample::rss_per_task).collect();
        row.target = Some(Target::max("≤ 4.5 KiB", 4.5 * 1024.0));
        let g_pte = median(
            &green
                .iter()
                .map(MemSample::pte_per_task)
                .collect::<Vec<_>>(),
        );
        let t_pte = median(
            &thread
                .iter()
                .map(MemSample::pte_per_task)
                .collect::<Vec<_>>(),
        );
        let g_kill = median(&green.iter().map(|s| s.kill_ns).collect::<Vec<_>>());
        let mut note = format!(
            "page tables (not in RSS): {} vs {} per task; killall {} per greenlet",
            fmt_bytes(g_pte),
            fmt_bytes(t_pte),
            fmt_ns(g_kill)
        );
        if let Some(e) = green.iter().find_map(|s| s.err.clone()) {
            note.push_str(&format!("; greenlets FAILED: {e}"));
        }
        let reached: Vec<usize> = thread.iter().map(|s| s.spawned).collect();
        let err = thread.iter().find_map(|s| s.err.clone());
        let stop = stop_note(n, &reached, &err);
        if !stop.is_empty() {
            note.push_str(&format!("; {stop} (RSS per thread actually started)"));
        }
        row.note = note;
        report.rows.push(row);
    }

    // One process, a million sleeping greenlets: capacity, and RSS per greenlet there.
    let n = 1_000_000;
    let mut cap = Row::new(
        "idle_greenlets_capacity",
        "sleeping greenlets in one process",
        Unit::Count,
    );
    cap.target = Some(Target {
        text: "1,000,000 with guard pages",
        max_green: None,
        min_green: Some(n as f64),
        min_ratio: None,
    });
    cap.thread_note = "—".into();
    if cfg.quick {
        cap.green.push(f64::NAN);
        cap.note = "skipped in --quick".into();
        cap.target = None;
        report.rows.push(cap);
        return;
    }
    eprintln!("  memory N=1M greenlets (once)");
    let s = run_child("mem-green", n);
    cap.green.push(s.spawned as f64);
    cap.note = match &s.err {
        None => format!(
            "all {} spawned and parked in sleep; the process had {} memory mappings \
             (guard pages do not split the stack arenas)",
            fmt_count(n as u64),
            fmt_count(s.maps as u64)
        ),
        Some(e) => format!("stopped at {}: {e}", fmt_count(s.spawned as u64)),
    };
    let mut row = Row::new(
        format!("rss_idle_{n}"),
        "RSS per idle task, N=1M",
        Unit::Bytes,
    );
    row.green.push(s.rss_per_task());
    row.thread_note = "n/a (thread limit, see N=100k)".into();
    row.target = Some(Target::max("≤ 4.5 KiB", 4.5 * 1024.0));
    row.note = format!(
        "one run; page tables {} per greenlet; killall {} per greenlet",
        fmt_bytes(s.pte_per_task()),
        fmt_ns(s.kill_ns)
    );
    report.rows.push(row);
    report.rows.push(cap);
}

// ---- 6. timers ---------------------------------------------------------------------

/// Delays of 0-100 ms, the same sequence for greenlets and threads.
fn delays(n: usize, seed: u64) -> Vec<Duration> {
    let mut rng = XorShift(seed | 1);
    (0..n)
        .map(|_| Duration::from_nanos(rng.next() % 100_000_001))
        .collect()
}

/// (wall time, worst lateness) in ns.
fn timers_green(ds: &[Duration]) -> (f64, f64) {
    let worst = Rc::new(Cell::new(Duration::ZERO));
    let t = Instant::now();
    let gs: Vec<_> = ds
        .iter()
        .map(|&d| {
            let worst = worst.clone();
            greenlet::spawn(move || {
                let s = Instant::now();
                greenlet::sleep(d);
                let late = s.elapsed().saturating_sub(d);
                worst.set(worst.get().max(late));
            })
        })
        .collect();
    greenlet::joinall(gs);
    (ns(t.elapsed()), ns(worst.get()))
}

fn timers_thread(ds: &[Duration]) -> (f64, f64, usize, Option<String>) {
    let worst = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    let (hs, err) = spawn_threads(ds.len(), |i| {
        let d = ds[i];
        let worst = worst.clone();
        move || {
            let s = Instant::now();
            thread::sleep(d);
            let late = s.elapsed().saturating_sub(d).as_nanos() as u64;
            worst.fetch_max(late, Ordering::Relaxed);
        }
    });
    let k = hs.len();
    join_threads(hs);
    (
        ns(t.elapsed()),
        worst.load(Ordering::Relaxed) as f64,
        k,
        err,
    )
}

fn timers(cfg: &Cfg, report: &mut Report) {
    let thread_n = 10_000;
    let sizes: &[usize] = if cfg.quick {
        &[10_000]
    } else {
        &[10_000, 100_000]
    };
    for &n in sizes {
        let ds = delays(n, 0x9e37_79b9_7f4a_7c15);
        let label = format!("timers N={}", short(n));
        let (green, thread): (Vec<(f64, f64)>, Vec<_>) = if n <= thread_n {
            alternate(
                cfg.reps,
                &label,
                || timers_green(&ds),
                || timers_thread(&ds),
            )
        } else {
            (repeat(cfg.reps, &label, || timers_green(&ds)), Vec::new())
        };
        let mut wall = Row::new(
            format!("timers_wall_{n}"),
            format!("timers, N={}, 0-100 ms: wall time", short(n)),
            Unit::Nanos,
        );
        let mut late = Row::new(
            format!("timers_late_{n}"),
            format!("timers, N={}, 0-100 ms: worst lateness", short(n)),
            Unit::Nanos,
        );
        wall.green = green.iter().map(|g| g.0).collect();
        late.green = green.iter().map(|g| g.1).collect();
        wall.thread = thread.iter().map(|t| t.0).collect();
        late.thread = thread.iter().map(|t| t.1).collect();
        if thread.is_empty() {
            let why = format!("not run: {}k threads max here", thread_n / 1000);
            wall.thread_note = why.clone();
            late.thread_note = why;
        } else {
            let reached: Vec<usize> = thread.iter().map(|t| t.2).collect();
            let err = thread.iter().find_map(|t| t.3.clone());
            wall.note = stop_note(n, &reached, &err);
            wall.note = if wall.note.is_empty() {
                "wall includes spawning (threads: creating 10k threads)".into()
            } else {
                format!("wall includes spawning; {}", wall.note)
            };
        }
        late.note = "greenlets: a timer that fires while greenlets are still starting waits \
                     behind them in the FIFO run queue"
            .into();
        report.rows.push(wall);
        report.rows.push(late);
    }
}

// ---- output ------------------------------------------------------------------------

fn markdown(report: &Report, cfg: &Cfg, machine: &Machine) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "greenlet benchmark, {} run, {} reps, medians; {} ({} CPUs, Linux {}), {}",
        if cfg.quick { "quick" } else { "full" },
        cfg.reps,
        machine.cpu,
        machine.cpus,
        machine.kernel,
        machine.date
    );
    let _ = writeln!(
        s,
        "greenlets: one hub, default stack {} KiB (address space; touched on demand, guard page \
         each). 2 hubs (echo rows): the same handler on StreamServer::hubs(2). threads: \
         std::thread, stack_size(64 KiB). ratio = threads ÷ greenlets.\n",
        greenlet::DEFAULT_STACK_SIZE / 1024
    );
    s.push_str("| scenario | greenlets | 2 hubs | threads | ratio | target |\n");
    s.push_str("|---|---:|---:|---:|---:|---|\n");
    for r in &report.rows {
        let g = r.green_median();
        let green = if g.is_nan() {
            "skipped".to_string()
        } else {
            r.unit.show(g)
        };
        let thread = match r.thread_median() {
            Some(t) => r.unit.show(t),
            None if r.thread_note.is_empty() => "—".into(),
            None => r.thread_note.clone(),
        };
        let hubs2 = r.hubs2_median().map_or("—".into(), |h| r.unit.show(h));
        let ratio = r.ratio().map_or("—".into(), |x| format!("{}×", sig3(x)));
        let target = match (r.target, r.target_met()) {
            (Some(t), Some(true)) => format!("{}: met", t.text),
            (Some(t), _) => format!("{}: **missed**", t.text),
            (None, _) => "—".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {green} | {hubs2} | {thread} | {ratio} | {target} |",
            r.scenario
        );
    }
    let notes: Vec<String> = report
        .rows
        .iter()
        .filter(|r| !r.note.is_empty())
        .map(|r| format!("- {}: {}", r.scenario, r.note))
        .chain(report.notes.iter().map(|n| format!("- {n}")))
        .collect();
    if !notes.is_empty() {
        s.push_str("\nNotes:\n");
        for n in notes {
            let _ = writeln!(s, "{n}");
        }
    }
    s
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

fn json_opt(v: Option<f64>) -> String {
    v.map_or("null".into(), json_num)
}

fn json_list(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|&x| json_num(x)).collect();
    format!("[{}]", items.join(", "))
}

fn json(report: &Report, cfg: &Cfg, machine: &Machine) -> String {
    let mut s = String::from("{\n");
    let _ = writeln!(s, "  \"quick\": {},", cfg.quick);
    let _ = writeln!(s, "  \"reps\": {},", cfg.reps);
    let _ = writeln!(
        s,
        "  \"machine\": {{\"cpu\": {}, \"cpus\": {}, \"kernel\": {}, \"date\": {}}},",
        json_str(&machine.cpu),
        machine.cpus,
        json_str(&machine.kernel),
        json_str(&machine.date)
    );
    let _ = writeln!(
        s,
        "  \"greenlet_stack_bytes\": {},\n  \"thread_stack_bytes\": {THREAD_STACK},",
        greenlet::DEFAULT_STACK_SIZE
    );
    s.push_str("  \"ratio\": \"threads / greenlets (how many times cheaper a greenlet is)\",\n");
    s.push_str("  \"rows\": [\n");
    for (i, r) in report.rows.iter().enumerate() {
        let _ = write!(
            s,
            "    {{\"key\": {}, \"scenario\": {}, \"unit\": {}, \"greenlets\": {}, \
             \"hubs2\": {}, \"threads\": {}, \"ratio\": {}, \"target\": {}, \"target_met\": {}, \
             \"green_samples\": {}, \"hubs2_samples\": {}, \"thread_samples\": {}, \
             \"threads_note\": {}, \"note\": {}}}",
            json_str(&r.key),
            json_str(&r.scenario),
            json_str(r.unit.name()),
            json_num(r.green_median()),
            json_opt(r.hubs2_median()),
            json_opt(r.thread_median()),
            json_opt(r.ratio()),
            r.target.map_or("null".into(), |t| json_str(t.text)),
            r.target_met().map_or("null".into(), |m| m.to_string()),
            json_list(&r.green),
            json_list(&r.hubs2),
            json_list(&r.thread),
            json_str(&r.thread_note),
            json_str(&r.note),
        );
        s.push_str(if i + 1 < report.rows.len() {
            ",\n"
        } else {
            "\n"
        });
    }
    s.push_str("  ],\n  \"spawn_join_curve\": [\n");
    for (i, p) in report.curve.iter().enumerate() {
        let _ = write!(
            s,
            "    {{\"n\": {}, \"green_ns_per_task\": {}, \"thread_ns_per_task\": {}, \
             \"threads_spawned\": {}}}",
            p.n,
            json_num(p.green_ns),
            json_opt(p.thread_ns),
            p.thread_reached
        );
        s.push_str(if i + 1 < report.curve.len() {
            ",\n"
        } else {
            "\n"
        });
    }
    let _ = writeln!(s, "  ]\n}}");
    s
}

/// A plotted curve: name, colour, (N, ns per task) points.
type Series = (&'static str, &'static str, Vec<(f64, f64)>);

/// Time per task against N for spawn+join, log-log, both curves.
fn svg(report: &Report, machine: &Machine) -> String {
    let (w, h) = (760.0, 440.0);
    let (left, right, top, bottom) = (90.0, 195.0, 50.0, 60.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let pts = &report.curve;
    let xs: Vec<f64> = pts.iter().map(|p| p.n as f64).collect();
    let ys: Vec<f64> = pts
        .iter()
        .flat_map(|p| [Some(p.green_ns), p.thread_ns])
        .flatten()
        .filter(|y| y.is_finite() && *y > 0.0)
        .chain([100.0])
        .collect();
    let lo = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let (x0, x1) = (
        lo(&xs).log10().floor(),
        hi(&xs).log10().ceil().max(lo(&xs).log10().floor() + 1.0),
    );
    // 0.9: keep the 100 ns target line off the bottom edge.
    let (y0, y1) = ((lo(&ys) * 0.9).log10().floor(), hi(&ys).log10().ceil());
    let (x1, y1) = (x1.max(x0 + 1.0), y1.max(y0 + 1.0));
    // Decades x0..x1 as ticks; the points sit a little inside the frame.
    let (xa, xb) = (x0 - 0.12, x1 + 0.12);
    let px = |x: f64| left + (x.log10() - xa) / (xb - xa) * pw;
    let py = |y: f64| top + ph - (y.log10() - y0) / (y1 - y0) * ph;

    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(s, "<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\
         spawn + join: time per task (log-log)</text>",
        left + pw / 2.0
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"40\" text-anchor=\"middle\" fill=\"#555\">{} CPUs, {}, medians</text>",
        left + pw / 2.0,
        machine.cpus,
        machine.date
    );
    // Grid and tick labels at decades (plus 2 and 5 minor lines).
    for d in (x0 as i32)..=(x1 as i32) {
        let x = px(10f64.powi(d));
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            top + ph,
            top + ph + 18.0,
            short(10usize.pow(d as u32))
        );
    }
    for d in (y0 as i32)..=(y1 as i32) {
        let v = 10f64.powi(d);
        let y = py(v);
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + pw,
            left - 8.0,
            y + 4.0,
            fmt_decade(v)
        );
        if d < y1 as i32 {
            for m in [2.0, 5.0] {
                let y = py(v * m);
                let _ = writeln!(
                    s,
                    "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#f2f2f2\"/>",
                    left + pw
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#333\"/>"
    );
    // Axis labels.
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">tasks spawned, then joined (N, log scale)</text>",
        left + pw / 2.0,
        h - 16.0
    );
    let _ = writeln!(
        s,
        "<text transform=\"translate(22 {:.1}) rotate(-90)\" text-anchor=\"middle\">time per task (log scale)</text>",
        top + ph / 2.0
    );
    // The 100 ns target.
    let ty = py(100.0);
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" y1=\"{ty:.1}\" x2=\"{:.1}\" y2=\"{ty:.1}\" stroke=\"#2a9d3a\" \
         stroke-dasharray=\"6 4\"/>",
        left + pw
    );
    // The curves.
    let series: [Series; 2] = [
        (
            "greenlets",
            "#1f5fbf",
            pts.iter()
                .map(|p| (p.n as f64, p.green_ns))
                .filter(|p| p.1.is_finite())
                .collect(),
        ),
        (
            "std::thread (64 KiB)",
            "#d0451b",
            pts.iter()
                .filter_map(|p| p.thread_ns.map(|t| (p.n as f64, t)))
                .collect(),
        ),
    ];
    for (name, color, line) in &series {
        let path: Vec<String> = line
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2.5\"/>",
            path.join(" ")
        );
        for &(x, y) in line {
            let _ = writeln!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{color}\"><title>{name}, N={}: {}</title></circle>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"{color}\">{}</text>",
                px(x),
                py(y),
                short(x as usize),
                fmt_ns(y),
                px(x) + 7.0,
                py(y) + 15.0,
                fmt_ns(y)
            );
        }
    }
    // Where thread creation stopped.
    for p in pts {
        if let Some(t) = p.thread_ns
            && p.thread_reached < p.n
        {
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"10\" fill=\"#d0451b\">\
                 threads stopped at {}</text>",
                px(p.n as f64) - 6.0,
                py(t) - 8.0,
                fmt_count(p.thread_reached as u64)
            );
        }
    }
    // Legend.
    let lx = left + pw + 40.0;
    for (i, (name, color, _)) in series.iter().enumerate() {
        let y = top + 16.0 + 22.0 * i as f64;
        let _ = writeln!(
            s,
            "<line x1=\"{lx}\" y1=\"{y}\" x2=\"{:.1}\" y2=\"{y}\" stroke=\"{color}\" stroke-width=\"2.5\"/>\
             <circle cx=\"{:.1}\" cy=\"{y}\" r=\"4\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{name}</text>",
            lx + 24.0,
            lx + 12.0,
            lx + 30.0,
            y + 4.0
        );
    }
    let y = top + 16.0 + 44.0;
    let _ = writeln!(
        s,
        "<line x1=\"{lx}\" y1=\"{y}\" x2=\"{:.1}\" y2=\"{y}\" stroke=\"#2a9d3a\" stroke-dasharray=\"6 4\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\">target 100 ns</text>",
        lx + 24.0,
        lx + 30.0,
        y + 4.0
    );
    s.push_str("</svg>\n");
    s
}

// ---- machine -----------------------------------------------------------------------

struct Machine {
    cpu: String,
    cpus: usize,
    kernel: String,
    date: String,
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|r| r.split_once(':'))
        .map_or("unknown CPU".into(), |(_, v)| v.trim().to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or("?".into(), |s| s.trim().to_string());
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    Machine {
        cpu,
        cpus,
        kernel,
        date: utc_date(),
    }
}

/// Today's UTC date, `YYYY-MM-DD` (Howard Hinnant's civil-from-days).
fn utc_date() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn write_file(path: &PathBuf, contents: &str) {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(path, contents) {
        Ok(()) => eprintln!("wrote {}", path.display()),
        Err(e) => eprintln!("bench: cannot write {}: {e}", path.display()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        let n: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(0);
        match args.get(2).map(String::as_str) {
            Some("mem-green") => child_mem_green(n),
            Some("mem-thread") => child_mem_thread(n),
            Some("count") => count::child(&args[3..]),
            Some("first-use") => firstuse::child(),
            Some("idle-load") => idle::child(&args[3..]),
            Some(k) if k.starts_with("echo-") => echo::child(k, &args[3..]),
            other => panic!("unknown child {other:?}"),
        }
        return;
    }
    let cfg = parse_args();
    let machine = machine();
    let start = Instant::now();
    let mut report = Report::default();
    for (name, scenario) in SCENARIOS {
        if cfg.only.as_ref().is_some_and(|o| o != name) {
            continue;
        }
        eprintln!("[{name}]");
        scenario(&cfg, &mut report);
    }
    report.notes.push(format!(
        "total benchmark time {:.1} s",
        start.elapsed().as_secs_f64()
    ));
    print!("{}", markdown(&report, &cfg, &machine));
    write_file(&cfg.json, &json(&report, &cfg, &machine));
    if !report.curve.is_empty() {
        write_file(&cfg.svg, &svg(&report, &machine));
    }
}
