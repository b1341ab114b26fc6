//! `TcpStream` and `TcpListener`.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::{ToSocketAddrs, each_addr};
use crate::io::{Direction, Registration};
use crate::sys::socket;

/// A green TCP connection: std's `TcpStream`, parking the greenlet instead of the
/// thread.
pub struct TcpStream {
    reg: Registration,
    inner: std::net::TcpStream,
}

/// A green TCP listening socket: std's `TcpListener`.
pub struct TcpListener {
    reg: Registration,
    inner: std::net::TcpListener,
}

super::socket_conversions!(TcpStream, std::net::TcpStream);
super::socket_conversions!(TcpListener, std::net::TcpListener);
super::socket_options!(TcpStream);
super::socket_options!(TcpListener);
super::stream_io!(TcpStream, short_read_drains);

// std's TCP sockets are `UnwindSafe` and `RefUnwindSafe` (they are an fd), so code
// that catches a panic around one (`catch_unwind(|| handle(&stream))`) compiles;
// ours must too. The auto traits miss it only because the registration keeps its
// per-hub tokens behind a lock: nothing done under that lock can unwind (a lookup
// and a push), and the rest is atomics, so no panic leaves a socket half-updated.
impl std::panic::UnwindSafe for TcpStream {}
impl std::panic::RefUnwindSafe for TcpStream {}
impl std::panic::UnwindSafe for TcpListener {}
impl std::panic::RefUnwindSafe for TcpListener {}

impl TcpStream {
    /// Opens a connection, trying each address in turn. Host names resolve on the
    /// thread pool; the connection itself waits on the hub.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(&addr, |a| TcpStream::connect_deadline(a, None))
    }

    /// Opens a connection to one address, failing with `TimedOut` after `timeout`.
    /// A zero timeout is an `InvalidInput` error, as in std.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_deadline(*addr, Instant::now().checked_add(timeout))
    }

    fn connect_deadline(addr: SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        // mio's connect creates a non-blocking socket and starts the handshake.
        let stream = TcpStream::from_nonblocking(mio::net::TcpStream::connect(addr)?.into());
        // Writable means the handshake ended; SO_ERROR says how.
        stream.reg.do_io_with(Direction::Write, deadline, || {
            if let Some(e) = stream.inner.take_error()? {
                return Err(e);
            }
            match stream.inner.peer_addr() {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) => Err(e),
            }
        })?;
        Ok(stream)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Shuts down the read half, the write half or both. A greenlet blocked reading
    /// this socket (through another handle) then sees end of file.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Reads without removing the data from the queue.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.reg.do_io(Direction::Read, || self.inner.peek(buf))
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    /// Reads `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.nodelay()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }
}

impl TcpListener {
    /// Binds a listening socket (with `SO_REUSEADDR`, like std), trying each address
    /// in turn. The accept queue is as deep as the system allows
    /// (`net.core.somaxconn`), so that a burst of connections waits for the accept
    /// loop instead of being dropped or reset.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(&addr, |a| {
            let l = mio::net::TcpListener::bind(a)?;
            socket::listen_deepest(l.as_raw_fd())?;
            Ok(TcpListener::from_nonblocking(l.into()))
        })
    }

    /// Binds a listening socket with `SO_REUSEPORT` (and `SO_REUSEADDR`) set before
    /// `bind`, trying each address in turn: several of them, one per hub, can listen
    /// on one address, and the kernel spreads new connections over them (by a hash
    /// of each connection's addresses). The others must bind the same concrete
    /// address: bind the first to port 0 if you like, then the rest to its
    /// `local_addr()`.
    pub fn bind_reuseport<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(&addr, |a| {
            let fd = socket::bind_reuseport(&a)?;
            Ok(TcpListener::from_nonblocking(std::net::TcpListener::from(
                fd,
            )))
        })
    }

    /// Waits for a connection. The new stream is green (non-blocking underneath).
    ///
    /// When the process is out of fds (`EMFILE`, `ENFILE`) or memory, the error is
    /// returned after a 10 ms pause, so that an accept loop which logs and retries
    /// does not spin, and resumes serving once fds are freed.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let fd = self.inner.as_raw_fd();
        match self.reg.do_io(Direction::Read, || socket::accept4(fd)) {
            Ok((fd, addr)) => {
                let inner = std::net::TcpStream::from(fd);
                Ok((TcpStream::from_nonblocking(inner), addr))
            }
            Err(e) => {
                if socket::is_resource_exhaustion(&e) && !self.reg.opts.nonblocking() {
                    crate::sleep(Duration::from_millis(10));
                }
                Err(e)
            }
        }
    }

    /// An endless iterator of `accept()` results.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }
}

/// The iterator of [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}
