//! `close`, `dup2`, `dup3`: before the fd stops being the file it was, the hub's
//! registration of it goes (its waiters wake, and their hooked calls fail with
//! `EBADF`) and its entry in the fd table moves to a new generation. They never
//! wait, and before `main` or at a thread's teardown touch only atomics.

use super::wait;
use crate::hub::Hub;
use crate::sys::monkey::c::c_int;
use crate::sys::monkey::real;

/// The bookkeeping for an fd about to close or be replaced.
fn closing(fd: c_int) {
    if fd >= 0 {
        wait::forget(Hub::try_current(), fd);
    }
}

/// `close(2)`.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn close(fd: c_int) -> c_int {
    closing(fd);
    // SAFETY: the caller's contract.
    unsafe { real::close(fd) }
}

/// `dup2(2)`: `new` is closed first if it was open.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    if old != new {
        closing(new);
    }
    // SAFETY: the caller's contract.
    unsafe { real::dup2(old, new) }
}

/// `dup3(2)`.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    if old != new {
        closing(new);
    }
    // SAFETY: the caller's contract.
    unsafe { real::dup3(old, new, flags) }
}
