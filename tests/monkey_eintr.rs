//! Signals while a greenlet waits in a hooked call interrupt the hub's poll, not
//! the call: it goes on waiting and returns the data. Alone in its binary: it
//! installs a signal handler.

#![cfg(feature = "monkey")]

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use support::parked::{HubProbe, PARK_TIMEOUT};
use support::watchdog::watchdog;

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

#[test]
fn signals_during_a_hooked_read_do_not_end_it() {
    let _w = watchdog("eintr");
    // SAFETY: a zeroed sigaction is valid; the handler only touches an atomic. No
    // SA_RESTART: a blocked syscall returns EINTR.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as usize;
    let (a, b) = UnixStream::pair().unwrap();
    let hub = HubProbe::here();
    let t = std::thread::spawn(move || {
        // Each signal reaches the hub asleep in its poll with the reader parked.
        let signalled = (0..5).try_for_each(|i| {
            hub.wait_parked()?;
            // SAFETY: the test thread is alive: it waits for this thread's data.
            unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR1) };
            let start = Instant::now();
            while SIGNALS.load(Ordering::SeqCst) == i {
                if start.elapsed() > PARK_TIMEOUT {
                    return Err(format!("signal {i} was never handled"));
                }
                std::thread::yield_now();
            }
            Ok(())
        });
        (&b).write_all(b"after signals").unwrap();
        signalled
    });
    let reader = greenlet::spawn(move || {
        let mut buf = [0u8; 13];
        (&a).read_exact(&mut buf).map(|()| buf)
    });
    let got = reader.join().unwrap();
    t.join().unwrap().unwrap();
    assert_eq!(&got.unwrap(), b"after signals");
    assert_eq!(SIGNALS.load(Ordering::SeqCst), 5);
}
