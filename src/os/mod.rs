//! Platform-specific parts, mirroring `std::os`.

pub mod unix;
