//! `membarrier(2)`: the heavy half of the asymmetric barrier owner mode needs (see
//! `sync/owner.rs`).

const CMD_QUERY: libc::c_long = 0;
const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

fn call(cmd: libc::c_long) -> libc::c_long {
    // SAFETY: membarrier takes two integers and touches no memory of ours.
    unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_long) }
}

/// Registers the process for expedited private barriers; false if the kernel
/// cannot (older than 4.14, or membarrier filtered out by a sandbox).
pub(crate) fn register() -> bool {
    let both = CMD_PRIVATE_EXPEDITED | CMD_REGISTER_PRIVATE_EXPEDITED;
    let supported = call(CMD_QUERY);
    supported >= 0 && supported & both == both && call(CMD_REGISTER_PRIVATE_EXPEDITED) == 0
}

/// Makes every thread of the process that runs now execute a full memory barrier
/// before this returns. Returns false if the kernel refused (not registered).
pub(crate) fn expedited() -> bool {
    call(CMD_PRIVATE_EXPEDITED) == 0
}
