//! Greenlets: the task layer on top of the hub. A greenlet is a function running on
//! its own stack; here are its allocation (`raw.rs`) and its lifecycle
//! (`lifecycle.rs`), the handle (`handle.rs`), `Builder` and `spawn` (`builder.rs`),
//! ids (`id.rs`), `current()` and the per-greenlet finish hook (`current.rs`),
//! `JoinError` (`error.rs`), and how greenlets are named in fault reports
//! (`report.rs`).

mod builder;
mod current;
mod error;
mod facts;
mod finished;
mod handle;
mod id;
mod lifecycle;
mod raw;
mod report;

pub use builder::{Builder, spawn, spawn_later};
pub use current::{Current, current};
pub(crate) use current::{current_id, on_finish, root_id_here};
pub use error::JoinError;
pub(crate) use facts::{Facts, facts_of, for_each_finished};
pub(crate) use finished::keep_finished;
pub use handle::Greenlet;
pub(crate) use handle::GreenletRef;
pub use id::GreenletId;
pub(crate) use lifecycle::Lifecycle;
