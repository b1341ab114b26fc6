//! Memory mappings: the arenas greenlet stacks are carved from, their guard pages,
//! and the alternate signal stacks.

use std::io;
use std::ptr;

/// `MADV_GUARD_INSTALL`, Linux 6.13. Not yet exported by the libc crate.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// The page size (a power of two; 4096 if the system will not say).
pub(crate) fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size)
            .ok()
            .filter(|p| p.is_power_of_two())
            .unwrap_or(4096)
    })
}

/// A fresh private, anonymous, read-write mapping of `len` bytes; with `reserve`
/// false it is `MAP_NORESERVE` (no swap is reserved: pages cost memory only once
/// touched). Returns its address.
pub(crate) fn map_anonymous(len: usize, reserve: bool) -> io::Result<usize> {
    let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    if !reserve {
        flags |= libc::MAP_NORESERVE;
    }
    // SAFETY: a new anonymous mapping at an address of the kernel's choosing; no
    // existing memory is affected.
    let addr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(addr as usize)
    }
}

/// Unmaps `[start, start + len)`.
///
/// # Safety
/// The range must be a mapping made by [`map_anonymous`] (or a part of one) that
/// nothing uses any more: no reference into it, no stack running on it.
pub(crate) unsafe fn unmap(start: usize, len: usize) {
    // SAFETY: by the caller's contract nothing refers to the range. munmap of an
    // address range we mapped cannot fail in a way that leaves it half used.
    unsafe { libc::munmap(start as *mut libc::c_void, len) };
}

/// How a guard page was installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Guard {
    /// `madvise(MADV_GUARD_INSTALL)`: the page faults, the mapping stays whole.
    Madvise,
    /// `mprotect(PROT_NONE)`: the page faults, the mapping is split in two.
    Mprotect,
}

/// Makes one page fault on access: with `MADV_GUARD_INSTALL` if `prefer_madvise`
/// and the kernel has it (Linux 6.13+), else with `mprotect`. Returns how.
///
/// # Safety
/// `addr` must be a page-aligned page of a mapping made by [`map_anonymous`] that
/// nothing uses: whatever it held becomes unreachable.
pub(crate) unsafe fn install_guard(addr: usize, prefer_madvise: bool) -> io::Result<Guard> {
    let page = page_size();
    if prefer_madvise {
        // SAFETY: by the caller's contract the page is ours and unused; installing a
        // guard only makes accesses to it fault.
        let rc = unsafe { libc::madvise(addr as *mut libc::c_void, page, MADV_GUARD_INSTALL) };
        if rc == 0 {
            return Ok(Guard::Madvise);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINVAL) {
            return Err(err);
        }
    }
    // SAFETY: as above; PROT_NONE on a page that is ours and unused.
    let rc = unsafe { libc::mprotect(addr as *mut libc::c_void, page, libc::PROT_NONE) };
    if rc == 0 {
        Ok(Guard::Mprotect)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Gives the memory of `[low, high)` back to the system (`MADV_DONTNEED`): the next
/// access sees zero pages. Guard pages survive it, however they were installed.
///
/// # Safety
/// The range must lie in a mapping made by [`map_anonymous`] whose contents nobody
/// needs: no live value in it, no stack running on it.
pub(crate) unsafe fn release(low: usize, high: usize) {
    // SAFETY: by the caller's contract the contents are dead; MADV_DONTNEED on a
    // private anonymous mapping only drops them.
    unsafe { libc::madvise(low as *mut libc::c_void, high - low, libc::MADV_DONTNEED) };
}
