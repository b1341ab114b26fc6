//! Green Unix-domain sockets, mirroring `std::os::unix::net`.

use std::io;
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::io::{Direction, Registration};

/// A green Unix-domain stream: std's `UnixStream`.
pub struct UnixStream {
    reg: Registration,
    inner: std::os::unix::net::UnixStream,
}

/// A green Unix-domain listening socket: std's `UnixListener`.
pub struct UnixListener {
    reg: Registration,
    inner: std::os::unix::net::UnixListener,
}

/// A green Unix-domain datagram socket: std's `UnixDatagram`.
pub struct UnixDatagram {
    reg: Registration,
    inner: std::os::unix::net::UnixDatagram,
}

crate::net::socket_conversions!(UnixStream, std::os::unix::net::UnixStream);
crate::net::socket_conversions!(UnixListener, std::os::unix::net::UnixListener);
crate::net::socket_conversions!(UnixDatagram, std::os::unix::net::UnixDatagram);
crate::net::socket_options!(UnixStream);
crate::net::socket_options!(UnixListener);
crate::net::socket_options!(UnixDatagram);
crate::net::stream_io!(UnixStream);
/// The address and shutdown methods of the connected kinds, forwarded to std's.
macro_rules! connected {
    ($t:ident) => {
        impl $t {
            /// The local address.
            pub fn local_addr(&self) -> io::Result<SocketAddr> {
                self.inner.local_addr()
            }

            /// The address of the connected peer.
            pub fn peer_addr(&self) -> io::Result<SocketAddr> {
                self.inner.peer_addr()
            }

            /// Shuts down the read half, the write half or both.
            pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
                self.inner.shutdown(how)
            }
        }
    };
}

connected!(UnixStream);
connected!(UnixDatagram);

impl UnixStream {
    /// Connects to the socket at `path`. If the listener's backlog is full, retries
    /// (sleeping 1 ms, then longer, up to 50 ms) instead of failing.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        UnixStream::connect_addr(&SocketAddr::from_pathname(path)?)
    }

    /// Connects to the socket at `addr`; see [`connect`](Self::connect).
    pub fn connect_addr(addr: &SocketAddr) -> io::Result<UnixStream> {
        let mut pause = Duration::from_millis(1);
        loop {
            match mio::net::UnixStream::connect_addr(addr) {
                Ok(s) => return Ok(UnixStream::from_nonblocking(s.into())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    crate::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A connected pair of sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        Ok((
            UnixStream::from_nonblocking(a),
            UnixStream::from_nonblocking(b),
        ))
    }
}

impl UnixListener {
    /// Binds a listening socket at `path`.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::nonblocking(std::os::unix::net::UnixListener::bind(path)?)
    }

    /// Binds a listening socket at `addr`.
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixListener> {
        UnixListener::nonblocking(std::os::unix::net::UnixListener::bind_addr(addr)?)
    }

    fn nonblocking(l: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        l.set_nonblocking(true)?;
        Ok(UnixListener::from_nonblocking(l))
    }

    /// Waits for a connection.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, addr) = self.reg.do_io(Direction::Read, || self.inner.accept())?;
        s.set_nonblocking(true)?;
        Ok((UnixStream::from_nonblocking(s), addr))
    }

    /// An endless iterator of `accept()` results.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// The iterator of [`UnixListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl UnixDatagram {
    /// A socket bound to `path`.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        Self::nonblocking(std::os::unix::net::UnixDatagram::bind(path)?)
    }

    /// A socket bound to `addr`.
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixDatagram> {
        Self::nonblocking(std::os::unix::net::UnixDatagram::bind_addr(addr)?)
    }

    /// A socket bound to no address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Self::nonblocking(std::os::unix::net::UnixDatagram::unbound()?)
    }

    /// A connected pair of sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
        Ok((Self::nonblocking(a)?, Self::nonblocking(b)?))
    }

    fn nonblocking(s: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        s.set_nonblocking(true)?;
        Ok(UnixDatagram::from_nonblocking(s))
    }

    /// Sets the default destination and the only accepted source.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.inner.connect(path)
    }

    /// Sets the default destination and the only accepted source.
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        self.inner.connect_addr(addr)
    }

    /// Sends to the connected address.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.reg.do_io(Direction::Write, || self.inner.send(buf))
    }

    /// Receives from the connected address.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.reg.do_io(Direction::Read, || self.inner.recv(buf))
    }

    /// Sends one datagram to the socket at `path`.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.reg
            .do_io(Direction::Write, || self.inner.send_to(buf, path))
    }

    /// Sends one datagram to `addr`.
    pub fn send_to_addr(&self, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
        self.reg
            .do_io(Direction::Write, || self.inner.send_to_addr(buf, addr))
    }

    /// Receives one datagram and its source address.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.reg
            .do_io(Direction::Read, || self.inner.recv_from(buf))
    }
}
