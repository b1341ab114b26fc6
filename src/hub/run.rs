//! The loop, and the two calls that enter it: `park` (block until woken) and
//! `yield_now`. The loop runs on the thread's own stack (the root), inside whatever
//! blocking call the root made. See `arch/hub.md`, "The loop".

use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::ctx::Ctx;
use super::timer::{TimerAction, TimerGuard};
use super::{HUB, Hub, ParkState, ROOT};

/// How many greenlets run between two looks at the clock, the inbox and the poller
/// while the run queue stays non-empty.
const BUDGET: u64 = 64;

/// How long maintenance may wait for something to happen.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PollMode {
    /// Not at all: take what is due, and go on running greenlets.
    NoWait,
    /// Until the next timer, IO event or remote wake, if nothing is runnable.
    UntilEvent,
}

/// What maintenance found about the future.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Progress {
    Possible,
    /// Nothing is runnable and nothing (timer, IO, other thread) can ever change that.
    Impossible,
}

/// When `run_loop` returns.
#[derive(Clone, Copy)]
enum Until {
    /// When the root's turn comes (its marker is popped).
    RootTurn,
    /// Also when the hub is idle but for this timer of the caller's.
    Idle(Option<super::timer::TimerKey>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Exit {
    RootTurn,
    Idle,
}

impl Hub {
    /// Blocks the running context until its current waker fires or it is
    /// interrupted. The caller re-checks its own condition only if it shares its
    /// waker with several sources.
    ///
    /// The greenlet path is inlined into the caller (fewer frames between the wait
    /// and the switch: see `yield_now`); the thread's own stack takes `park_root`.
    #[inline(always)]
    pub(crate) fn park(&self, reason: &'static str) {
        match self.current_task() {
            Some(task) => {
                let ctx = &task.ctx;
                if !ctx.interrupt_due() && ctx.state.get() != ParkState::Notified {
                    ctx.state.set(ParkState::Parked);
                    ctx.reason.set(reason);
                    ctx.parked_ms.set(self.coarse_ms.get());
                    if self.trace_parks {
                        self.record_park(task.slot(), ctx);
                    }
                    // SAFETY: `current_task` is the running task, and this runs on
                    // its stack.
                    unsafe { task.suspend() };
                }
                self.end_park(ctx, task.slot());
            }
            None => self.park_root(reason),
        }
    }

    #[cold]
    #[inline(never)]
    fn park_root(&self, reason: &'static str) {
        if self.current.get() == HUB {
            panic!(
                "greenlet: cannot block ({reason}) inside the hub's own machinery \
                 (for example a Drop that the hub runs, or a timer callback): \
                 nothing could switch back here"
            );
        }
        if self.shutting_down.get() {
            panic!("greenlet: cannot block ({reason}) while the thread's hub is shutting down");
        }
        let ctx = &self.root;
        if !ctx.interrupt_due() && ctx.state.get() != ParkState::Notified {
            ctx.state.set(ParkState::Parked);
            ctx.reason.set(reason);
            ctx.parked_ms.set(self.coarse_ms.get());
            if self.trace_parks {
                self.record_park(ROOT, ctx);
            }
            self.current.set(HUB);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.run_loop(Until::RootTurn);
            }));
            self.current.set(ROOT);
            if let Err(p) = r {
                // The root's marker must not outlive this park.
                self.runq.remove_root();
                self.end_park(ctx, ROOT);
                std::panic::resume_unwind(p);
            }
        }
        self.end_park(ctx, ROOT);
    }

    /// Moves the running greenlet to the back of the run queue, or, on the thread's
    /// own stack, runs every greenlet that is ready now.
    ///
    /// Inlined, like `park`'s greenlet path and `Task::suspend`, so that few call
    /// frames stand between the user's code and the stack switch: every frame there
    /// is a return the CPU mispredicts after the switch (the return stack buffer holds
    /// the other stack's addresses), which costs more than the rest of the switch.
    #[inline(always)]
    pub(crate) fn yield_now(&self) {
        match self.current_task() {
            Some(task) => {
                if !task.ctx.interrupt_due() {
                    // SAFETY: the running task is in the slab and not queued (it runs),
                    // and this runs on its stack.
                    unsafe {
                        self.runq.push(task);
                        task.suspend();
                    }
                }
                self.end_park(&task.ctx, task.slot());
            }
            None => self.yield_root(),
        }
    }

    #[cold]
    #[inline(never)]
    fn yield_root(&self) {
        if self.current.get() == HUB {
            panic!("greenlet: cannot yield inside the hub's own machinery");
        }
        if !self.root.interrupt_due() {
            self.current.set(HUB);
            let n = self.runq.len();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for _ in 0..n {
                    match self.runq.pop() {
                        Some(Some(task)) => self.run_one(task),
                        // The root is running, so no root marker is queued.
                        Some(None) => {}
                        None => break,
                    }
                }
                self.maintain(PollMode::NoWait);
            }));
            self.current.set(ROOT);
            if let Err(p) = r {
                std::panic::resume_unwind(p);
            }
        }
        self.end_park(&self.root, ROOT);
    }

    /// Ends a park: invalidates this wait's wakers and delivers a due interrupt.
    #[inline(always)]
    fn end_park(&self, ctx: &Ctx, slot: u32) {
        ctx.epoch.set(ctx.epoch.get().wrapping_add(1));
        ctx.state.set(ParkState::Running);
        if ctx.interrupt_due() {
            self.deliver(ctx, slot);
        }
    }

    /// Runs the loop from the root: until the root's turn comes (its marker is
    /// popped), or, for `wait()`, also until the hub is idle. A state from which
    /// nothing can progress panics with the deadlock report when the root waits
    /// for its turn, and counts as idle for `wait()`.
    fn run_loop(&self, until: Until) -> Exit {
        loop {
            loop {
                match self.runq.pop() {
                    None => break,
                    Some(None) => return Exit::RootTurn,
                    Some(Some(task)) => self.run_one(task),
                }
                // `run_one` counted the resume (`Pulse::resumes`).
                let resumes = self.pulse.resumes.load(Ordering::Relaxed);
                if resumes.wrapping_sub(self.maintained_at.get()) >= BUDGET {
                    self.maintain(PollMode::NoWait);
                }
            }
            if let Until::Idle(own_timer) = until
                && self.is_idle(own_timer)
            {
                return Exit::Idle;
            }
            if self.maintain(PollMode::UntilEvent) == Progress::Impossible {
                match until {
                    Until::RootTurn => self.deadlock(),
                    Until::Idle(_) => return Exit::Idle,
                }
            }
        }
    }

    /// Nothing runnable, no timer but `own_timer`, no IO, no remote wake to come.
    fn is_idle(&self, own_timer: Option<super::timer::TimerKey>) -> bool {
        let timers_idle = match own_timer {
            Some(k) => {
                let timers = self.timers.borrow();
                timers.len() == 1 && timers.contains_key(&k)
            }
            None => self.timers.borrow().is_empty(),
        };
        timers_idle
            && self.runq.is_empty()
            && self.reactor.waiters() == 0
            && self.shared.remote_guards.load(Ordering::Acquire) == 0
            && !self.shared.pending.load(Ordering::Acquire)
    }

    /// Fires due timers, takes remote wakes and polls IO. With `UntilEvent` and
    /// nothing ready, waits for the next deadline or event.
    fn maintain(&self, mode: PollMode) -> Progress {
        self.maintained_at
            .set(self.pulse.resumes.load(Ordering::Relaxed));
        let now = Instant::now();
        self.look(now);
        self.fire_timers(now);
        self.take_inbox();
        let ready = !self.runq.is_empty() || self.root.state.get() != ParkState::Parked;
        if mode == PollMode::UntilEvent && !ready {
            // About to wait with nothing to run: a good moment to give back the
            // memory of stacks and greenlet blocks a past burst left in the pools.
            if self.stacks.borrow().needs_trim() {
                self.stacks.borrow_mut().trim();
            }
            if self.blocks.needs_trim() {
                self.blocks.trim();
            }
        }
        let timeout = if ready || mode == PollMode::NoWait {
            Some(Duration::ZERO)
        } else {
            match self.next_deadline() {
                Some(d) => Some(d.saturating_duration_since(now)),
                None if self.nothing_can_wake() => return Progress::Impossible,
                None => None,
            }
        };
        if timeout == Some(Duration::ZERO) && self.reactor.waiters() == 0 {
            return Progress::Possible; // Nothing to poll; remote wakes were taken above.
        }
        let idle = timeout != Some(Duration::ZERO);
        let pulse = &self.pulse;
        if idle {
            pulse.polling.store(true, Ordering::Relaxed);
        }
        self.poll_io(timeout);
        self.shared.waiting_forever.store(false, Ordering::Relaxed);
        if idle {
            pulse.polling.store(false, Ordering::Relaxed);
            // Waiting is not blocking: the next stretch starts now.
            let now = Instant::now();
            self.last_look.set(now);
            self.coarse_ms.set(self.ms_since_born(now));
        }
        self.take_inbox();
        if idle {
            self.fire_timers(self.last_look.get());
        }
        Progress::Possible
    }

    /// Records a look at timers and IO at `now`: the coarse clock moves on, and the
    /// stretch of running since the last look may be the longest block so far.
    #[inline]
    fn look(&self, now: Instant) {
        let ran = now.saturating_duration_since(self.last_look.get());
        self.last_look.set(now);
        self.coarse_ms.set(self.ms_since_born(now));
        // u64 arithmetic (`as_micros` is u128): past 584,000 years it saturates.
        let us = ran
            .as_secs()
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(ran.subsec_micros()));
        let longest = &self.pulse.longest_block_us;
        if us > longest.load(Ordering::Relaxed) {
            longest.store(us, Ordering::Relaxed);
        }
    }

    /// `now` on the coarse clock (milliseconds since the hub was made; wraps after
    /// 49 days, which the dump's durations tolerate by wrapping too).
    #[inline]
    pub(super) fn ms_since_born(&self, now: Instant) -> u32 {
        let d = now.saturating_duration_since(self.born);
        (d.as_secs().wrapping_mul(1000) as u32).wrapping_add(d.subsec_millis())
    }

    fn poll_io(&self, timeout: Option<Duration>) {
        let mut events = self.events.borrow_mut();
        let res = self.poll.borrow_mut().poll(&mut events, timeout);
        match res {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            Err(e) => panic!("greenlet: the hub's poll failed: {e}"),
        }
        // The poll waker's wakes were queued in the inbox; the reactor skips its
        // token and wakes the waiters of every other event.
        self.reactor.dispatch(&events);
    }

    /// Delivers the wakes other threads left in the inbox, then runs the jobs they
    /// sent (in the hub's machinery: a job that blocks panics).
    fn take_inbox(&self) {
        if !self.shared.pending.load(Ordering::Acquire) {
            return;
        }
        let (wakes, jobs) = {
            let mut inbox = self.shared.inbox.lock();
            self.shared.pending.store(false, Ordering::Release);
            (
                std::mem::take(&mut inbox.wakes),
                std::mem::take(&mut inbox.jobs),
            )
        };
        for (slot, epoch) in wakes {
            self.notify(slot, epoch);
        }
        for job in jobs {
            job();
        }
    }

    /// Runs until there is nothing left to do (gevent's `wait()`), or until the
    /// deadline. Returns true if the hub went idle.
    pub(crate) fn run_idle(&'static self, deadline: Option<Instant>) -> bool {
        if self.current_task().is_some() {
            panic!("greenlet: wait() for an idle hub can only be called outside a greenlet");
        }
        if self.current.get() == HUB {
            panic!("greenlet: cannot wait inside the hub's own machinery");
        }
        let timer = deadline.map(|d| {
            let key = self.add_timer(
                d,
                TimerAction::Wake {
                    slot: ROOT,
                    epoch: self.root.epoch.get(),
                },
            );
            TimerGuard::new(self, key, Some(&self.root))
        });
        self.root.state.set(ParkState::Parked);
        self.root.reason.set("wait() for an idle hub");
        self.current.set(HUB);
        let own_timer = timer.as_ref().map(|t| t.key);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run_loop(Until::Idle(own_timer))
        }));
        self.current.set(ROOT);
        drop(timer);
        self.runq.remove_root();
        self.end_park(&self.root, ROOT);
        match r {
            Ok(exit) => exit == Exit::Idle,
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}
