//! Which hooks the program defines: every one with the `monkey` feature, none
//! without it (the feature compiles out entirely). Reads this test binary's own
//! symbol table with `nm`.

use std::process::Command;

/// The libc functions the feature defines.
const HOOKS: &[&str] = &[
    "recv",
    "recvfrom",
    "recvmsg",
    "send",
    "sendto",
    "sendmsg",
    "connect",
    "setsockopt",
    "accept",
    "accept4",
    "read",
    "write",
    "readv",
    "writev",
    "poll",
    "ppoll",
    "select",
    "clock_nanosleep",
    "nanosleep",
    "usleep",
    "sleep",
    "close",
    "dup2",
    "dup3",
    "getaddrinfo",
    "getnameinfo",
    "gethostbyname",
    "waitpid",
    "wait4",
];

#[test]
fn the_binary_defines_the_hooks_exactly_with_the_feature() {
    // Name the crate, as a user's program does (a dependency never named links
    // nothing of it).
    let _ = greenlet::monkey::is_active();
    let exe = std::env::current_exe().unwrap();
    let out = match Command::new("nm").arg("--defined-only").arg(&exe).output() {
        Ok(out) if out.status.success() => out,
        other => panic!("`nm` is needed for this test (binutils): {other:?}"),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let defined: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, kind, name) = (f.next()?, f.next()?, f.next()?);
            matches!(kind, "T" | "W").then_some(name)
        })
        .collect();
    let present: Vec<&str> = HOOKS
        .iter()
        .copied()
        .filter(|h| defined.contains(h))
        .collect();
    if cfg!(feature = "monkey") {
        assert_eq!(present, HOOKS, "with the feature every hook is defined");
    } else {
        assert!(
            present.is_empty(),
            "without the feature none is: {present:?}"
        );
    }
}
