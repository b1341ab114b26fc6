//! A child's piped stdio, green: std's `ChildStdin`, `ChildStdout` and
//! `ChildStderr` in a [`GreenFd`], whose reads and writes park the greenlet.
//!
//! The parent's end of a pipe is a different open file description from the
//! child's end, so the non-blocking mode set here never reaches the child. An end
//! that leaves the crate (`into_inner`, or `Stdio::from`, to become another child's
//! stdio) is put back in blocking mode first, since then its description is shared
//! with whoever gets it.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::process::Stdio;

use crate::os::unix::io::GreenFd;
use crate::sys;

macro_rules! stdio_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name {
            inner: GreenFd<std::process::$name>,
        }

        impl $name {
            pub(super) fn new(inner: std::process::$name) -> io::Result<$name> {
                Ok($name {
                    inner: GreenFd::new(inner)?,
                })
            }

            /// The std handle, back in blocking mode: to use it without the crate, or
            /// to hand it to another process.
            pub fn into_inner(self) -> io::Result<std::process::$name> {
                let inner = self.inner.into_inner();
                sys::fd::set_blocking(inner.as_raw_fd())?;
                Ok(inner)
            }
        }

        impl From<$name> for Stdio {
            /// Another child's stdio, from this pipe end (in blocking mode again).
            ///
            /// # Panics
            /// If the fd's mode cannot be changed, which only a closed fd could cause.
            fn from(end: $name) -> Stdio {
                let inner = end
                    .into_inner()
                    .expect("greenlet::process: cannot put a pipe end back in blocking mode");
                Stdio::from(inner)
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.as_raw_fd()
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.as_fd()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("fd", &self.as_raw_fd())
                    .finish()
            }
        }
    };
}

stdio_type! {
    /// The parent's end of a child's stdin (`Stdio::piped()`): writes park the
    /// greenlet while the pipe is full. Dropping it closes the pipe (the child reads
    /// EOF). A write after the child closed its end is `BrokenPipe` (Rust programs
    /// ignore `SIGPIPE`; a program that restored it dies of it, as with std).
    ChildStdin
}

stdio_type! {
    /// The parent's end of a child's stdout (`Stdio::piped()`): reads park the
    /// greenlet until the child writes or closes it.
    ChildStdout
}

stdio_type! {
    /// The parent's end of a child's stderr (`Stdio::piped()`): reads park the
    /// greenlet until the child writes or closes it.
    ChildStderr
}

impl Write for ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&self.inner).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for ChildStdout {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Read for ChildStderr {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}
