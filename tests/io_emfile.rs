//! An accept loop that runs out of fds does not spin, and serves again once fds are
//! freed. Alone in its binary: it lowers the process's fd limit.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use greenlet::net::TcpListener;

fn set_soft_nofile(n: libc::rlim_t) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-pointer to an rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = n.min(lim.rlim_max);
    // SAFETY: a valid pointer to an initialised rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

#[test]
fn emfile_accept_loop_backs_off_and_recovers() {
    greenlet::yield_now(); // Creates this thread's hub (its epoll fd) while fds remain.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    // Three clients complete their handshakes and wait in the backlog.
    let clients: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    // Use up every fd.
    set_soft_nofile(256);
    let mut hog = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => hog.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
                break;
            }
        }
    }
    let errors = Rc::new(Cell::new(0u32));
    let errs = errors.clone();
    let server = greenlet::spawn(move || {
        let mut accepted = Vec::new();
        for s in l.incoming() {
            match s {
                Ok(s) => {
                    accepted.push(s);
                    if accepted.len() == 3 {
                        break;
                    }
                }
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                    errs.set(errs.get() + 1);
                }
            }
        }
        accepted.len()
    });
    greenlet::sleep(Duration::from_millis(200));
    let n = errors.get();
    assert!(n >= 1, "accept never hit EMFILE");
    // 10 ms between failures: about 20 in 200 ms, not thousands.
    assert!(n <= 40, "the accept loop spun: {n} errors in 200 ms");
    assert!(!server.is_finished());
    drop(hog);
    let got = server.join().unwrap();
    assert_eq!(got, 3);
    drop(clients);
}
