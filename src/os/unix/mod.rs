//! Unix-specific parts, mirroring `std::os::unix`: Unix-domain sockets and green
//! wrappers for any fd.

pub mod io;
pub mod net;
