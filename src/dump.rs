//! What every greenlet of the process is doing (gevent's `print_run_info`, Go's
//! goroutine dump): [`dump()`](crate::dump()) lists every hub and every greenlet on it, with its
//! state (running, runnable, parked on what and for how long, finished and not
//! joined), its spawn site and its parent, and each hub's counters.
//!
//! ```
//! use std::time::Duration;
//! greenlet::dump::keep_finished(); // list finished greenlets whose handles live
//! let sleeper = greenlet::Builder::new()
//!     .name("sleeper")
//!     .spawn(|| greenlet::sleep(Duration::from_secs(60)))
//!     .unwrap();
//! greenlet::yield_now(); // it starts, and parks
//! let report = greenlet::dump().to_string();
//! assert!(report.contains("greenlet 'sleeper'"), "{report}");
//! assert!(report.contains("parked on sleep"), "{report}");
//! sleeper.kill();
//! ```
//!
//! Each hub describes itself on its own thread (a job sent to its inbox), so a hub
//! that is busy running a greenlet that never gives way cannot answer: the dump says
//! so, with how long it has gone without a switch. With `GREENLET_TRACE_PARKS=1` in
//! the environment, every park records a backtrace, shown under the parked greenlet
//! (slow: for debugging only; off, it costs one predictable branch per park).

use std::fmt;
use std::io;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::greenlet::{Facts, facts_of, for_each_finished};
use crate::hub::inspect::WaitView;
use crate::hub::{Hub, HubRef, registry};
use crate::sync::Event;

/// How long a dump waits for a hub to describe itself.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// From now on, list greenlets that have finished while their handles live
/// ("finished, not joined"). Off by default: keeping them costs a little per finish.
/// [`on_signal`] turns it on.
pub fn keep_finished() {
    crate::greenlet::keep_finished();
}

/// Prints [`dump()`](crate::dump()) to stderr each time the process gets `signum` (for example
/// `SIGUSR1`, or `SIGQUIT` as Go does), from a thread of its own, so that a hub that
/// is blocked cannot hold the dump up. Also turns [`keep_finished`] on. Lasts for the
/// rest of the process.
///
/// # Errors
/// A signal that cannot be caught (see [`signal::listen`](crate::signal::listen)).
pub fn on_signal(signum: i32) -> io::Result<()> {
    let mut listener = crate::signal::listen(signum)?;
    keep_finished();
    std::thread::Builder::new()
        .name("greenlet-dump".into())
        .spawn(move || {
            loop {
                listener.recv();
                eprintln!("{}", dump());
            }
        })?;
    Ok(())
}

/// A picture of every hub of the process and its greenlets; `Display` prints it.
#[derive(Clone, Debug)]
pub struct Dump {
    hubs: Vec<HubDump>,
}

/// One hub in a [`Dump`].
#[derive(Clone, Debug)]
struct HubDump {
    thread_name: Option<String>,
    thread_id: ThreadId,
    tid: i32,
    /// `None`: it did not answer within `ANSWER_WITHIN`.
    inside: Option<Inside>,
    /// For a hub that did not answer: whether it was waiting in its poll, and how
    /// long it had gone without a switch while the dump waited.
    polling: bool,
    no_switch_for: Duration,
}

/// What a hub said of itself.
#[derive(Clone, Debug)]
struct Inside {
    /// The id this hub's root goes by.
    root_id: crate::GreenletId,
    root: Wait,
    greenlets: Vec<(Facts, Wait)>,
    live: usize,
    timers: usize,
    io_waiters: usize,
    runnable: usize,
    longest_block: Duration,
}

#[derive(Clone, Debug)]
enum Wait {
    Running,
    Runnable,
    Parked {
        reason: &'static str,
        for_: Duration,
        trace: Option<String>,
    },
    Finished,
}

impl From<WaitView> for Wait {
    fn from(w: WaitView) -> Wait {
        match w {
            WaitView::Running => Wait::Running,
            WaitView::Runnable => Wait::Runnable,
            WaitView::Parked {
                reason,
                for_,
                trace,
            } => Wait::Parked {
                reason,
                for_,
                trace,
            },
        }
    }
}

/// Describes this thread's hub (on its thread).
fn inside_here() -> Inside {
    let hub = Hub::current();
    let mut greenlets = Vec::new();
    let root = hub.inspect(|v| greenlets.push((facts_of(v.task), Wait::from(v.wait))));
    for_each_finished(|f| greenlets.push((f, Wait::Finished)));
    greenlets.sort_by_key(|(f, _)| f.id);
    let c = hub.counts();
    Inside {
        root_id: crate::greenlet::root_id_here(),
        root: Wait::from(root),
        greenlets,
        live: c.live,
        timers: c.timers,
        io_waiters: c.io_waiters,
        runnable: c.runnable,
        longest_block: c.longest_block,
    }
}

/// Where one hub's answer goes.
struct Answer {
    inside: parking_lot::Mutex<Option<Inside>>,
    done: Event,
}

/// Takes a picture of every hub of the process. Each other hub describes itself when
/// it next looks at its inbox; a hub that does not within a second (a greenlet keeps
/// it busy) is listed as such. From a greenlet, the wait lets the rest of its hub run.
pub fn dump() -> Dump {
    struct Asked {
        hub: HubRef,
        thread_name: Option<String>,
        thread_id: ThreadId,
        tid: i32,
        resumes: u64,
        answer: Option<Arc<Answer>>,
    }
    let started = Instant::now();
    let mut asked: Vec<Asked> = registry::with_hubs(|hubs| {
        hubs.iter()
            .map(|h| Asked {
                hub: h.hub,
                thread_name: h.thread_name.clone(),
                thread_id: h.thread_id,
                tid: h.tid,
                resumes: h.pulse.resumes(),
                answer: None,
            })
            .collect()
    });
    for a in asked.iter_mut().filter(|a| !a.hub.is_current()) {
        let answer = Arc::new(Answer {
            inside: parking_lot::Mutex::new(None),
            done: Event::new(),
        });
        let there = answer.clone();
        let sent = a.hub.send(Box::new(move || {
            *there.inside.lock() = Some(inside_here());
            there.done.set();
        }));
        if sent.is_ok() {
            a.answer = Some(answer);
        }
    }
    // This hub first, while the others answer: its picture is of now, not of after
    // the wait for a busy one.
    let here = inside_here();
    let mut here = Some(here);
    let mut hubs = Vec::with_capacity(asked.len());
    for a in asked {
        let inside = if a.hub.is_current() {
            here.take()
        } else {
            a.answer.as_ref().and_then(|answer| {
                let left = ANSWER_WITHIN.saturating_sub(started.elapsed());
                answer.done.wait_timeout(left);
                answer.inside.lock().take()
            })
        };
        let (polling, no_switch_for) = if inside.is_none() {
            registry::with_hubs(|hs| {
                hs.iter()
                    .find(|h| h.hub == a.hub)
                    .map_or((false, Duration::ZERO), |h| {
                        let moved = h.pulse.resumes() != a.resumes;
                        let quiet = if moved {
                            Duration::ZERO
                        } else {
                            started.elapsed()
                        };
                        (h.pulse.polling(), quiet)
                    })
            })
        } else {
            (false, Duration::ZERO)
        };
        hubs.push(HubDump {
            thread_name: a.thread_name,
            thread_id: a.thread_id,
            tid: a.tid,
            inside,
            polling,
            no_switch_for,
        });
    }
    Dump { hubs }
}

impl Dump {
    /// How many hubs it lists.
    pub fn hubs(&self) -> usize {
        self.hubs.len()
    }

    /// How many greenlets it lists, over every hub that answered.
    pub fn greenlets(&self) -> usize {
        self.hubs
            .iter()
            .filter_map(|h| h.inside.as_ref())
            .map(|i| i.greenlets.len())
            .sum()
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "greenlet dump: {}",
            plural(self.hubs.len(), "hub", "hubs")
        )?;
        for h in &self.hubs {
            let thread = h.thread_name.as_deref().unwrap_or("<unnamed>");
            write!(
                f,
                "hub of thread '{thread}' ({:?}, tid {})",
                h.thread_id, h.tid
            )?;
            let Some(i) = &h.inside else {
                if h.polling {
                    writeln!(
                        f,
                        ": did not answer within {} s (waiting in its poll)",
                        ANSWER_WITHIN.as_secs()
                    )?;
                } else {
                    writeln!(
                        f,
                        ": did not answer within {} s: busy, no switch for {} ms (a greenlet, \
                         or its root, is not giving way; see greenlet::monitor)",
                        ANSWER_WITHIN.as_secs(),
                        ms(h.no_switch_for)
                    )?;
                }
                continue;
            };
            writeln!(
                f,
                ": {}, {}, {}, {} runnable, longest block {} ms",
                plural(i.live, "live greenlet", "live greenlets"),
                plural(i.timers, "timer", "timers"),
                plural(i.io_waiters, "IO waiter", "IO waiters"),
                i.runnable,
                ms(i.longest_block),
            )?;
            write!(f, "  root ({}): ", i.root_id)?;
            write_wait(f, &i.root, None)?;
            writeln!(f)?;
            for (facts, wait) in &i.greenlets {
                match &facts.name {
                    Some(n) => write!(f, "  greenlet '{n}' ({}): ", facts.id)?,
                    None => write!(f, "  greenlet {}: ", facts.id)?,
                }
                write_wait(f, wait, Some(facts))?;
                if facts.parent == i.root_id {
                    writeln!(f, "; spawned at {} by the root", facts.spawned_at)?;
                } else {
                    writeln!(f, "; spawned at {} by {}", facts.spawned_at, facts.parent)?;
                }
                if let Wait::Parked {
                    trace: Some(trace), ..
                } = wait
                {
                    for line in trace.lines() {
                        writeln!(f, "      {line}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn write_wait(f: &mut fmt::Formatter<'_>, w: &Wait, facts: Option<&Facts>) -> fmt::Result {
    use crate::greenlet::Lifecycle;
    match w {
        Wait::Running => f.write_str("running"),
        Wait::Runnable => match facts.map(|x| x.lifecycle) {
            Some(Lifecycle::New) => f.write_str("runnable (not started)"),
            Some(Lifecycle::Delayed) => f.write_str("waiting for its start (spawn_later)"),
            _ => f.write_str("runnable"),
        },
        Wait::Parked { reason, for_, .. } => write!(f, "parked on {reason} for {} ms", ms(*for_)),
        Wait::Finished => match facts.map(|x| x.lifecycle) {
            Some(Lifecycle::Cancelled) => f.write_str("killed before it started, not joined"),
            _ => f.write_str("finished, not joined"),
        },
    }
}
