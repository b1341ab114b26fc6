//! gevent's `StreamServer`: a TCP server that runs a handler in a greenlet per
//! connection, on one hub or several, with a bound on connections per hub and a
//! graceful stop.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use greenlet::server::StreamServer;
//!
//! let server = StreamServer::bind("127.0.0.1:0")
//!     .unwrap()
//!     .hubs(2)
//!     .serve(|mut conn, _peer| {
//!         let mut buf = [0; 1024];
//!         while let Ok(n) = conn.read(&mut buf) {
//!             if n == 0 || conn.write_all(&buf[..n]).is_err() {
//!                 break;
//!             }
//!         }
//!     })
//!     .unwrap();
//! let mut client = greenlet::net::TcpStream::connect(server.local_addr()).unwrap();
//! client.write_all(b"ping").unwrap();
//! let mut got = [0; 4];
//! client.read_exact(&mut got).unwrap();
//! assert_eq!(&got, b"ping");
//! drop(client);
//! server.stop(Duration::from_secs(1));
//! let report = server.join();
//! assert_eq!(report.served, 1);
//! ```
//!
//! Each hub has a listener of its own on the same address (`SO_REUSEPORT`), and the
//! kernel spreads new connections over them by a hash of each connection's
//! addresses, so connections never cross hubs (see `arch/io.md`, "StreamServer").

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::hubs::{Hubs, RemoteGreenlet, RunningHubs};
use crate::net::{TcpListener, TcpStream, ToSocketAddrs};
use crate::pool::Group;
use crate::sync::{Event, Semaphore};
use crate::{GreenletExit, spawn};

/// A TCP server that runs `handler(stream, peer)` in a greenlet per connection.
#[derive(Debug)]
pub struct StreamServer {
    /// The first hub's listener, bound at once so that `bind` reports errors and a
    /// port 0 is resolved.
    first: TcpListener,
    addr: SocketAddr,
    hubs: usize,
    max_connections: Option<usize>,
}

impl StreamServer {
    /// Binds the address (with `SO_REUSEPORT`, so that each hub can bind it too);
    /// nothing is accepted before [`serve`](StreamServer::serve).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<StreamServer> {
        let first = TcpListener::bind_reuseport(addr)?;
        let addr = first.local_addr()?;
        Ok(StreamServer {
            first,
            addr,
            hubs: 1,
            max_connections: None,
        })
    }

    /// Serves on `n` hubs, each on a thread of its own (default 1; 0: one per CPU).
    pub fn hubs(mut self, n: usize) -> StreamServer {
        self.hubs = Hubs::new(n).len();
        self
    }

    /// At most `n` connections handled at once on each hub (at least 1): while a
    /// hub is full, its next accept waits; connections wait in the kernel's backlog,
    /// none is refused or lost.
    pub fn max_connections(mut self, n: usize) -> StreamServer {
        self.max_connections = Some(n.max(1));
        self
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts serving: binds the other hubs' listeners, starts the hubs, and
    /// returns. A panic in the handler is reported (by the panic hook, naming the
    /// greenlet) and counted; the server goes on.
    ///
    /// # Errors
    /// When a hub's listener cannot be bound.
    pub fn serve<H>(self, handler: H) -> io::Result<ServerHandle>
    where
        H: Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
    {
        let mut listeners = vec![Some(self.first)];
        for _ in 1..self.hubs {
            listeners.push(Some(TcpListener::bind_reuseport(self.addr)?));
        }
        let shared = Arc::new(Shared {
            stop: Event::new(),
            grace_nanos: AtomicU64::new(0),
            accepting: AtomicUsize::new(self.hubs),
            accept_stopped: Event::new(),
            signal_waiters: parking_lot::Mutex::new(Vec::new()),
        });
        let listeners = parking_lot::Mutex::new(listeners);
        let handler = Arc::new(handler);
        let max = self.max_connections;
        let s = shared.clone();
        let hubs = Hubs::new(self.hubs).name("server").start(move |i| {
            let listener = listeners.lock()[i]
                .take()
                .expect("each hub takes its own listener once");
            let report = serve_hub(listener, handler.clone(), max, &s);
            if i == 0 {
                // They wait on hub 0 for signals that may never come: they go now,
                // so that the hub can end (one of them may be the caller of `stop`).
                for waiter in std::mem::take(&mut *s.signal_waiters.lock()) {
                    waiter.kill_nowait();
                }
            }
            report
        });
        Ok(ServerHandle {
            addr: self.addr,
            shared,
            hubs,
        })
    }
}

/// What the hubs and the handle share.
struct Shared {
    /// Set by `stop`: every hub's root wakes and stops its accept loop.
    stop: Event,
    /// The grace period `stop` was given.
    grace_nanos: AtomicU64,
    /// Hubs still accepting.
    accepting: AtomicUsize,
    /// Set once no hub accepts any more.
    accept_stopped: Event,
    /// Greenlets on hub 0 waiting for signals to stop the server (`stop_on_signals`).
    signal_waiters: parking_lot::Mutex<Vec<RemoteGreenlet<()>>>,
}

impl Shared {
    fn stop(&self, grace: Duration) {
        if !self.stop.is_set() {
            let nanos = u64::try_from(grace.as_nanos()).unwrap_or(u64::MAX);
            self.grace_nanos.store(nanos, Ordering::Release);
            self.stop.set();
        }
        self.accept_stopped.wait();
    }
}

/// What one hub did.
#[derive(Clone, Copy, Debug, Default)]
struct HubReport {
    served: u64,
    killed_at_stop: u64,
    handler_panics: u64,
}

/// Hub `i`'s root: the accept loop in a greenlet, the root waiting for the stop.
fn serve_hub<H>(
    listener: TcpListener,
    handler: Arc<H>,
    max: Option<usize>,
    shared: &Shared,
) -> HubReport
where
    H: Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
{
    let group = Rc::new(Group::new());
    let served = Rc::new(Cell::new(0u64));
    let panics = Rc::new(Cell::new(0u64));
    let permits = max.map(|n| Rc::new(Semaphore::new(n)));
    let (g, s, p) = (group.clone(), served.clone(), panics.clone());
    let acceptor = spawn(move || {
        loop {
            let permit = permits.as_ref().map(|sem| {
                sem.acquire().forget();
                sem.clone()
            });
            let (conn, peer) = match listener.accept() {
                Ok(c) => c,
                Err(e) => {
                    if let Some(sem) = permit {
                        sem.release();
                    }
                    // A connection reset before it was accepted is the client's; out
                    // of fds, `accept` paused already; anything else pauses here, so
                    // that a broken listener cannot spin the hub.
                    if e.kind() != io::ErrorKind::ConnectionAborted {
                        crate::sleep(Duration::from_millis(10));
                    }
                    continue;
                }
            };
            s.set(s.get() + 1);
            let (handler, panics) = (handler.clone(), p.clone());
            g.spawn(move || {
                let _permit = permit.map(Release);
                if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| handler(conn, peer)))
                {
                    if payload.is::<GreenletExit>() {
                        panic::resume_unwind(payload); // killed at stop
                    }
                    panics.set(panics.get() + 1);
                }
            });
        }
    });
    shared.stop.wait();
    // Stop accepting: the acceptor unwinds out of its accept, and its listener closes.
    acceptor.kill();
    if shared.accepting.fetch_sub(1, Ordering::AcqRel) == 1 {
        shared.accept_stopped.set();
    }
    let grace = Duration::from_nanos(shared.grace_nanos.load(Ordering::Acquire));
    let mut killed = 0;
    if !group.join_timeout(grace) {
        killed = group.len() as u64;
        group.kill();
    }
    HubReport {
        served: served.get(),
        killed_at_stop: killed,
        handler_panics: panics.get(),
    }
}

/// Gives a connection's permit back when its handler ends, however it ends.
struct Release(Rc<Semaphore>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A running [`StreamServer`]: `Send` and `Sync`, so any thread (or a signal
/// handler greenlet) can stop it.
pub struct ServerHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    hubs: RunningHubs<HubReport>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting now: when this returns, no hub accepts another connection.
    /// Handlers still running get `grace` to finish; those running after it are
    /// killed (their `Drop`s run). [`join`](ServerHandle::join) waits for all that.
    /// A second call waits for the first one's accept stop and changes nothing.
    pub fn stop(&self, grace: Duration) {
        self.shared.stop(grace);
    }

    /// Stops the server, as [`stop`](ServerHandle::stop) with `grace`, when the
    /// process gets one of `signals` (`SIGTERM`, `SIGINT`...): the signals are caught
    /// from now on (their previous disposition comes back when the server has
    /// stopped), and the wait is a greenlet on the server's first hub.
    ///
    /// # Errors
    /// A signal that cannot be caught, as [`signal::listen_any`](crate::signal::listen_any) says.
    pub fn stop_on_signals(&self, signals: &[i32], grace: Duration) -> io::Result<()> {
        let mut listener = crate::signal::listen_any(signals)?;
        let shared = self.shared.clone();
        // Under the lock hub 0 takes the waiters with, once the server has stopped:
        // a waiter is either taken (and killed) or never spawned.
        let mut waiters = self.shared.signal_waiters.lock();
        if !self.shared.stop.is_set() {
            waiters.push(self.hubs.handles()[0].spawn(move || {
                listener.recv();
                shared.stop(grace);
            }));
        }
        Ok(())
    }

    /// Whether `stop` has been called.
    pub fn is_stopping(&self) -> bool {
        self.shared.stop.is_set()
    }

    /// Waits until every hub has stopped (after [`stop`](ServerHandle::stop)) and
    /// reports what they did.
    pub fn join(self) -> ServeReport {
        let mut report = ServeReport::default();
        for r in self.hubs.join() {
            match r {
                Ok(h) => {
                    report.served += h.served;
                    report.killed_at_stop += h.killed_at_stop;
                    report.handler_panics += h.handler_panics;
                    report.per_hub.push(h.served);
                }
                Err(e) => {
                    // The root of a hub is the library's own code: a panic there is a bug.
                    panic!("greenlet: a StreamServer hub failed: {e}")
                }
            }
        }
        report
    }
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .field("stopping", &self.is_stopping())
            .finish_non_exhaustive()
    }
}

/// What a server did, from [`ServerHandle::join`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServeReport {
    /// Connections accepted (and handed to a handler).
    pub served: u64,
    /// Handlers still running when the grace period ended, killed.
    pub killed_at_stop: u64,
    /// Handlers that panicked.
    pub handler_panics: u64,
    /// Connections accepted by each hub, hub `i` at index `i`.
    pub per_hub: Vec<u64>,
}
