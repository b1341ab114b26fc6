//! Signals interrupting the hub's poll are retried, not reported. Alone in its
//! binary: it installs a signal handler.

mod support;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use greenlet::os::unix::net::UnixStream;
use support::parked::{HubProbe, PARK_TIMEOUT};

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

#[test]
fn signals_during_a_blocked_read_are_retried() {
    // SAFETY: a zeroed sigaction is valid; the handler only touches an atomic, which
    // is async-signal-safe. No SA_RESTART: the blocked epoll_wait returns EINTR.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as usize;
    let (a, b) = UnixStream::pair().unwrap();
    let b: std::os::unix::net::UnixStream = b.into();
    b.set_nonblocking(false).unwrap();
    let hub = HubProbe::here();
    let t = std::thread::spawn(move || {
        // Each signal is sent while the hub sleeps in its poll, and the next one only
        // once the handler has run and the hub sleeps in a poll again: so every signal
        // interrupts a blocked poll, and each time the hub went back to waiting.
        let signalled = (0..5)
            .try_for_each(|i| {
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
            })
            .and_then(|()| hub.wait_parked());
        // Whatever happened, so that the reader does not hang the test.
        (&b).write_all(b"after signals").unwrap();
        if let Err(e) = signalled {
            panic!("{e}");
        }
    });
    let mut buf = [0; 13];
    (&a).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"after signals");
    t.join().unwrap();
    assert_eq!(SIGNALS.load(Ordering::Relaxed), 5);
}
