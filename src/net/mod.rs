//! Green TCP and UDP sockets, shaped like `std::net`.
//!
//! Porting a `std::net` program is an import change: the types have std's method
//! names, signatures and error kinds, and `Read`/`Write` are implemented for `T` and
//! `&T`. Where std's call would block the thread, ours parks the calling greenlet
//! (or, outside a greenlet, runs the thread's hub until the socket is ready).
//!
//! ```
//! use std::io::{Read, Write};
//! use greenlet::net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = greenlet::spawn(move || {
//!     let (mut conn, _) = listener.accept().unwrap();
//!     let mut buf = [0; 5];
//!     conn.read_exact(&mut buf).unwrap();
//!     conn.write_all(&buf).unwrap();
//! });
//! let mut client = TcpStream::connect(addr).unwrap();
//! client.write_all(b"hello").unwrap();
//! let mut echo = String::new();
//! client.read_to_string(&mut echo).unwrap();
//! assert_eq!(echo, "hello");
//! server.join().unwrap();
//! ```
//!
//! Sockets are always in non-blocking mode underneath. `set_nonblocking(true)` has
//! std's meaning (operations return `WouldBlock` instead of waiting), and read and
//! write timeouts expire with `WouldBlock`, as std's do on Unix. Writes never raise
//! `SIGPIPE`. Host names are resolved on the [thread pool](crate::threadpool),
//! never on the hub; numeric addresses are parsed in place.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

mod tcp;
mod udp;

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;

/// std's `ToSocketAddrs`, resolving host names on the thread pool instead of
/// blocking the hub. Implemented for the same types as std's.
pub trait ToSocketAddrs {
    /// The socket addresses this value stands for, in resolver order.
    fn to_socket_addrs(&self) -> io::Result<std::vec::IntoIter<SocketAddr>>;
}

fn one(addr: SocketAddr) -> io::Result<std::vec::IntoIter<SocketAddr>> {
    Ok(vec![addr].into_iter())
}

macro_rules! direct {
    ($($t:ty),*) => {$(
        impl ToSocketAddrs for $t {
            fn to_socket_addrs(&self) -> io::Result<std::vec::IntoIter<SocketAddr>> {
                one(SocketAddr::from(*self))
            }
        }
    )*};
}

direct!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for (&str, u16) {
    fn to_socket_addrs(&self) -> io::Result<std::vec::IntoIter<SocketAddr>> {
        let (host, port) = *self;
        if let Ok(ip) = host.parse::<IpAddr>() {
            return one(SocketAddr::new(ip, port));
        }
        resolve(host.to_owned(), port)
    }
}

impl ToSocketAddrs for (String, u16) {
    fn to_socket_addrs(&self) -> io::Result<std::vec::IntoIter<SocketAddr>> {
        (self.0.as_str(), self.1).to_socket_addrs()
    }
}

impl ToSocketAddrs for str {
    fn to_socket_addrs(&self) -> io::Result<std::vec::IntoIter<SocketAddr>> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return one(addr);
        }
        let invalid = |msg| io::Error::new(io::ErrorKind::InvalidInput, msg);
        let (host, port) = self
            .rsplit_once(':')
            .ok_or_else(|| invalid("invalid socket address"))?;
        let port: u16 = port.parse().map_err(|_| invalid("invalid port value"))?;
        (host, port).to_socket_addrs()
    }
}

impl ToSocketAddrs for String {
    fn to_socket_addrs(&self) -> io::Result<std::vec::IntoIter<SocketAddr>> {
        self.as_str().to_socket_addrs()
    }
}

impl ToSocketAddrs for [SocketAddr] {
    fn to_socket_addrs(&self) -> io::Result<std::vec::IntoIter<SocketAddr>> {
        let addrs: Vec<SocketAddr> = self.to_vec();
        Ok(addrs.into_iter())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_socket_addrs(&self) -> io::Result<std::vec::IntoIter<SocketAddr>> {
        (**self).to_socket_addrs()
    }
}

/// Resolves a host name with the system resolver on the thread pool.
fn resolve(host: String, port: u16) -> io::Result<std::vec::IntoIter<SocketAddr>> {
    crate::threadpool::apply(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
            .map(|addrs| addrs.collect::<Vec<_>>().into_iter())
    })
}

/// Runs `f` on each address in turn, returning the first success or the last error
/// (std's behaviour for `bind` and `connect`).
pub(crate) fn each_addr<A: ToSocketAddrs + ?Sized, T>(
    addr: &A,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// Implements the fd and std conversions for a socket type with fields `reg`
/// (declared first) and `inner` (the std type owning the fd).
macro_rules! socket_conversions {
    ($t:ident, $std:ty) => {
        impl $t {
            /// Wraps a std socket that is already in non-blocking mode.
            pub(crate) fn from_nonblocking(inner: $std) -> $t {
                $t {
                    reg: $crate::io::Registration::new(&inner, Default::default()),
                    inner,
                }
            }

            fn into_inner(self) -> $std {
                let $t { reg, inner } = self;
                drop(reg); // Deregisters before the fd leaves our hands.
                inner
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.inner.fmt(f)
            }
        }

        /// Puts the socket in non-blocking mode (std's blocking semantics are kept).
        impl From<$std> for $t {
            fn from(s: $std) -> $t {
                let _ = $crate::sys::fd::set_nonblocking(std::os::fd::AsRawFd::as_raw_fd(&s));
                $t::from_nonblocking(s)
            }
        }

        /// The std socket is left in non-blocking mode; call its `set_nonblocking(false)`
        /// to use it with blocking calls.
        impl From<$t> for $std {
            fn from(s: $t) -> $std {
                s.into_inner()
            }
        }

        impl From<std::os::fd::OwnedFd> for $t {
            fn from(fd: std::os::fd::OwnedFd) -> $t {
                $t::from(<$std>::from(fd))
            }
        }

        impl From<$t> for std::os::fd::OwnedFd {
            fn from(s: $t) -> std::os::fd::OwnedFd {
                s.into_inner().into()
            }
        }

        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.inner.as_raw_fd()
            }
        }

        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.inner.as_fd()
            }
        }

        /// The fd is left in non-blocking mode.
        impl std::os::fd::IntoRawFd for $t {
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                self.into_inner().into_raw_fd()
            }
        }

        impl std::os::fd::FromRawFd for $t {
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> $t {
                // SAFETY: the caller guarantees `fd` is an open socket of this kind
                // that it owns, which is std's `from_raw_fd` contract too.
                $t::from(unsafe { <$std>::from_raw_fd(fd) })
            }
        }
    };
}

/// Implements `Read` and `Write` for `$t` and `&$t` over the combinator. With
/// `short_read_drains`, reads go through `do_stream_read` (TCP only: see there).
macro_rules! stream_io {
    ($t:ident) => {
        $crate::net::stream_io!($t, do_io_read);
    };
    ($t:ident, short_read_drains) => {
        $crate::net::stream_io!($t, do_stream_read);
    };
    ($t:ident, $read:ident) => {
        impl std::io::Read for &$t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let this = *self;
                this.reg.$read(buf.len(), || (&this.inner).read(buf))
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                let this = *self;
                let len = bufs.iter().map(|b| b.len()).sum();
                this.reg.$read(len, || (&this.inner).read_vectored(bufs))
            }
        }

        impl std::io::Write for &$t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                let fd = std::os::fd::AsRawFd::as_raw_fd(&self.inner);
                self.reg.do_io($crate::io::Direction::Write, || {
                    $crate::sys::socket::send(fd, buf)
                })
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                let fd = std::os::fd::AsRawFd::as_raw_fd(&self.inner);
                self.reg.do_io($crate::io::Direction::Write, || {
                    $crate::sys::socket::send_vectored(fd, bufs)
                })
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Read for $t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                (&*self).read(buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                (&*self).read_vectored(bufs)
            }
        }

        impl std::io::Write for $t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                (&*self).write(buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                (&*self).write_vectored(bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

/// Implements the timeout, non-blocking and `take_error` methods shared by sockets.
macro_rules! socket_options {
    ($t:ident) => {
        impl $t {
            /// Sets the read timeout, as std does: `None` waits forever, a zero
            /// duration is an `InvalidInput` error, and a read that times out fails
            /// with `WouldBlock`.
            pub fn set_read_timeout(
                &self,
                dur: Option<std::time::Duration>,
            ) -> std::io::Result<()> {
                self.reg.opts.set_timeout($crate::io::Direction::Read, dur)
            }

            /// Sets the write timeout; see [`set_read_timeout`](Self::set_read_timeout).
            /// A write that times out having written nothing fails with `WouldBlock`.
            pub fn set_write_timeout(
                &self,
                dur: Option<std::time::Duration>,
            ) -> std::io::Result<()> {
                self.reg.opts.set_timeout($crate::io::Direction::Write, dur)
            }

            /// The read timeout.
            pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.reg.opts.timeout($crate::io::Direction::Read))
            }

            /// The write timeout.
            pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.reg.opts.timeout($crate::io::Direction::Write))
            }

            /// std's non-blocking mode: operations that would wait return
            /// `WouldBlock` instead. Shared with this socket's `try_clone`s.
            pub fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
                self.reg.opts.set_nonblocking(nonblocking);
                Ok(())
            }

            /// Takes the socket's pending error (`SO_ERROR`).
            pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
                self.inner.take_error()
            }

            /// Another handle to the same socket (a `dup` of the fd), sharing the
            /// timeouts and non-blocking mode, as std's do.
            pub fn try_clone(&self) -> std::io::Result<$t> {
                let inner = self.inner.try_clone()?;
                Ok($t {
                    reg: $crate::io::Registration::new(&inner, self.reg.opts.clone()),
                    inner,
                })
            }
        }
    };
}

pub(crate) use {socket_conversions, socket_options, stream_io};
