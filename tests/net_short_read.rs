//! The short-read rule of TCP stream reads, observed at the syscall: a read that
//! fills less than its buffer drained the socket, so the next read parks first and
//! makes no `recv` that could only say `EAGAIN` (`Registration::do_stream_read`); a
//! read that fills its buffer proves nothing, so the next one tries the syscall.
//!
//! Alone in its binary: it replaces libc's `recv` for the whole executable with one
//! that counts calls per fd. std's `TcpStream::read`, which the crate's `TcpStream`
//! calls, is a `recv(fd, buf, len, 0)`.

mod support;

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use greenlet::Greenlet;
use greenlet::net::{TcpListener, TcpStream};

/// `recv` calls per fd number, since the process started.
static RECVS: [AtomicUsize; 1024] = [const { AtomicUsize::new(0) }; 1024];

/// Overrides libc's `recv` in this executable: counts the call, then makes the
/// syscall itself (`recv` is `recvfrom` with no address; calling `libc::recv` here
/// would call this function again).
///
/// # Safety
/// That of recv(2): `buf` is valid for writes of `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recv(
    fd: libc::c_int,
    buf: *mut libc::c_void,
    len: libc::size_t,
    flags: libc::c_int,
) -> libc::ssize_t {
    if let Some(n) = usize::try_from(fd).ok().and_then(|i| RECVS.get(i)) {
        n.fetch_add(1, Ordering::SeqCst);
    }
    // SAFETY: the caller keeps recv(2)'s contract for `buf` and `len`; the null
    // address and length pointers ask recvfrom for no address, which makes it recv.
    unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            buf,
            len,
            flags,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        ) as libc::ssize_t
    }
}

/// Counts the `recv` calls on one fd from the moment it is made (fd numbers are
/// reused between the tests of this binary).
struct Recvs {
    fd: usize,
    base: usize,
}

impl Recvs {
    fn on(fd: &impl AsRawFd) -> Recvs {
        let fd = usize::try_from(fd.as_raw_fd()).unwrap();
        assert!(fd < RECVS.len(), "fd {fd} beyond the counted range");
        Recvs {
            fd,
            base: RECVS[fd].load(Ordering::SeqCst),
        }
    }

    fn count(&self) -> usize {
        RECVS[self.fd].load(Ordering::SeqCst) - self.base
    }
}

/// A connected pair on loopback: (client, server side).
fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    let c = greenlet::spawn(move || TcpStream::connect(a).unwrap());
    let (s, _) = l.accept().unwrap();
    (c.join().unwrap(), s)
}

type Got = Rc<RefCell<Vec<u8>>>;

/// A connected pair whose client side is read until EOF by a greenlet with a
/// `BUF`-byte buffer, collecting into `got`. Returns once that reader has made its
/// first read, found nothing, registered and parked: (the server side, `got`, the
/// reader, the count of its `recv` calls).
fn parked_reader<const BUF: usize>() -> (TcpStream, Got, Greenlet<io::Result<()>>, Recvs) {
    let (c, s) = pair();
    let recvs = Recvs::on(&c);
    let got = Got::default();
    let g = got.clone();
    let r = greenlet::spawn(move || {
        let mut buf = [0; BUF];
        loop {
            match (&c).read(&mut buf)? {
                0 => return Ok(()),
                n => g.borrow_mut().extend_from_slice(&buf[..n]),
            }
        }
    });
    greenlet::yield_now();
    assert_eq!(
        recvs.count(),
        1,
        "the first read tries the syscall once, then parks"
    );
    (s, got, r, recvs)
}

/// Lets the hub run (and poll) until the reader has `n` bytes. On one hub this is
/// deterministic: the reader runs to its next park before this sees its bytes, so
/// once it returns the reader waits in its next read.
fn until_read(got: &RefCell<Vec<u8>>, n: usize) {
    let deadline = Instant::now() + support::late(Duration::from_secs(10));
    while got.borrow().len() < n {
        assert!(
            Instant::now() < deadline,
            "reader stalled at {:?}",
            got.borrow()
        );
        greenlet::yield_now();
    }
}

/// Sends EOF and checks that the reader ends with exactly `want`, after one more
/// `recv` (the one that returns 0).
fn finish(s: TcpStream, r: Greenlet<io::Result<()>>, got: Got, recvs: &Recvs, want: &[u8]) {
    let before = recvs.count();
    s.shutdown(Shutdown::Write).unwrap();
    r.join().unwrap().unwrap();
    assert_eq!(&*got.borrow(), want);
    assert_eq!(recvs.count(), before + 1, "EOF costs one recv");
}

/// The override catches std's reads: one blocking std read is one counted `recv`.
#[test]
fn the_recv_override_sees_std_reads() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut s, _) = l.accept().unwrap();
    let recvs = Recvs::on(&c);
    s.write_all(b"x").unwrap();
    let mut buf = [0; 8];
    assert_eq!(c.read(&mut buf).unwrap(), 1);
    assert_eq!(recvs.count(), 1);
}

/// Each chunk costs one `recv`: the read that gets it is short, so the reader's next
/// read parks without asking the kernel, and the edge of the next chunk wakes it.
#[test]
fn after_a_short_read_the_next_read_parks_without_a_syscall() {
    let (s, got, r, recvs) = parked_reader::<16>();
    for (i, chunk) in [&b"ab"[..], b"cd", b"ef"].into_iter().enumerate() {
        (&s).write_all(chunk).unwrap();
        until_read(&got, 2 * (i + 1));
        assert_eq!(
            recvs.count(),
            2 + i,
            "chunk {i}: one recv for the data and none before parking again"
        );
    }
    finish(s, r, got, &recvs, b"abcdef");
}

/// A read that fills its buffer may have left data behind: the next read tries the
/// syscall (here it finds nothing, `EAGAIN`, and parks), and only a short read saves
/// the next one.
#[test]
fn after_a_full_read_the_next_read_tries_the_syscall() {
    let (s, got, r, recvs) = parked_reader::<4>();
    // Exactly a buffer: the data, then a retry that finds nothing.
    (&s).write_all(b"abcd").unwrap();
    until_read(&got, 4);
    assert_eq!(recvs.count(), 3, "a full read is followed by a retry");
    // Short: one recv, no retry.
    (&s).write_all(b"ef").unwrap();
    until_read(&got, 6);
    assert_eq!(recvs.count(), 4, "a short read is not followed by a retry");
    // A buffer and a half in one segment: a full read, then a short one that drains.
    (&s).write_all(b"ghijkl").unwrap();
    until_read(&got, 12);
    assert_eq!(recvs.count(), 6, "a full read, then a short one, then none");
    finish(s, r, got, &recvs, b"abcdefghijkl");
}
