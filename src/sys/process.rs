//! Child processes: a pidfd for a child std spawned, and reaping through it.
//!
//! Linux 5.3 has `pidfd_open(2)`, 5.4 `waitid(P_PIDFD)`. A pidfd becomes readable
//! when its process has exited (and its thread group is empty), so the reactor can
//! wait for an exit like for any fd, with no `SIGCHLD` handler.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `pidfd_open(pid, 0)`: an fd that refers to the process `pid` (close-on-exec, as
/// the kernel always makes it). `ESRCH` if no such process exists. Only sound for
/// a pid the caller knows is its own unreaped child: that pid cannot be reused
/// before the caller reaps it, so the fd names that child and no other process.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: pidfd_open takes a pid and a flags word, no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).expect("the kernel returns fds that fit an int");
    // SAFETY: the kernel has just made this fd for us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `waitid(P_PIDFD, pidfd, WEXITED | WNOHANG)`: reaps the process if it has exited
/// (`Ok(true)`), or says it has not (`Ok(false)`). `ECHILD` if it is not a child
/// of ours, or was reaped already (by someone else, or by `SIGCHLD` being ignored).
/// The status is discarded: this is for children nobody will ask about again.
pub(crate) fn reap_pidfd(pidfd: BorrowedFd<'_>) -> io::Result<bool> {
    loop {
        // SAFETY: siginfo_t is plain data; all-zero is valid, and is what tells
        // "not exited yet" (si_pid 0) from an exit under WNOHANG.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let id = pidfd.as_raw_fd() as libc::id_t;
        // SAFETY: `info` is a valid, exclusively borrowed siginfo_t for the call.
        let r =
            unsafe { libc::waitid(libc::P_PIDFD, id, &mut info, libc::WEXITED | libc::WNOHANG) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // SAFETY: waitid filled `info` (or left it zeroed); si_pid is the field it
        // sets for an exited child, and reading it from zeroed memory is fine.
        return Ok(unsafe { info.si_pid() } != 0);
    }
}
