//! The registrations sockets own: per-socket options, the lazily made registration
//! with each hub that waited on the socket, and the IO combinator (`do_io` and
//! `do_stream_read`) every socket operation goes through. See `arch/io.md`.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mio::Token;
use mio::unix::SourceFd;

use super::{Direction, ReactorShared, wait};
use crate::hub::Hub;

/// Per-socket options shared by its `try_clone`s, as std shares them (they live on
/// the socket or its open file description there).
#[derive(Debug, Default)]
pub(crate) struct Opts {
    /// Nanoseconds; 0 means none.
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
    /// std's `set_nonblocking(true)`: return `WouldBlock` instead of parking.
    nonblocking: AtomicBool,
    /// Whether this one is counted in `CUSTOMIZED`.
    counted: AtomicBool,
}

/// How many live `Opts` have ever been given a timeout or non-blocking mode. While
/// it is 0 (the usual case) the combinator does not read any socket's `Opts`: they
/// are a separate allocation, a cache miss on every wait of a busy server.
static CUSTOMIZED: AtomicUsize = AtomicUsize::new(0);

impl Drop for Opts {
    fn drop(&mut self) {
        if *self.counted.get_mut() {
            CUSTOMIZED.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Opts {
    /// Counts this socket in `CUSTOMIZED`, once, before its first non-default
    /// option is stored (so that the combinator cannot skip a stored option).
    fn customize(&self) {
        if !self.counted.load(Ordering::Relaxed) && !self.counted.swap(true, Ordering::AcqRel) {
            CUSTOMIZED.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Whether some live socket may have a non-default option.
    #[inline]
    fn any_customized() -> bool {
        CUSTOMIZED.load(Ordering::Relaxed) != 0
    }

    pub(crate) fn set_timeout(&self, dir: Direction, t: Option<Duration>) -> io::Result<()> {
        let nanos = match t {
            Some(d) if d.is_zero() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot set a 0 duration timeout",
                ));
            }
            Some(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            None => 0,
        };
        if nanos != 0 {
            self.customize();
        }
        self.slot(dir).store(nanos, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn timeout(&self, dir: Direction) -> Option<Duration> {
        match self.slot(dir).load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    fn slot(&self, dir: Direction) -> &AtomicU64 {
        match dir {
            Direction::Read => &self.read_timeout,
            Direction::Write => &self.write_timeout,
        }
    }

    pub(crate) fn nonblocking(&self) -> bool {
        self.nonblocking.load(Ordering::Relaxed)
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) {
        if nonblocking {
            self.customize();
        }
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
    }
}

struct Reg {
    shared: Arc<ReactorShared>,
    token: Token,
}

/// A socket's registrations, one per hub that waited on it (normally one). The
/// owning type declares it before the object owning the fd, so that it is dropped,
/// and the fd deregistered, first.
pub(crate) struct Registration {
    fd: RawFd,
    /// The first hub that registered the fd (its `ReactorShared` address, 0 for
    /// none) and its token: the lock-free fast path of `token`. Set once, under the
    /// `regs` lock; the `Arc` in `regs` keeps the address from being reused.
    home: AtomicUsize,
    home_token: AtomicUsize,
    regs: parking_lot::Mutex<Vec<Reg>>,
    pub(crate) opts: Arc<Opts>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("fd", &self.fd)
            .finish()
    }
}

impl Registration {
    /// For an fd already in non-blocking mode. Nothing is registered until an
    /// operation would block.
    pub(crate) fn new(fd: &impl AsRawFd, opts: Arc<Opts>) -> Registration {
        Registration {
            fd: fd.as_raw_fd(),
            home: AtomicUsize::new(0),
            home_token: AtomicUsize::new(0),
            regs: parking_lot::Mutex::new(Vec::new()),
            opts,
        }
    }

    /// The combinator, with the socket's own timeout for `dir` (expiry gives
    /// `WouldBlock`, as std's `SO_RCVTIMEO`/`SO_SNDTIMEO` do on Unix).
    #[inline]
    pub(crate) fn do_io<R>(
        &self,
        dir: Direction,
        op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        self.do_io_with(dir, None, op)
    }

    /// The combinator: `op` is one non-blocking syscall. `deadline` overrides the
    /// socket's timeout; on expiry the error is `TimedOut`.
    #[inline]
    pub(crate) fn do_io_with<R>(
        &self,
        dir: Direction,
        deadline: Option<Instant>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
        if Opts::any_customized() && self.opts.nonblocking() && deadline.is_none() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.io_slow(dir, deadline, &mut op)
    }

    /// `do_io` for reads, in the shape `stream_io!` calls (the length is unused).
    #[inline]
    pub(crate) fn do_io_read(
        &self,
        _len: usize,
        op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.do_io(Direction::Read, op)
    }

    /// `do_io` for reads of a TCP stream, which also skips the syscall that would
    /// only say `WouldBlock`: a read that fills less than its buffer drained the
    /// socket, so the next read parks first (what tokio does). On an echo or
    /// request/response connection that is one syscall of three saved per round
    /// trip. Only where a short read means drained: TCP (not Unix streams, whose
    /// reads stop early between writers with different credentials), not after
    /// urgent data, not once the read side is closed; and never in non-blocking mode,
    /// where the caller gets the kernel's answer at once.
    #[inline]
    pub(crate) fn do_stream_read(
        &self,
        len: usize,
        mut op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        let hub = Hub::try_current();
        let r = if let Some(hub) = hub
            && let Some(token) = self.home_token(hub)
            && hub.reactor.read_drained(token)
            && !(Opts::any_customized() && self.opts.nonblocking())
        {
            self.io_slow(Direction::Read, None, &mut op)
        } else {
            self.do_io(Direction::Read, &mut op)
        };
        // Whichever way it went, a short read drained the socket again. The token
        // again: the read may have registered the fd just now.
        if let Ok(n) = r
            && n > 0
            && n < len
            && let Some(hub) = hub
            && let Some(token) = self.home_token(hub)
        {
            hub.reactor.mark_drained(token);
        }
        r
    }

    fn io_slow<R>(
        &self,
        dir: Direction,
        deadline: Option<Instant>,
        op: &mut dyn FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        let (deadline, timeout_error): (_, fn() -> io::Error) = match deadline {
            Some(d) => (Some(d), || io::ErrorKind::TimedOut.into()),
            None => (
                Opts::any_customized()
                    .then(|| self.opts.timeout(dir))
                    .flatten()
                    .and_then(|t| Instant::now().checked_add(t)),
                || io::Error::from_raw_os_error(libc::EAGAIN),
            ),
        };
        let hub = Hub::current();
        let token = self.token(hub)?;
        let reason = match dir {
            Direction::Read => "IO (waiting to read)",
            Direction::Write => "IO (waiting to write)",
        };
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(timeout_error());
            }
            wait(hub, token, dir, deadline, reason)?;
            loop {
                match op() {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => return r,
                }
            }
        }
    }

    /// This hub's token for the fd if this hub registered it first (the usual case),
    /// without registering anything.
    #[inline]
    fn home_token(&self, hub: &Hub) -> Option<Token> {
        let me = Arc::as_ptr(&hub.reactor.shared) as usize;
        (self.home.load(Ordering::Acquire) == me)
            .then(|| Token(self.home_token.load(Ordering::Relaxed)))
    }

    /// This hub's token for the fd, registering it on first use.
    #[inline]
    fn token(&self, hub: &Hub) -> io::Result<Token> {
        match self.home_token(hub) {
            Some(token) => Ok(token),
            None => self.token_slow(hub),
        }
    }

    #[cold]
    fn token_slow(&self, hub: &Hub) -> io::Result<Token> {
        let me = Arc::as_ptr(&hub.reactor.shared) as usize;
        let mut regs = self.regs.lock();
        if let Some(r) = regs
            .iter()
            .find(|r| Arc::ptr_eq(&r.shared, &hub.reactor.shared))
        {
            return Ok(r.token);
        }
        let (token, _) = hub.reactor.acquire(self.fd, Direction::Read)?;
        regs.push(Reg {
            shared: hub.reactor.shared.clone(),
            token,
        });
        if self.home.load(Ordering::Relaxed) == 0 {
            self.home_token.store(token.0, Ordering::Relaxed);
            self.home.store(me, Ordering::Release);
        }
        Ok(token)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let regs = std::mem::take(self.regs.get_mut());
        let hub = Hub::try_current();
        if let Some(hub) = hub {
            // Whether or not this socket registered itself here, a `wait_readable` on
            // its fd may be in progress: it must wake now, not hang on a closed fd.
            hub.reactor.close_fd(self.fd);
        }
        for reg in regs {
            match hub {
                Some(hub) if Arc::ptr_eq(&reg.shared, &hub.reactor.shared) => {
                    hub.reactor.close(reg.token)
                }
                _ => {
                    // Another thread's hub: deregister through its registry now (the fd
                    // closes right after us) and let that hub free the entry.
                    let _ = reg.shared.registry.deregister(&mut SourceFd(&self.fd));
                    reg.shared.orphans.lock().push(reg.token);
                    reg.shared.has_orphans.store(true, Ordering::Release);
                }
            }
        }
    }
}
