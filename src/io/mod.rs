//! Blocking IO on the hub: the wait for an fd's readiness every IO operation parks
//! in, the registrations sockets own with the IO combinator (`registration.rs`), and
//! `wait_readable` / `wait_writable` on any fd (`fd.rs`). Built only on the hub's
//! seam (`park_until`) and its reactor's driver half (the fd table). See
//! `arch/io.md`.

use std::io;
use std::time::Instant;

use mio::Token;

pub(crate) use crate::hub::Direction;
use crate::hub::Hub;

mod fd;
mod registration;

pub use fd::{wait_readable, wait_writable};
pub(crate) use registration::Registration;

/// The error a waiter gets when the fd it waits on is closed under it.
pub(crate) fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "greenlet: the file descriptor was closed while waiting on it",
    )
}

/// Parks the running context until `token`'s fd reports readiness in `dir`, the
/// deadline passes (`Ok`: the caller looks at the clock), or the registration is
/// closed (`Err`). Unwinds on kill or `with_timeout`, leaving nothing behind.
fn wait(
    hub: &'static Hub,
    token: Token,
    dir: Direction,
    deadline: Option<Instant>,
    reason: &'static str,
) -> io::Result<()> {
    let waiter = hub
        .reactor
        .add_waiter(token, dir, hub.waker())
        .map_err(|()| closed_error())?;
    hub.park_until(reason, deadline);
    drop(waiter);
    if hub.reactor.is_registered(token) {
        Ok(())
    } else {
        Err(closed_error())
    }
}
