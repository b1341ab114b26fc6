//! A watchdog for tests whose failure mode is a hang: a blocking call that was meant
//! to park its greenlet blocks the whole thread instead, and nothing could ever wake
//! it. The watchdog, a plain thread, aborts the process with a message after a
//! deadline unless the test dropped it first.

use std::sync::mpsc;

/// Aborts the process if not dropped within `FOREVER`.
pub struct Watchdog {
    done: Option<mpsc::Sender<()>>,
}

/// Starts a watchdog for the test `name`.
pub fn watchdog(name: &'static str) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(super::FOREVER) {
            eprintln!(
                "test {name} hung for {:?}: a blocking call blocked the hub's thread",
                super::FOREVER
            );
            std::process::abort();
        }
    });
    Watchdog { done: Some(tx) }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.done.take());
    }
}
