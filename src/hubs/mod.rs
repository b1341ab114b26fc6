//! Many hubs in one process: a [`Handle`] names a hub from any thread and spawns
//! greenlets onto it ([`RemoteGreenlet`] is their `Send` handle), and [`Hubs`] runs
//! several hubs, each on its own OS thread. A greenlet still never leaves its hub: work
//! crosses hubs only as `Send` closures and results (see `arch/hub.md`, "Other hubs").

mod handle;
mod running;

pub use handle::{Handle, RemoteGreenlet};
pub use running::{Hubs, RunningHubs};
