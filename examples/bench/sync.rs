//! Scenarios 3 (ping-pong) and 4 (mutex contention): greenlet's sync primitives and
//! channel on one hub beside std's primitives in OS threads.

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::Instant;

use greenlet::queue::Channel;
use greenlet::sync::Event;
use greenlet::wake::{self, Waker};

use super::{
    Cfg, Report, Row, THREAD_STACK, Target, Unit, alternate, join_threads, ns, short,
    spawn_threads, stop_note,
};

// ---- 3. ping-pong ------------------------------------------------------------------

/// Runs `a` and `b` as two greenlets on this hub; `a` returns the ns per round trip.
fn green_pair(a: impl FnOnce() -> f64 + 'static, b: impl FnOnce() + 'static) -> f64 {
    let ga = greenlet::spawn(a);
    let gb = greenlet::spawn(b);
    let per = ga.join().expect("ping greenlet failed");
    gb.join().expect("pong greenlet failed");
    per
}

/// Runs `a` and `b` as two threads (64 KiB stacks); `a` returns the ns per round trip.
fn thread_pair(a: impl FnOnce() -> f64 + Send + 'static, b: impl FnOnce() + Send + 'static) -> f64 {
    let spawn = |f: Box<dyn FnOnce() + Send>| {
        thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(f)
            .expect("cannot spawn a ping-pong thread")
    };
    let out = Arc::new(OnceLock::new());
    let o = out.clone();
    let ha = spawn(Box::new(move || {
        let _ = o.set(a());
    }));
    let hb = spawn(Box::new(b));
    join_threads(vec![ha, hb]);
    *out.get().expect("the ping thread reports its time")
}

/// The raw seam: a flag and the waker of whoever waits for it. Also used by the
/// callgrind loop `--child count raw` (module `count`).
#[derive(Default)]
pub(super) struct Side {
    flag: Cell<bool>,
    waiter: Cell<Option<Waker>>,
}

impl Side {
    pub(super) fn signal(&self) {
        self.flag.set(true);
        if let Some(w) = self.waiter.take() {
            w.wake();
        }
    }

    pub(super) fn take(&self) {
        while !self.flag.get() {
            self.waiter.set(Some(wake::waker()));
            wake::park("ping-pong");
        }
        self.flag.set(false);
    }
}

fn raw_green(n: usize) -> f64 {
    let (ping, pong) = (Rc::new(Side::default()), Rc::new(Side::default()));
    let (ping2, pong2) = (ping.clone(), pong.clone());
    green_pair(
        move || {
            let t = Instant::now();
            for _ in 0..n {
                ping.signal();
                pong.take();
            }
            ns(t.elapsed()) / n as f64
        },
        move || {
            for _ in 0..n {
                ping2.take();
                pong2.signal();
            }
        },
    )
}

fn raw_thread(n: usize) -> f64 {
    // park/unpark: a token per thread, the std analogue of waker/park.
    let pong_thread: Arc<OnceLock<thread::Thread>> = Arc::new(OnceLock::new());
    let ping_thread: Arc<OnceLock<thread::Thread>> = Arc::new(OnceLock::new());
    let flags = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let (pt, qt, f2) = (ping_thread.clone(), pong_thread.clone(), flags.clone());
    let take = |f: &AtomicUsize| {
        while f.swap(0, Ordering::Acquire) == 0 {
            thread::park();
        }
    };
    thread_pair(
        move || {
            let _ = ping_thread.set(thread::current());
            while pong_thread.get().is_none() {
                thread::yield_now();
            }
            let other = pong_thread.get().expect("pong thread");
            let t = Instant::now();
            for _ in 0..n {
                flags[0].store(1, Ordering::Release);
                other.unpark();
                take(&flags[1]);
            }
            ns(t.elapsed()) / n as f64
        },
        move || {
            let _ = qt.set(thread::current());
            while pt.get().is_none() {
                thread::yield_now();
            }
            let other = pt.get().expect("ping thread");
            for _ in 0..n {
                take(&f2[0]);
                f2[1].store(1, Ordering::Release);
                other.unpark();
            }
        },
    )
}

fn event_green(n: usize) -> f64 {
    let (ping, pong) = (Rc::new(Event::new()), Rc::new(Event::new()));
    let (ping2, pong2) = (ping.clone(), pong.clone());
    green_pair(
        move || {
            let t = Instant::now();
            for _ in 0..n {
                ping.set();
                pong.wait();
                pong.clear();
            }
            ns(t.elapsed()) / n as f64
        },
        move || {
            for _ in 0..n {
                ping2.wait();
                ping2.clear();
                pong2.set();
            }
        },
    )
}

/// A flag under a std Mutex, with a Condvar to wait for it.
#[derive(Default)]
struct Flag {
    set: Mutex<bool>,
    cv: Condvar,
}

impl Flag {
    fn set(&self) {
        *self.set.lock().unwrap() = true;
        self.cv.notify_one();
    }

    fn take(&self) {
        let mut s = self.set.lock().unwrap();
        while !*s {
            s = self.cv.wait(s).unwrap();
        }
        *s = false;
    }
}

fn event_thread(n: usize) -> f64 {
    let (ping, pong) = (Arc::new(Flag::default()), Arc::new(Flag::default()));
    let (ping2, pong2) = (ping.clone(), pong.clone());
    thread_pair(
        move || {
            let t = Instant::now();
            for _ in 0..n {
                ping.set();
                pong.take();
            }
            ns(t.elapsed()) / n as f64
        },
        move || {
            for _ in 0..n {
                ping2.take();
                pong2.set();
            }
        },
    )
}

fn channel_green(n: usize) -> f64 {
    let (ping, pong) = (Rc::new(Channel::new()), Rc::new(Channel::new()));
    let (ping2, pong2) = (ping.clone(), pong.clone());
    green_pair(
        move || {
            let t = Instant::now();
            for i in 0..n {
                ping.put(i).expect("open");
                black_box(pong.get().expect("open"));
            }
            ns(t.elapsed()) / n as f64
        },
        move || {
            for _ in 0..n {
                let i = ping2.get().expect("open");
                pong2.put(i).expect("open");
            }
        },
    )
}

fn channel_thread(n: usize) -> f64 {
    let (ping_tx, ping_rx) = std::sync::mpsc::sync_channel::<usize>(0);
    let (pong_tx, pong_rx) = std::sync::mpsc::sync_channel::<usize>(0);
    thread_pair(
        move || {
            let t = Instant::now();
            for i in 0..n {
                ping_tx.send(i).expect("open");
                black_box(pong_rx.recv().expect("open"));
            }
            ns(t.elapsed()) / n as f64
        },
        move || {
            for _ in 0..n {
                let i = ping_rx.recv().expect("open");
                pong_tx.send(i).expect("open");
            }
        },
    )
}

pub(super) fn ping_pong(cfg: &Cfg, report: &mut Report) {
    let n = if cfg.quick { 20_000 } else { 100_000 };
    // Threads take 3-90 µs per round trip here (it varies from run to run with where
    // the scheduler puts them): fewer round trips keep the run short, the median steady.
    let tn = if cfg.quick { 2_000 } else { 20_000 };
    let target = Target {
        text: "≤ 40 ns, ≥ 250× threads",
        max_green: Some(40.0),
        min_green: None,
        min_ratio: Some(250.0),
    };
    type Pair = (
        &'static str,
        &'static str,
        fn(usize) -> f64,
        fn(usize) -> f64,
    );
    let cases: [Pair; 3] = [
        ("event", "Event / Mutex+Condvar", event_green, event_thread),
        (
            "channel",
            "Channel / sync_channel(0)",
            channel_green,
            channel_thread,
        ),
        (
            "raw",
            "raw waker()/park() / park+unpark",
            raw_green,
            raw_thread,
        ),
    ];
    for (key, what, green, thread) in cases {
        let (g, t) = alternate(
            cfg.reps,
            &format!("ping-pong {key} x{} (threads x{})", short(n), short(tn)),
            || green(n),
            || thread(tn),
        );
        let mut row = Row::new(
            format!("ping_pong_{key}"),
            format!("ping-pong, {what}, per round trip"),
            Unit::Nanos,
        );
        row.green = g;
        row.thread = t;
        row.note = match key {
            "event" => format!(
                "{} round trips (threads {}); two greenlets, two Events (set; wait; clear) vs \
                 two threads, a bool under a std Mutex + Condvar each way",
                short(n),
                short(tn)
            ),
            "channel" => format!(
                "{} round trips (threads {}); two rendezvous channels, one each way \
                 (greenlet::queue::Channel vs std::sync::mpsc::sync_channel(0))",
                short(n),
                short(tn)
            ),
            _ => "the floor the primitives build on: a Cell<bool> flag and a stored \
                  greenlet::wake::waker(), woken then park()ed, no primitive around it \
                  (threads: an atomic flag with thread::park/unpark)"
                .into(),
        };
        if key != "raw" {
            row.target = Some(target);
        }
        report.rows.push(row);
    }
}

// ---- 4. mutex contention -----------------------------------------------------------

/// Increments between two yields (outside the lock).
const YIELD_EVERY: usize = 8;

/// K greenlets on this hub, M increments each; ns per increment, from the first
/// greenlet starting to the last one finishing.
fn contend_green(k: usize, m: usize) -> f64 {
    let counter = Rc::new(greenlet::sync::Mutex::new(0u64));
    let left = Rc::new(Cell::new(k));
    let end = Rc::new(Cell::new(None));
    let gs: Vec<_> = (0..k)
        .map(|_| {
            let (counter, left, end) = (counter.clone(), left.clone(), end.clone());
            greenlet::spawn(move || {
                for i in 1..=m {
                    *counter.lock() += 1;
                    if i % YIELD_EVERY == 0 {
                        greenlet::yield_now();
                    }
                }
                left.set(left.get() - 1);
                if left.get() == 0 {
                    end.set(Some(Instant::now()));
                }
            })
        })
        .collect();
    let t = Instant::now();
    greenlet::joinall(gs);
    assert_eq!(*counter.lock(), (k * m) as u64, "greenlet counter");
    let end = end.get().expect("the last greenlet records the end");
    ns(end - t) / (k * m) as f64
}

/// K threads, M increments each; ns per increment from opening the start gate to the
/// last thread finishing, and how many threads started. If fewer than K start, none
/// runs (NaN) and the error says why.
fn contend_thread(k: usize, m: usize) -> (f64, usize, Option<String>) {
    let counter = Arc::new(Mutex::new(0u64));
    let left = Arc::new(AtomicUsize::new(k));
    let end = Arc::new(OnceLock::new());
    // None: closed; Some(run): open, and whether to run.
    let gate = Arc::new((Mutex::new(None::<bool>), Condvar::new()));
    let (hs, err) = spawn_threads(k, |_| {
        let (counter, left, end, gate) = (counter.clone(), left.clone(), end.clone(), gate.clone());
        move || {
            let mut g = gate.0.lock().unwrap();
            while g.is_none() {
                g = gate.1.wait(g).unwrap();
            }
            let run = *g == Some(true);
            drop(g);
            if !run {
                return;
            }
            for i in 1..=m {
                *counter.lock().unwrap() += 1;
                if i % YIELD_EVERY == 0 {
                    thread::yield_now();
                }
            }
            if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                let _ = end.set(Instant::now());
            }
        }
    });
    let started = hs.len();
    let run = started == k;
    *gate.0.lock().unwrap() = Some(run);
    let t = Instant::now();
    gate.1.notify_all();
    join_threads(hs);
    if !run {
        return (f64::NAN, started, err);
    }
    assert_eq!(*counter.lock().unwrap(), (k * m) as u64, "thread counter");
    let end = end.get().expect("the last thread records the end");
    (ns(*end - t) / (k * m) as f64, started, None)
}

fn uncontended_green(n: usize) -> f64 {
    let m = greenlet::sync::Mutex::new(0u64);
    let t = Instant::now();
    for _ in 0..n {
        *black_box(&m).lock() += 1;
    }
    let per = ns(t.elapsed()) / n as f64;
    assert_eq!(m.into_inner(), n as u64);
    per
}

fn uncontended_std(n: usize) -> f64 {
    let m = Mutex::new(0u64);
    let t = Instant::now();
    for _ in 0..n {
        *black_box(&m).lock().unwrap() += 1;
    }
    let per = ns(t.elapsed()) / n as f64;
    assert_eq!(m.into_inner().unwrap(), n as u64);
    per
}

pub(super) fn mutex(cfg: &Cfg, report: &mut Report) {
    // (K, M): about 200k increments in all (quick: 50k).
    let cases: &[(usize, usize)] = if cfg.quick {
        &[(2, 25_000), (100, 500), (10_000, 5)]
    } else {
        &[(2, 100_000), (100, 2_000), (10_000, 20)]
    };
    for &(k, m) in cases {
        let (green, thread) = alternate(
            cfg.reps,
            &format!("mutex K={} M={}", short(k), short(m)),
            || contend_green(k, m),
            || contend_thread(k, m),
        );
        let mut row = Row::new(
            format!("mutex_contended_{k}"),
            format!("mutex, {} tasks × {}, per increment", short(k), short(m)),
            Unit::Nanos,
        );
        row.green = green;
        row.thread = thread
            .iter()
            .map(|t| t.0)
            .filter(|t| t.is_finite())
            .collect();
        let reached: Vec<usize> = thread.iter().map(|t| t.1).collect();
        let err = thread.iter().find_map(|t| t.2.clone());
        let stop = stop_note(k, &reached, &err);
        if !stop.is_empty() {
            row.thread_note = "not run: too few threads".into();
            row.note = stop;
        }
        if k == 2 {
            row.note = format!(
                "each task: lock, increment, unlock, M times, and every {YIELD_EVERY}th \
                 iteration a yield outside the lock (greenlet::yield_now / \
                 std::thread::yield_now), nothing else. Time from the start (threads: opening \
                 the gate they wait at, after all are spawned) to the last task's end, ÷ K·M. On one hub a greenlet never \
                 yields while holding the lock, so greenlet::sync::Mutex never contends: the \
                 greenlet figure is fast-path lock+unlock plus 1/{YIELD_EVERY} of a switch; \
                 threads contend for real on 2 cores"
            );
        }
        report.rows.push(row);
    }

    let n = if cfg.quick { 2_000_000 } else { 10_000_000 };
    let (green, thread) = alternate(
        cfg.reps,
        &format!("mutex uncontended x{}", short(n)),
        || uncontended_green(n),
        || uncontended_std(n),
    );
    let mut row = Row::new(
        "mutex_uncontended",
        "mutex, uncontended lock+unlock (one thread)",
        Unit::Nanos,
    );
    row.green = green;
    row.thread = thread;
    row.target = Some(Target {
        text: "within 2× of std",
        max_green: None,
        min_green: None,
        min_ratio: Some(0.5),
    });
    row.note = format!(
        "{} × (lock, increment, unlock) on the main thread, outside any greenlet: \
         greenlet::sync::Mutex vs std::sync::Mutex",
        short(n)
    );
    report.rows.push(row);
}
