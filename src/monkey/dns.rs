//! Name resolution: `getaddrinfo`, `getnameinfo`, `gethostbyname`. glibc's
//! resolver makes its own socket, poll and read calls internally, where no hook can
//! reach them, so the whole call runs on the thread pool while the caller parks.
//! A kill or a deadline fails the call (`EAI_SYSTEM` with `ECANCELED` or
//! `ETIMEDOUT`; `gethostbyname` returns null); the lookup runs on, and what it
//! returns is freed on the worker.

use std::ffi::CStr;

use super::{active, count_park, interrupt_errno};
use crate::sys::monkey::c::{
    EAI_SYSTEM, addrinfo, c_char, c_int, hostent, sockaddr, sockaddr_storage, socklen_t,
};
use crate::sys::monkey::{self as sys, real};
use crate::threadpool;

/// A `getaddrinfo` result owned by whoever holds this; freed on drop.
struct AddrInfo(*mut addrinfo);

// SAFETY: the list is plain memory from malloc, not tied to the thread that made it;
// one owner at a time.
unsafe impl Send for AddrInfo {}

impl Drop for AddrInfo {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: from getaddrinfo, freed once (here, or never: `into_raw`).
            unsafe { sys::freeaddrinfo(self.0) };
        }
    }
}

/// `getaddrinfo(3)`, on the thread pool.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    if active().is_none() || res.is_null() {
        // SAFETY: the caller's contract.
        return unsafe { real::getaddrinfo(node, service, hints, res) };
    }
    // SAFETY: non-null strings are NUL-terminated (the caller's contract).
    let own = |p: *const c_char| (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_owned());
    let (node, service) = (own(node), own(service));
    // The fields hints may set; its pointers must be null, so none are copied.
    // SAFETY: a non-null `hints` is valid (the caller's contract).
    let hints =
        unsafe { hints.as_ref() }.map(|h| (h.ai_flags, h.ai_family, h.ai_socktype, h.ai_protocol));
    count_park();
    let job = threadpool::default_pool().apply_reporting(move || {
        // SAFETY: an all-zero addrinfo is the empty hints value.
        let mut h: addrinfo = unsafe { std::mem::zeroed() };
        let hp = match hints {
            Some((flags, family, socktype, protocol)) => {
                h.ai_flags = flags;
                h.ai_family = family;
                h.ai_socktype = socktype;
                h.ai_protocol = protocol;
                &h as *const addrinfo
            }
            None => std::ptr::null(),
        };
        let mut out = std::ptr::null_mut();
        let p = |s: &Option<std::ffi::CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
        // SAFETY: owned strings, hints and out pointer, all alive for the call.
        let r = unsafe { real::getaddrinfo(p(&node), p(&service), hp, &mut out) };
        (r, sys::errno(), AddrInfo(out))
    });
    match job {
        Ok((r, errno, mut list)) => {
            sys::set_errno(errno);
            // SAFETY: `res` is valid for writes (the caller's contract).
            unsafe { *res = std::mem::replace(&mut list.0, std::ptr::null_mut()) };
            r
        }
        Err(int) => {
            sys::set_errno(interrupt_errno(int));
            EAI_SYSTEM
        }
    }
}

/// `getnameinfo(3)`, on the thread pool.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn getnameinfo(
    sa: *const sockaddr,
    salen: socklen_t,
    host: *mut c_char,
    hostlen: socklen_t,
    serv: *mut c_char,
    servlen: socklen_t,
    flags: c_int,
) -> c_int {
    let fits = sa.is_null() || (salen as usize) <= std::mem::size_of::<sockaddr_storage>();
    if active().is_none() || !fits {
        // SAFETY: the caller's contract.
        return unsafe { real::getnameinfo(sa, salen, host, hostlen, serv, servlen, flags) };
    }
    // SAFETY: `sa` is valid for `salen` bytes (the caller's contract).
    let addr: Option<Vec<u8>> = (!sa.is_null())
        .then(|| unsafe { std::slice::from_raw_parts(sa.cast::<u8>(), salen as usize) }.to_vec());
    let (want_host, want_serv) = (!host.is_null(), !serv.is_null());
    count_park();
    let job = threadpool::default_pool().apply_reporting(move || {
        // SAFETY: an all-zero sockaddr_storage is valid.
        let mut storage: sockaddr_storage = unsafe { std::mem::zeroed() };
        let sp = match &addr {
            Some(bytes) => {
                // SAFETY: `bytes` fits in the storage (checked above).
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        bytes.as_ptr(),
                        (&raw mut storage).cast::<u8>(),
                        bytes.len(),
                    )
                };
                (&raw const storage).cast::<sockaddr>()
            }
            None => std::ptr::null(),
        };
        let mut h = vec![0 as c_char; if want_host { hostlen as usize } else { 0 }];
        let mut s = vec![0 as c_char; if want_serv { servlen as usize } else { 0 }];
        let hp = if want_host {
            h.as_mut_ptr()
        } else {
            std::ptr::null_mut()
        };
        let spp = if want_serv {
            s.as_mut_ptr()
        } else {
            std::ptr::null_mut()
        };
        // SAFETY: owned buffers of the caller's lengths.
        let r = unsafe { real::getnameinfo(sp, salen, hp, hostlen, spp, servlen, flags) };
        (r, sys::errno(), h, s)
    });
    match job {
        Ok((r, errno, h, s)) => {
            // SAFETY: the caller's buffers have the lengths the copies were made with.
            unsafe {
                if want_host {
                    std::ptr::copy_nonoverlapping(h.as_ptr(), host, h.len());
                }
                if want_serv {
                    std::ptr::copy_nonoverlapping(s.as_ptr(), serv, s.len());
                }
            }
            sys::set_errno(errno);
            r
        }
        Err(int) => {
            sys::set_errno(interrupt_errno(int));
            EAI_SYSTEM
        }
    }
}

/// The static `hostent` glibc's `gethostbyname` returns, passed between threads
/// (it is process-wide data, not the worker's).
struct HostEnt(*mut hostent);

// SAFETY: the pointer is to glibc's process-wide static result, valid on any thread
// until the next call (the function's documented contract).
unsafe impl Send for HostEnt {}

/// `gethostbyname(3)`, on the thread pool; `h_errno` is the worker's.
///
/// # Safety
///
/// The C function's contract.
pub(super) unsafe extern "C" fn gethostbyname(name: *const c_char) -> *mut hostent {
    if active().is_none() || name.is_null() {
        // SAFETY: the caller's contract.
        return unsafe { real::gethostbyname(name) };
    }
    // SAFETY: a NUL-terminated string (the caller's contract).
    let name = unsafe { CStr::from_ptr(name) }.to_owned();
    count_park();
    let job = threadpool::default_pool().apply_reporting(move || {
        // SAFETY: an owned, NUL-terminated name.
        let h = unsafe { real::gethostbyname(name.as_ptr()) };
        (HostEnt(h), sys::h_errno(), sys::errno())
    });
    match job {
        Ok((h, herr, errno)) => {
            sys::set_h_errno(herr);
            sys::set_errno(errno);
            h.0
        }
        Err(int) => {
            sys::set_h_errno(sys::NO_RECOVERY);
            sys::set_errno(interrupt_errno(int));
            std::ptr::null_mut()
        }
    }
}
