//! `JoinError`: why a greenlet has no value.

use std::any::Any;
use std::fmt;
use std::io;

use super::id::{GreenletId, Who};
use super::raw::Inner;
use crate::hub::{GreenletExit, is_timeout_payload};

/// Why a greenlet has no value: it panicked or was killed.
///
/// One pointer wide, so that a `Result<T, JoinError>` costs a greenlet (which keeps
/// its result until joined) and `joinall`'s vector little more than the `T`.
pub struct JoinError(Box<ErrorInner>);

struct ErrorInner {
    id: GreenletId,
    name: Option<String>,
    repr: Repr,
}

enum Repr {
    Panic(Box<dyn Any + Send>),
    Killed,
    /// Spawned through a `Handle` whose hub's thread had exited (or exited before
    /// the greenlet could finish): killed, in effect, and the message says why.
    HubExited,
    /// The function a hub's root ran (`Hubs`) panicked.
    RootPanic(Box<dyn Any + Send>),
}

impl JoinError {
    /// Whether the greenlet (or, from [`Hubs`](crate::Hubs), the hub's root
    /// function) panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.0.repr, Repr::Panic(_) | Repr::RootPanic(_))
    }

    /// Whether the greenlet was killed, including by the exit of its hub's thread
    /// (see [`JoinError::is_hub_exited`]).
    pub fn is_killed(&self) -> bool {
        matches!(self.0.repr, Repr::Killed | Repr::HubExited)
    }

    /// Whether the greenlet was spawned through a [`Handle`](crate::Handle) whose
    /// hub's thread had exited, or exited before the greenlet finished.
    pub fn is_hub_exited(&self) -> bool {
        matches!(self.0.repr, Repr::HubExited)
    }

    /// The panic payload.
    ///
    /// # Panics
    /// If the greenlet was killed rather than panicking; see [`JoinError::try_into_panic`].
    pub fn into_panic(self) -> Box<dyn Any + Send> {
        self.try_into_panic()
            .unwrap_or_else(|e| panic!("into_panic called on {e}"))
    }

    /// The panic payload, or the error back if the greenlet was killed.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send>, JoinError> {
        match self.0.repr {
            Repr::Panic(p) | Repr::RootPanic(p) => Ok(p),
            Repr::Killed | Repr::HubExited => Err(self),
        }
    }

    /// The id of the greenlet.
    pub fn id(&self) -> GreenletId {
        self.0.id
    }

    /// The name of the greenlet, if it had one.
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    fn who(&self) -> Who<'_> {
        Who {
            id: self.0.id,
            name: self.0.name.as_deref(),
        }
    }
}

pub(crate) fn panic_message(p: &(dyn Any + Send)) -> Option<&str> {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let panicked =
            |f: &mut fmt::Formatter<'_>, who: &dyn fmt::Display, p: &Box<dyn Any + Send>| {
                match panic_message(p.as_ref()) {
                    Some(m) => write!(f, "{who} panicked: {m}"),
                    None => write!(f, "{who} panicked"),
                }
            };
        match &self.0.repr {
            Repr::Killed => write!(f, "{} was killed", self.who()),
            Repr::HubExited => write!(
                f,
                "{} was killed: its hub's thread has exited (spawned through a Handle to a \
                 hub that is gone, or that exited before the greenlet finished)",
                self.who()
            ),
            Repr::Panic(p) => panicked(f, &self.who(), p),
            Repr::RootPanic(p) => {
                let hub = self.0.name.as_deref().unwrap_or("<unnamed>");
                panicked(f, &format_args!("hub '{hub}' (its root function)"), p)
            }
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.repr {
            Repr::Killed => write!(f, "JoinError::Killed({})", self.who()),
            Repr::HubExited => write!(f, "JoinError::HubExited({})", self.who()),
            Repr::Panic(_) | Repr::RootPanic(_) => write!(f, "JoinError::Panic({self})"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for io::Error {
    fn from(e: JoinError) -> io::Error {
        io::Error::other(e.to_string())
    }
}

impl JoinError {
    fn new(id: GreenletId, name: Option<String>, repr: Repr) -> JoinError {
        JoinError(Box::new(ErrorInner { id, name, repr }))
    }

    /// A greenlet that could not run, or finish, because its hub's thread exited.
    pub(crate) fn hub_exited(id: GreenletId) -> JoinError {
        JoinError::new(id, None, Repr::HubExited)
    }

    /// A greenlet that could not be spawned (no stack): as a panic with the reason.
    pub(crate) fn spawn_failed(id: GreenletId, e: io::Error) -> JoinError {
        JoinError::new(id, None, Repr::Panic(Box::new(e.to_string())))
    }

    /// The root function of the hub `hub` (a thread name) panicked.
    pub(crate) fn root_panic(
        id: GreenletId,
        hub: Option<String>,
        payload: Box<dyn Any + Send>,
    ) -> JoinError {
        JoinError::new(id, hub, Repr::RootPanic(payload))
    }
}

/// The errors a greenlet's own record makes of how it ended.
impl<T> Inner<T> {
    pub(crate) fn killed(&self) -> JoinError {
        JoinError(Box::new(ErrorInner {
            id: self.header.id,
            name: self.header.name().map(|n| n.to_string()),
            repr: Repr::Killed,
        }))
    }

    pub(crate) fn error_from(&self, payload: Box<dyn Any + Send>) -> JoinError {
        let repr = if payload.is::<GreenletExit>() {
            Repr::Killed
        } else if is_timeout_payload(&*payload) {
            Repr::Panic(Box::new(
                "a with_timeout deadline escaped its with_timeout call".to_string(),
            ))
        } else {
            Repr::Panic(payload)
        };
        JoinError(Box::new(ErrorInner {
            id: self.header.id,
            name: self.header.name().map(|n| n.to_string()),
            repr,
        }))
    }
}
