//! Kill and `with_timeout` of a greenlet inside a hooked call, which must not
//! unwind through the C frame: the call fails (`ECANCELED`, `ETIMEDOUT`; a sleep
//! ends early), the interrupt stays pending, the greenlet's next wait unwinds, and
//! `with_timeout` returns `Err(Elapsed)`. Also: where the hooks are not in force
//! (plain threads, pool workers, `GREENLET_MONKEY=0`) calls block as they always did.

#![cfg(feature = "monkey")]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use support::watchdog::watchdog;
use support::{Drops, FOREVER, Log, assert_prompt, assert_took, ms};

fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

fn parks() -> u64 {
    greenlet::monkey::parks_on_this_thread()
}

#[test]
fn kill_in_a_std_read_fails_it_then_unwinds_at_the_next_wait() {
    let _w = watchdog("kill read");
    let (c, mut s) = pair();
    let (log, drops) = (Log::new(), Drops::new());
    let (l, guard) = (log.clone(), drops.guard());
    let g = greenlet::spawn(move || {
        let _guard = guard;
        let e = (&c).read(&mut [0u8; 16]).unwrap_err();
        l.push(format!("read failed: {:?}", e.raw_os_error()));
        greenlet::sleep(FOREVER); // Unwinds at once: the kill is still pending.
        l.push("not reached");
        drop(c);
    });
    greenlet::yield_now(); // It parks in the read.
    let start = Instant::now();
    g.kill();
    assert_prompt(start);
    assert_eq!(
        log.get(),
        [format!("read failed: {:?}", Some(libc::ECANCELED))]
    );
    assert!(g.join().unwrap_err().is_killed());
    assert_eq!(drops.count(), 1, "the greenlet's frames were dropped");
    // The socket was released: the peer sees end of file.
    assert_eq!(s.read(&mut [0u8; 1]).unwrap(), 0);
    let stats = greenlet::hub_stats();
    assert_eq!((stats.live, stats.timers), (0, 0), "nothing left behind");
}

#[test]
fn kill_in_thread_sleep_ends_the_sleep_then_unwinds() {
    let _w = watchdog("kill sleep");
    let log = Log::new();
    let l = log.clone();
    let g = greenlet::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        l.push("sleep returned");
        greenlet::yield_now(); // Unwinds.
        l.push("not reached");
    });
    greenlet::yield_now();
    let start = Instant::now();
    g.kill();
    assert_prompt(start);
    assert_eq!(log.get(), ["sleep returned"]);
    assert!(g.join().unwrap_err().is_killed());
    assert_eq!(greenlet::hub_stats().timers, 0);
}

#[test]
fn a_killed_greenlet_that_retries_hooked_calls_lets_others_run() {
    let _w = watchdog("retry");
    let (c, _s) = pair();
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let t = ticks.clone();
    let ticker = greenlet::spawn(move || {
        loop {
            greenlet::yield_now();
            t.set(t.get() + 1);
        }
    });
    let g = greenlet::spawn(move || {
        // Ignores the errors and tries again: it cannot be unwound from here.
        (0..100)
            .filter(|_| (&c).read(&mut [0u8; 1]).is_err())
            .count()
    });
    greenlet::yield_now();
    g.kill();
    assert_eq!(g.join().unwrap(), 100);
    assert!(
        ticks.get() >= 99,
        "each failed retry yielded: {}",
        ticks.get()
    );
    ticker.kill();
}

#[test]
fn with_timeout_of_a_std_read_is_elapsed_and_the_socket_still_works() {
    let _w = watchdog("timeout read");
    greenlet::spawn(|| {
        let (c, s) = pair();
        let start = Instant::now();
        let r = greenlet::with_timeout(ms(100), || (&c).read(&mut [0u8; 16]));
        assert!(r.is_err(), "{r:?}");
        assert_took(start, ms(100));
        // The deadline is spent: the next wait does not unwind.
        (&s).write_all(b"later").unwrap();
        let mut buf = [0u8; 5];
        (&c).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"later");
        assert_eq!(greenlet::hub_stats().timers, 0);
    })
    .join()
    .unwrap();
}

#[test]
fn with_timeout_of_thread_sleep_is_elapsed() {
    let _w = watchdog("timeout sleep");
    greenlet::spawn(|| {
        let start = Instant::now();
        let r = greenlet::with_timeout(ms(100), || std::thread::sleep(Duration::from_secs(10)));
        assert!(r.is_err());
        assert_took(start, ms(100));
        // One that does not fire: the sleep's own end.
        let start = Instant::now();
        let r = greenlet::with_timeout(Duration::from_secs(10), || std::thread::sleep(ms(50)));
        assert!(r.is_ok());
        assert_took(start, ms(50));
        assert_eq!(greenlet::hub_stats().timers, 0);
    })
    .join()
    .unwrap();
}

#[test]
fn with_timeout_fails_the_hooked_call_with_etimedout() {
    let _w = watchdog("timeout errno");
    greenlet::spawn(|| {
        let (c, _s) = pair();
        // What the closure saw: the read failed with ETIMEDOUT.
        let mut seen = None;
        let r = greenlet::with_timeout(ms(50), || {
            seen = (&c).read(&mut [0u8; 1]).err().map(|e| e.raw_os_error());
        });
        assert!(r.is_err());
        assert_eq!(seen, Some(Some(libc::ETIMEDOUT)));
    })
    .join()
    .unwrap();
}

#[test]
fn plain_threads_and_pool_workers_are_untouched() {
    let (active, took, parked) = std::thread::spawn(|| {
        let start = Instant::now();
        std::thread::sleep(ms(100));
        (greenlet::monkey::is_active(), start.elapsed(), parks())
    })
    .join()
    .unwrap();
    assert!(!active);
    assert!(took >= ms(100));
    assert_eq!(parked, 0);

    let (active, took, parked) = greenlet::threadpool::apply(|| {
        let start = Instant::now();
        std::thread::sleep(ms(100));
        (greenlet::monkey::is_active(), start.elapsed(), parks())
    });
    assert!(!active);
    assert!(took >= ms(100));
    assert_eq!(parked, 0);
}

const DISABLED: &str = "monkey_disabled_by_env";

#[test]
fn monkey_disabled_by_env() {
    if std::env::var(support::child::CHILD_ENV).as_deref() == Ok(DISABLED) {
        // In the child, with GREENLET_MONKEY=0: a std sleep blocks the thread, so
        // the ticker spawned before it cannot run until it returns.
        let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let t = ticks.clone();
        let sleeper = greenlet::spawn(move || {
            let active = greenlet::monkey::is_active();
            std::thread::sleep(ms(50));
            (active, t.get())
        });
        let ticker = greenlet::spawn(move || ticks.set(ticks.get() + 1));
        assert_eq!(sleeper.join().unwrap(), (false, 0));
        ticker.join().unwrap();
        assert_eq!(parks(), 0);
        println!("{}", support::child::CHILD_OK);
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", DISABLED, "--nocapture", "--test-threads=1"])
        .env(support::child::CHILD_ENV, DISABLED)
        .env("GREENLET_MONKEY", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(support::child::CHILD_OK),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_read_timeout_error_kind_is_would_block_not_timed_out() {
    greenlet::spawn(|| {
        let (c, _s) = pair();
        c.set_read_timeout(Some(ms(30))).unwrap();
        assert_eq!(
            (&c).read(&mut [0u8; 1]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
    })
    .join()
    .unwrap();
}
