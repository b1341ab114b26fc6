//! What the process knows about its own threads.

/// Whether the process has a thread besides the caller (`/proc/self/task`); true
/// when that cannot be read, which is the answer that never claims a deadlock
/// falsely.
pub(crate) fn other_threads_exist() -> bool {
    match std::fs::read_dir("/proc/self/task") {
        Ok(tasks) => tasks.take(2).count() > 1,
        Err(_) => true,
    }
}

/// The CPUs the calling thread may run on (`sched_getaffinity`), in increasing order.
pub(crate) fn allowed_cpus() -> std::io::Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is the empty set, a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed; pid 0 is the
    // calling thread.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: CPU_ISSET reads a bit of the set, for indexes below its size.
    Ok((0..max)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect())
}

/// Binds the calling thread to one CPU (`sched_setaffinity`).
pub(crate) fn pin_to_cpu(cpu: usize) -> std::io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set, a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit of the set; `cpu` comes from `allowed_cpus`,
    // below the set's size.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is the caller.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's kernel id (`gettid`), to name it to `tgkill`.
pub(crate) fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Sends `sig` to one thread of this process (`tgkill`); false if it is gone.
pub(crate) fn signal_thread(tid: i32, sig: i32) -> bool {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    // SAFETY: tgkill takes three integers; a thread that has exited is ESRCH.
    unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, sig) == 0 }
}
