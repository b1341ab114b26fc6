//! Waiting on any fd, and making any fd-backed object green.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;

use crate::io::{Direction, Registration};

pub use crate::io::{wait_readable, wait_writable};

/// Makes any fd-backed object (a pipe end, a tty, an eventfd, a child's stdio) green:
/// its fd is put in non-blocking mode and `Read`/`Write` park the greenlet instead
/// of the thread. The object's own `read`/`write` do the IO.
///
/// ```
/// use std::io::{Read, Write};
/// use greenlet::os::unix::io::GreenFd;
///
/// let (r, w) = std::io::pipe().unwrap();
/// let (mut r, mut w) = (GreenFd::new(r).unwrap(), GreenFd::new(w).unwrap());
/// let reader = greenlet::spawn(move || {
///     let mut s = String::new();
///     r.read_to_string(&mut s).unwrap();
///     s
/// });
/// w.write_all(b"through a pipe").unwrap();
/// drop(w);
/// assert_eq!(reader.join().unwrap(), "through a pipe");
/// ```
///
/// Writes to a pipe whose reader is gone raise `SIGPIPE` as they would without this
/// wrapper (Rust programs ignore it by default); sockets have their own types.
pub struct GreenFd<T: AsRawFd> {
    reg: Registration,
    inner: T,
}

impl<T: AsRawFd> GreenFd<T> {
    /// Wraps `inner`, putting its fd in non-blocking mode (which other holders of
    /// the same open file description see too).
    pub fn new(inner: T) -> io::Result<GreenFd<T>> {
        crate::sys::fd::set_nonblocking(inner.as_raw_fd())?;
        Ok(GreenFd {
            reg: Registration::new(&inner, Arc::default()),
            inner,
        })
    }

    /// The wrapped object.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped object, mutably. Reading or writing it directly returns
    /// `WouldBlock` where the wrapper would wait.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the object; its fd stays in non-blocking mode.
    pub fn into_inner(self) -> T {
        let GreenFd { reg, inner } = self;
        drop(reg); // Deregisters before the fd leaves our hands.
        inner
    }

    /// Runs `op` (one non-blocking operation on the object) until it does not
    /// return `WouldBlock`, waiting for the fd to become readable in between.
    pub fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.reg.do_io(Direction::Read, || op(&self.inner))
    }

    /// Like [`read_with`](Self::read_with), waiting for writability.
    pub fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.reg.do_io(Direction::Write, || op(&self.inner))
    }

    /// Like [`read_with`](Self::read_with), with mutable access.
    pub fn read_with_mut<R>(
        &mut self,
        mut op: impl FnMut(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        let GreenFd { reg, inner } = self;
        reg.do_io(Direction::Read, || op(inner))
    }

    /// Like [`write_with`](Self::write_with), with mutable access.
    pub fn write_with_mut<R>(
        &mut self,
        mut op: impl FnMut(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        let GreenFd { reg, inner } = self;
        reg.do_io(Direction::Write, || op(inner))
    }
}

impl<T: AsRawFd + Read> Read for GreenFd<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with_mut(|inner| inner.read(buf))
    }
}

impl<T: AsRawFd + Write> Write for GreenFd<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_with_mut(|inner| inner.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_with_mut(|inner| inner.flush())
    }
}

impl<T: AsRawFd> Read for &GreenFd<T>
where
    for<'a> &'a T: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(|mut inner| inner.read(buf))
    }
}

impl<T: AsRawFd> Write for &GreenFd<T>
where
    for<'a> &'a T: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_with(|mut inner| inner.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_with(|mut inner| inner.flush())
    }
}

impl<T: AsRawFd> AsRawFd for GreenFd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl<T: AsRawFd + AsFd> AsFd for GreenFd<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl<T: AsRawFd + std::fmt::Debug> std::fmt::Debug for GreenFd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("GreenFd").field(&self.inner).finish()
    }
}
