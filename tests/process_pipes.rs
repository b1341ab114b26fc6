//! Green subprocesses' pipes: megabytes on stdout and stderr at once, stdin and
//! stdout both ways, a pipe end handed to another child, and the builder's settings.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use greenlet::process::{Command, Stdio};

const MIB8: usize = 8 << 20;

/// Runs `script` with `output()`, under a timeout that turns a deadlock into a
/// failure.
fn output_of(script: &str) -> greenlet::process::Output {
    let script = script.to_string();
    greenlet::with_timeout(Duration::from_secs(60), move || {
        Command::new("sh").args(["-c", &script]).output()
    })
    .expect("output() deadlocked")
    .unwrap()
}

fn assert_all(bytes: &[u8], len: usize, byte: u8, what: &str) {
    assert_eq!(bytes.len(), len, "{what}: length");
    assert!(bytes.iter().all(|&b| b == byte), "{what}: content");
}

#[test]
fn eight_mib_to_each_of_stdout_and_stderr() {
    // Either order deadlocks a parent that drains one pipe to its end before the
    // other: the child blocks on the full second pipe and never closes the first.
    let out = output_of(
        "head -c 8388608 /dev/zero | tr '\\0' o; head -c 8388608 /dev/zero | tr '\\0' e >&2",
    );
    assert!(out.status.success(), "{:?}", out.status);
    assert_all(&out.stdout, MIB8, b'o', "stdout");
    assert_all(&out.stderr, MIB8, b'e', "stderr");

    let out = output_of(
        "head -c 8388608 /dev/zero | tr '\\0' e >&2; head -c 8388608 /dev/zero | tr '\\0' o",
    );
    assert!(out.status.success(), "{:?}", out.status);
    assert_all(&out.stdout, MIB8, b'o', "stdout");
    assert_all(&out.stderr, MIB8, b'e', "stderr");
}

#[test]
fn stdin_and_stdout_both_ways_at_once() {
    // `cat` echoes 4 MiB: writing it all before reading would deadlock on one
    // thread (cat blocks on its full stdout, we on its full stdin).
    let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = {
        let data = data.clone();
        greenlet::spawn(move || stdin.write_all(&data)) // dropped at the end: EOF
    };
    let mut got = Vec::new();
    greenlet::with_timeout(Duration::from_secs(60), || {
        child.stdout.as_mut().unwrap().read_to_end(&mut got)
    })
    .expect("stdin/stdout deadlocked")
    .unwrap();
    writer.join().unwrap().unwrap();
    assert!(got == data, "cat echoed {} bytes, not the same", got.len());
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_pipe_end_handed_to_another_child_is_blocking_again() {
    // `cat` reading a non-blocking stdin would fail with EAGAIN before the first
    // child writes.
    let mut first = Command::new("sh")
        .args(["-c", "sleep 0.1; echo through two children"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let second = Command::new("cat")
        .stdin(Stdio::from(first.stdout.take().unwrap()))
        .output()
        .unwrap();
    assert!(
        second.status.success(),
        "cat: {}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(second.stdout, b"through two children\n");
    assert!(first.wait().unwrap().success());
}

#[test]
fn a_write_to_a_child_that_closed_its_stdin_is_broken_pipe() {
    let mut child = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    assert!(child.wait().unwrap().success());
    let e = stdin.write_all(&[0; 1 << 20]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
}

#[test]
fn env_and_current_dir() {
    let out = Command::new("sh")
        .args(["-c", "echo \"$FOO|${HOME-unset}|$(pwd)\""])
        .env("FOO", "bar")
        .env_remove("HOME")
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"bar|unset|/\n");

    let out = Command::new("/usr/bin/env")
        .env_clear()
        .env("ONLY", "1")
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"ONLY=1\n");
}

#[test]
fn output_defaults_apply_to_output_only() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "read x || echo empty stdin"]);
    // output: stdin is empty (null), stdout captured.
    assert_eq!(cmd.output().unwrap().stdout, b"empty stdin\n");
    // spawn afterwards: stderr, which only output set, is back to inherited (no
    // pipe), as std.
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(child.stderr.is_none());
    assert!(child.wait().unwrap().success());
    // A stream set by the caller is not captured by output.
    let out = Command::new("sh")
        .args(["-c", "echo to stderr >&2"])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(out.stderr.is_empty() && out.status.success());
}
