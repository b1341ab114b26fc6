//! Locks and events that block greenlets (letting the hub run others) and plain
//! threads alike, across hubs: gevent's `lock` and `event` modules, shaped like
//! `std::sync`.
//!
//! Every primitive is built on the crate's one wait/wake seam ([`crate::wake`]): it
//! never asks whether it runs in a greenlet. A greenlet on this hub, a greenlet on
//! another thread's hub and a plain thread (whose wait runs its own hub loop) wait
//! the same way. All primitives are `Send + Sync` where their contents allow, serve
//! waiters in FIFO order, deliver each wake-up once, and pass a permit, a lock or an
//! item on when a waiter that was handed it times out or is killed.
//!
//! There is no poisoning: a guard dropped while unwinding simply unlocks. See
//! `arch/sync.md` for why, and for the rule that keeps the hub's deadlock report
//! exact for primitives only one thread uses.

mod barrier;
mod condvar;
mod event;
mod mutex;
mod owner;
pub(crate) mod raw;
mod rlock;
mod rwlock;
mod semaphore;
mod wait;
pub(crate) mod waitlist;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::Condvar;
pub use event::{AsyncResult, Event};
pub use mutex::{Mutex, MutexGuard};
pub use rlock::{RLock, RLockGuard};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphorePermit};
pub use wait::{IWait, Subscription, Waitable, iwait, wait};
