//! The blocking-hub monitor: one thread for the whole process watches every hub and
//! reports a hub whose running greenlet (or root) has gone longer than a threshold
//! without giving way. See `arch/hub.md`, "The monitor".
//!
//! A hub's only cost is the one store per switch its `Pulse` already counts. The
//! monitor samples each hub's resume count every quarter of the threshold: a count
//! that has not moved while the hub was not waiting in its poll, with greenlets alive
//! on it, is a block. Then it asks the blocked thread what it runs: a `SIGURG` sent to
//! that thread alone, whose handler copies the running greenlet's id, name and spawn
//! site (reads only, async-signal-safe) into the hub's `Probe`.

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use super::pulse::{NAME, Probe};
use super::registry::{self, HubInfo};
use super::{HUB_PTR, Hub};
use crate::sys;

/// One episode of a blocked hub, as the monitor saw it.
#[derive(Clone, Debug)]
pub(crate) struct RawBlock {
    pub(crate) thread_name: Option<String>,
    pub(crate) thread_id: ThreadId,
    pub(crate) tid: i32,
    /// The running greenlet's id, `None` for the thread's own stack, or if the thread
    /// did not answer the probe (`answered` false).
    pub(crate) greenlet: Option<u64>,
    pub(crate) name: Option<String>,
    pub(crate) spawned_at: Option<&'static Location<'static>>,
    pub(crate) answered: bool,
    /// How long the hub had gone without a switch when it was reported.
    pub(crate) blocked_for: Duration,
    pub(crate) threshold: Duration,
}

type Hook = Arc<dyn Fn(&RawBlock) + Send + Sync>;

struct Settings {
    threshold: Duration,
    hooks: Vec<Hook>,
    running: bool,
}

static SETTINGS: parking_lot::Mutex<Settings> = parking_lot::Mutex::new(Settings {
    threshold: Duration::from_millis(100),
    hooks: Vec::new(),
    running: false,
});

/// Starts the monitor (once per process) with `threshold`, or sets a new threshold.
pub(crate) fn start(threshold: Duration) {
    let threshold = threshold.max(Duration::from_millis(1));
    let mut settings = SETTINGS.lock();
    settings.threshold = threshold;
    if settings.running {
        return;
    }
    // SAFETY: `on_probe` reads a thread-local cell and memory its hub keeps alive
    // while a greenlet runs, and writes only atomics (its contract).
    unsafe { sys::signal::install_probe_handler(on_probe) };
    let spawned = std::thread::Builder::new()
        .name("greenlet-monitor".into())
        .stack_size(256 * 1024)
        .spawn(run);
    match spawned {
        Ok(_) => settings.running = true,
        Err(e) => eprintln!("greenlet: cannot start the blocking-hub monitor thread: {e}"),
    }
}

/// Adds a function called, on the monitor's thread, for each episode it reports.
pub(crate) fn on_block(f: Hook) {
    SETTINGS.lock().hooks.push(f);
}

/// Starts the monitor if `GREENLET_MONITOR` asks for it (`100ms`, `1s`, `500us`, or
/// a bare number of milliseconds). Checked once per process, at the first hub.
pub(super) fn start_from_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(value) = std::env::var("GREENLET_MONITOR") else {
            return;
        };
        match parse_duration(value.trim()) {
            Some(d) if !d.is_zero() => start(d),
            Some(_) => {}
            None => eprintln!(
                "greenlet: GREENLET_MONITOR={value:?} is not a duration (try 100ms, 1s, \
                 500us): the monitor is not started"
            ),
        }
    });
}

/// `100ms`, `1s`, `2.5s`, `500us`, or a bare number of milliseconds.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, "ms"),
    };
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "ms" => n / 1e3,
        "us" | "µs" => n / 1e6,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// What the monitor remembers of one hub between samples.
struct Track {
    key: (usize, u64),
    resumes: u64,
    since: Instant,
    reported: bool,
}

fn run() {
    let mut tracks: Vec<Track> = Vec::new();
    loop {
        let threshold = SETTINGS.lock().threshold;
        let period = (threshold / 4).clamp(Duration::from_millis(1), Duration::from_millis(50));
        std::thread::sleep(period);
        let now = Instant::now();
        let mut found = Vec::new();
        registry::with_hubs(|hubs| {
            tracks.retain(|t| hubs.iter().any(|h| key(h) == t.key));
            for h in hubs {
                let resumes = h.pulse.resumes();
                let i = match tracks.iter().position(|t| t.key == key(h)) {
                    Some(i) => i,
                    None => {
                        tracks.push(Track {
                            key: key(h),
                            resumes,
                            since: now,
                            reported: false,
                        });
                        continue;
                    }
                };
                let t = &mut tracks[i];
                // Waiting is not blocking; a switch ends an episode; a hub with no
                // greenlet starves nobody.
                if h.pulse.polling() || resumes != t.resumes || h.pulse.live() == 0 {
                    t.resumes = resumes;
                    t.since = now;
                    t.reported = false;
                    continue;
                }
                let blocked_for = now.saturating_duration_since(t.since);
                if t.reported || blocked_for < threshold {
                    continue;
                }
                t.reported = true;
                found.push(ask(h, blocked_for, threshold));
            }
        });
        if found.is_empty() {
            continue;
        }
        let hooks = SETTINGS.lock().hooks.clone();
        for block in &found {
            eprintln!("{}", describe(block));
            for hook in &hooks {
                hook(block);
            }
        }
    }
}

fn key(h: &HubInfo) -> (usize, u64) {
    h.hub.key()
}

/// Asks the blocked hub's thread what it runs; waits a little for the answer.
fn ask(h: &HubInfo, blocked_for: Duration, threshold: Duration) -> RawBlock {
    let probe = &h.pulse.probe;
    let question = probe.asked.load(Ordering::Relaxed) + 1;
    probe.asked.store(question, Ordering::Release);
    let mut answered = false;
    if sys::thread::signal_thread(h.tid, sys::signal::PROBE_SIGNAL) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(20) {
            if probe.answered.load(Ordering::Acquire) == question {
                answered = true;
                break;
            }
            std::thread::yield_now();
        }
    }
    let (mut greenlet, mut name, mut spawned_at) = (None, None, None);
    if answered {
        let id = probe.id.load(Ordering::Relaxed);
        if id != 0 {
            greenlet = Some(id);
            let len = usize::from(probe.name_len.load(Ordering::Relaxed)).min(NAME);
            if len > 0 {
                let bytes: Vec<u8> = probe.name[..len]
                    .iter()
                    .map(|b| b.load(Ordering::Relaxed))
                    .collect();
                name = Some(String::from_utf8_lossy(&bytes).into_owned());
            }
            let site = probe.site.load(Ordering::Relaxed);
            // SAFETY: the handler stores only `&'static Location`s, or null.
            spawned_at = unsafe { site.as_ref() };
        }
    }
    RawBlock {
        thread_name: h.thread_name.clone(),
        thread_id: h.thread_id,
        tid: h.tid,
        greenlet,
        name,
        spawned_at,
        answered,
        blocked_for,
        threshold,
    }
}

/// The report the monitor prints.
pub(crate) fn describe(b: &RawBlock) -> String {
    let thread = b.thread_name.as_deref().unwrap_or("<unnamed>");
    let who = match (b.answered, b.greenlet) {
        (false, _) => "a context that did not answer the monitor's probe".to_string(),
        (true, None) => "the thread's own stack (its root)".to_string(),
        (true, Some(id)) => {
            let site = b
                .spawned_at
                .map(|at| format!("spawned at {at}"))
                .unwrap_or_default();
            match (&b.name, site.is_empty()) {
                (Some(n), true) => format!("greenlet '{n}' (#{id})"),
                (Some(n), false) => format!("greenlet '{n}' (#{id}, {site})"),
                (None, true) => format!("greenlet #{id}"),
                (None, false) => format!("greenlet #{id} ({site})"),
            }
        }
    };
    let tid = if b.tid != 0 {
        format!(" (tid {})", b.tid)
    } else {
        String::new()
    };
    format!(
        "greenlet monitor: the hub of thread '{thread}'{tid} has been kept by {who} for {} \
         ms without giving way (threshold {} ms): other greenlets of that hub are not running",
        b.blocked_for.as_millis(),
        b.threshold.as_millis(),
    )
}

/// The probe's handler, on the blocked thread: copies what runs into its hub's
/// `Probe`. Only reads (a thread-local cell, the running greenlet's header) and
/// atomic stores: async-signal-safe.
fn on_probe() {
    let p = HUB_PTR.try_with(|c| c.get()).unwrap_or(std::ptr::null());
    // SAFETY: a non-null pointer is this thread's live hub (see `Hub::try_current`).
    let Some(hub) = (unsafe { p.as_ref() }) else {
        return;
    };
    answer(hub, &hub.pulse.probe);
}

fn answer(_hub: &Hub, probe: &Probe) {
    let question = probe.asked.load(Ordering::Acquire);
    let (mut id, mut site, mut len) = (0u64, std::ptr::null_mut(), 0usize);
    crate::overflow::with_running(&mut |r| {
        id = r.id;
        site = (r.spawned_at as *const Location<'static>).cast_mut();
        if let Some(name) = r.name {
            let bytes = name.as_bytes();
            len = bytes.len().min(NAME);
            for (slot, b) in probe.name.iter().zip(&bytes[..len]) {
                slot.store(*b, Ordering::Relaxed);
            }
        }
    });
    probe.id.store(id, Ordering::Relaxed);
    probe.site.store(site, Ordering::Relaxed);
    probe.name_len.store(len as u8, Ordering::Relaxed);
    probe.answered.store(question, Ordering::Release);
}
