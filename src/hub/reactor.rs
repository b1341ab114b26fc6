//! The reactor's driver half: the hub's table of IO registrations, the dispatch of
//! poll events to their waiters, and the orphans other threads leave behind. The
//! waiting half (parking on readiness, the IO combinator, sockets' registrations) is
//! built on it in `crate::io`.
//!
//! Each hub owns one [`Reactor`]. An fd is registered with the hub's mio `Poll` once,
//! edge-triggered, for both directions (and urgent data), the first time an operation
//! on it would block on that hub. The registration is a table entry holding the
//! wakers of the contexts waiting to read and, separately, to write. Its mio `Token`
//! carries the table index *and a generation*, so an event still queued for a
//! registration that has since been removed (and whose index or fd number has been
//! reused) finds a different generation and is dropped.
//!
//! *Architecture invariant:* an entry is removed (and the fd deregistered) before the
//! fd is closed, by the `Drop` of the owning type; waiters still on it wake and find
//! it gone.
//!
//! A socket dropped on another thread deregisters from this hub's epoll directly
//! (thread-safe) and leaves the entry on the orphan list, reaped at the next poll.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::waker::Waker;
use crate::sys::errno;

/// Which readiness an operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// Readiness hints: set when an edge is reported, cleared when a waiter observed
/// `WouldBlock` (it parks right after) or a stream read came back short (see
/// `io::Registration::do_stream_read`). A clear bit therefore means "not ready, and no
/// edge since"; a set bit means "maybe ready". New entries start with both set.
const READ_HINT: u8 = 1;
const WRITE_HINT: u8 = 2;
/// Sticky: the read side was reported closed, or in error. No further edge will
/// come, so a short read must not clear `READ_HINT` (the next read sees the EOF or
/// the error instead of parking). tokio keeps its closed bits the same way.
const CLOSED_HINT: u8 = 4;
/// Sticky: urgent (out-of-band) data was reported. A TCP read stops at the urgent
/// mark with data still queued, so a short read no longer means "drained".
const URGENT_HINT: u8 = 8;

fn hint_bit(dir: Direction) -> u8 {
    match dir {
        Direction::Read => READ_HINT,
        Direction::Write => WRITE_HINT,
    }
}

/// Table indexes use the low half of a token, generations the high half.
const INDEX_BITS: u32 = usize::BITS / 2;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
/// Generations wrap below this, so that no token is all ones (the hub's waker token).
const GEN_LIMIT: u32 = if INDEX_BITS >= 32 {
    u32::MAX
} else {
    (1 << INDEX_BITS) - 1
};

fn token_of(index: u32, generation: u32) -> Token {
    Token(((generation as usize) << INDEX_BITS) | index as usize)
}

fn split(token: Token) -> (usize, u32) {
    (token.0 & INDEX_MASK, (token.0 >> INDEX_BITS) as u32)
}

/// One registered fd.
struct Entry {
    /// The registered fd (epoll keys on it; `by_fd` maps it back here).
    fd: RawFd,
    /// `READ_HINT`, `WRITE_HINT`, `CLOSED_HINT`, `URGENT_HINT`.
    hints: u8,
    /// Holders: one per socket registration plus one per `wait_readable` in progress.
    refs: u32,
    /// Wakers of contexts waiting to read; all woken by a read edge (they retry).
    readers: Vec<Waker>,
    /// Wakers of contexts waiting to write.
    writers: Vec<Waker>,
}

impl Entry {
    fn waiters(&mut self, dir: Direction) -> &mut Vec<Waker> {
        match dir {
            Direction::Read => &mut self.readers,
            Direction::Write => &mut self.writers,
        }
    }
}

struct Slot {
    /// Bumped each time the slot is freed: in the token, it tells a stale event apart.
    generation: u32,
    /// The registration, `None` while the slot is free.
    entry: Option<Entry>,
}

/// The part of a reactor other threads may touch: the registry (epoll_ctl is
/// thread-safe) and the orphan list.
pub(crate) struct ReactorShared {
    /// A clone of the hub's mio registry: `epoll_ctl` from any thread.
    registry: Registry,
    /// Tokens of entries whose fd another thread deregistered and is closing; the
    /// hub frees them at its next dispatch.
    orphans: parking_lot::Mutex<Vec<Token>>,
    /// Set (Release) when `orphans` is non-empty; read by the hub without the lock.
    has_orphans: AtomicBool,
}

impl ReactorShared {
    /// From any thread: deregisters `fd` from this hub's poll now (the caller is
    /// about to close it) and leaves the entry to the hub to free.
    pub(crate) fn orphan(&self, fd: RawFd, token: Token) {
        // Fails only if the fd was already closed, which removed it anyway.
        let _ = self.registry.deregister(&mut SourceFd(&fd));
        self.orphans.lock().push(token);
        self.has_orphans.store(true, Ordering::Release);
    }
}

/// The hub's IO registrations. Only the hub's thread touches the cells, and no
/// borrow is held across a park or a wake.
pub(crate) struct Reactor {
    /// What other threads may touch; sockets keep a clone to deregister through.
    pub(crate) shared: Arc<ReactorShared>,
    /// The table: index = the low half of a token.
    slots: RefCell<Vec<Slot>>,
    /// Free table indexes (their generation already bumped).
    free: RefCell<Vec<u32>>,
    /// fd number -> table index + 1 (0: none), for `wait_readable` on a registered fd.
    by_fd: RefCell<Vec<u32>>,
    /// Waits parked on some entry's readiness now (live [`FdWaiter`]s): while there
    /// are any, the hub polls instead of reporting a deadlock.
    waiters: Cell<usize>,
    /// The wakes one dispatch collects, made after the table's borrow is released;
    /// kept between polls for its capacity.
    wakes: RefCell<Vec<Waker>>,
}

impl Reactor {
    pub(super) fn new(registry: &Registry) -> io::Result<Reactor> {
        Ok(Reactor {
            shared: Arc::new(ReactorShared {
                registry: registry.try_clone()?,
                orphans: parking_lot::Mutex::new(Vec::new()),
                has_orphans: AtomicBool::new(false),
            }),
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            by_fd: RefCell::new(Vec::new()),
            waiters: Cell::new(0),
            wakes: RefCell::new(Vec::new()),
        })
    }

    /// Parked IO waits now.
    #[inline]
    pub(super) fn waiters(&self) -> usize {
        self.waiters.get()
    }

    /// Wakes the waiters of every event's registration. Called by the hub after each
    /// poll, before any greenlet runs. The wakes are collected while the table is
    /// borrowed and made once it is not, so a wake can never reach into the table.
    pub(super) fn dispatch(&self, events: &mio::Events) {
        if self.shared.has_orphans.load(Ordering::Acquire) {
            self.reap_orphans();
        }
        let mut wakes = std::mem::take(&mut *self.wakes.borrow_mut());
        {
            let mut slots = self.slots.borrow_mut();
            for ev in events.iter() {
                let (index, generation) = split(ev.token());
                let Some(Slot {
                    generation: g,
                    entry: Some(entry),
                }) = slots.get_mut(index)
                else {
                    continue; // The hub's own waker, or a registration removed since.
                };
                if *g != generation {
                    continue;
                }
                let error = ev.is_error();
                if error || ev.is_read_closed() {
                    entry.hints |= CLOSED_HINT;
                }
                if ev.is_priority() {
                    entry.hints |= URGENT_HINT;
                }
                // Most edges wake nobody (EPOLLOUT after each ACK): skip empty lists.
                if error || ev.is_readable() || ev.is_read_closed() || ev.is_priority() {
                    entry.hints |= READ_HINT;
                    wakes.append(&mut entry.readers);
                }
                if error || ev.is_writable() || ev.is_write_closed() {
                    entry.hints |= WRITE_HINT;
                    wakes.append(&mut entry.writers);
                }
            }
        }
        for w in wakes.drain(..) {
            w.wake();
        }
        *self.wakes.borrow_mut() = wakes;
    }

    /// Whether a stream read should park before trying: its last read came back
    /// short (the socket was drained then) and no edge has come since.
    #[inline]
    pub(crate) fn read_drained(&self, token: Token) -> bool {
        self.get(token, |e| {
            e.hints & (READ_HINT | CLOSED_HINT | URGENT_HINT) == 0
        })
        .unwrap_or(false)
    }

    /// Records that a stream read came back short: the socket was drained at that
    /// moment, and any data after it brings a new edge (Linux reports an edge-triggered
    /// event for every arrival, not only on empty-to-ready).
    #[inline]
    pub(crate) fn mark_drained(&self, token: Token) {
        self.get(token, |e| {
            if e.hints & (CLOSED_HINT | URGENT_HINT) == 0 {
                e.hints &= !READ_HINT;
            }
        });
    }

    /// Whether `token`'s registration still exists.
    pub(crate) fn is_registered(&self, token: Token) -> bool {
        self.get(token, |_| ()).is_some()
    }

    /// Registers `waker` to be woken at `token`'s next edge in `dir` (or when the
    /// registration is closed), until the returned guard is dropped. Clears the
    /// direction's hint: the caller saw the fd not ready. `Err` if the registration
    /// is gone.
    pub(crate) fn add_waiter(
        &self,
        token: Token,
        dir: Direction,
        waker: Waker,
    ) -> Result<FdWaiter<'_>, ()> {
        let bit = hint_bit(dir);
        self.get(token, |e| {
            e.hints &= !bit;
            e.waiters(dir).push(waker);
        })
        .ok_or(())?;
        self.waiters.set(self.waiters.get() + 1);
        Ok(FdWaiter {
            reactor: self,
            token,
            dir,
            waker,
        })
    }

    fn get<R>(&self, token: Token, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let (index, generation) = split(token);
        let mut slots = self.slots.borrow_mut();
        match slots.get_mut(index) {
            Some(Slot {
                generation: g,
                entry: Some(e),
            }) if *g == generation => Some(f(e)),
            _ => None,
        }
    }

    fn by_fd(&self, fd: RawFd) -> Option<u32> {
        let by_fd = self.by_fd.borrow();
        match by_fd.get(usize::try_from(fd).ok()?) {
            Some(&i) if i != 0 => Some(i - 1),
            _ => None,
        }
    }

    fn set_by_fd(&self, fd: RawFd, index: Option<u32>) {
        let Ok(fd) = usize::try_from(fd) else { return };
        let mut by_fd = self.by_fd.borrow_mut();
        if by_fd.len() <= fd {
            if index.is_none() {
                return;
            }
            by_fd.resize(fd + 1, 0);
        }
        by_fd[fd] = index.map_or(0, |i| i + 1);
    }

    /// Registers `fd`, or takes another reference to its live registration. Returns
    /// the token and whether the fd may be ready (false only when a waiter saw it not
    /// ready and no edge came since). `EPERM` means epoll cannot watch this kind of
    /// fd (a regular file): it is always ready.
    pub(crate) fn acquire(&self, fd: RawFd, dir: Direction) -> io::Result<(Token, bool)> {
        let index = {
            let mut slots = self.slots.borrow_mut();
            let index = match self.free.borrow_mut().pop() {
                Some(i) => i,
                None => {
                    let i = u32::try_from(slots.len())
                        .ok()
                        .filter(|&i| (i as usize) < INDEX_MASK)
                        .ok_or_else(|| io::Error::other("greenlet: too many IO registrations"))?;
                    slots.push(Slot {
                        generation: 0,
                        entry: None,
                    });
                    i
                }
            };
            slots[index as usize].entry = Some(Entry {
                fd,
                hints: READ_HINT | WRITE_HINT,
                refs: 1,
                readers: Vec::new(),
                writers: Vec::new(),
            });
            index
        };
        let generation = self.slots.borrow()[index as usize].generation;
        let token = token_of(index, generation);
        // Priority too (EPOLLPRI): TCP urgent data must be seen (see `URGENT_HINT`).
        let interest = Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY;
        match self
            .shared
            .registry
            .register(&mut SourceFd(&fd), token, interest)
        {
            Ok(()) => {
                // A registration the table still has for this fd number is stale: its
                // fd was closed behind our back (the kernel forgot it) and reused.
                if let Some(old) = self.by_fd(fd) {
                    self.close_index(old, false);
                }
                self.set_by_fd(fd, Some(index));
                Ok((token, true))
            }
            Err(e) => {
                self.free_index(index);
                if e.raw_os_error() == Some(errno::EEXIST)
                    && let Some(old) = self.by_fd(fd)
                {
                    let generation = self.slots.borrow()[old as usize].generation;
                    let token = token_of(old, generation);
                    let bit = hint_bit(dir);
                    if let Some(hints) = self.get(token, |e| {
                        e.refs += 1;
                        e.hints & bit
                    }) {
                        return Ok((token, hints != 0));
                    }
                }
                Err(e)
            }
        }
    }

    /// Drops one reference; the last one deregisters the fd.
    pub(crate) fn release(&self, token: Token) {
        let last = self.get(token, |e| {
            e.refs -= 1;
            e.refs == 0
        });
        if last == Some(true) {
            self.close_index(split(token).0 as u32, true);
        }
    }

    /// Removes a registration whatever its references: its fd is about to be closed.
    /// Waiters wake and find it gone.
    pub(crate) fn close(&self, token: Token) {
        if self.is_registered(token) {
            self.close_index(split(token).0 as u32, true);
        }
    }

    /// Removes this hub's registration of `fd`, if any: the fd is about to be closed.
    pub(crate) fn close_fd(&self, fd: RawFd) {
        if let Some(index) = self.by_fd(fd) {
            self.close_index(index, true);
        }
    }

    fn close_index(&self, index: u32, deregister: bool) {
        let entry = self.slots.borrow_mut()[index as usize].entry.take();
        let Some(mut entry) = entry else { return };
        if deregister {
            // Fails only if the fd was already closed, which removed it anyway.
            let _ = self.shared.registry.deregister(&mut SourceFd(&entry.fd));
        }
        if self.by_fd(entry.fd) == Some(index) {
            self.set_by_fd(entry.fd, None);
        }
        self.free_index(index);
        // The entry is out of the table: these wakes cannot reach into it.
        entry.readers.drain(..).for_each(Waker::wake);
        entry.writers.drain(..).for_each(Waker::wake);
    }

    fn free_index(&self, index: u32) {
        let mut slots = self.slots.borrow_mut();
        let slot = &mut slots[index as usize];
        slot.entry = None;
        slot.generation = (slot.generation + 1) % GEN_LIMIT;
        self.free.borrow_mut().push(index);
    }

    #[cold]
    fn reap_orphans(&self) {
        let orphans = {
            let mut o = self.shared.orphans.lock();
            self.shared.has_orphans.store(false, Ordering::Release);
            std::mem::take(&mut *o)
        };
        for token in orphans {
            if self.is_registered(token) {
                // The other thread already deregistered it from epoll.
                self.close_index(split(token).0 as u32, false);
            }
        }
    }
}

/// A waker registered on an fd's readiness ([`Reactor::add_waiter`]); dropping it
/// removes the waker, however the wait ended.
pub(crate) struct FdWaiter<'a> {
    reactor: &'a Reactor,
    /// The entry it waits on, and in which of its lists.
    token: Token,
    dir: Direction,
    /// What it registered there (removed by value).
    waker: Waker,
}

impl Drop for FdWaiter<'_> {
    fn drop(&mut self) {
        let r = self.reactor;
        r.waiters.set(r.waiters.get() - 1);
        let (waker, dir) = (self.waker, self.dir);
        r.get(self.token, |e| {
            let list = e.waiters(dir);
            if let Some(i) = list.iter().position(|w| *w == waker) {
                list.swap_remove(i);
            }
        });
    }
}
