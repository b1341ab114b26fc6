//! The crate's layering rule, checked on its sources: a module never names anything
//! of a layer above its own (`arch/README.md`, "Layers"). Reads `src/` with
//! `std::fs`, finds every path a file names through `crate::`, `$crate::` or
//! `super::`, resolves it to the module file it lands in, and compares layers.
//!
//! Also kept here, because they are rules about where code lives: direct libc calls
//! and platform `cfg`s only in `src/sys/`, and no source file over 600 lines.

use std::fs;
use std::path::{Path, PathBuf};

/// The layers, bottom to top, as path prefixes under `src/` (the longest matching
/// prefix decides). `lib.rs` is above them all: it assembles the public surface.
const LAYERS: &[(&str, u8, &str)] = &[
    ("sys/", 1, "the platform (sys)"),
    ("stack.rs", 2, "stacks"),
    ("overflow.rs", 2, "stacks"),
    ("hub/", 3, "the hub"),
    ("greenlet/", 4, "greenlets"),
    ("io/", 5, "blocking operations"),
    ("time.rs", 5, "blocking operations"),
    ("join.rs", 5, "blocking operations"),
    ("threadpool.rs", 5, "blocking operations"),
    ("monkey/", 5, "blocking operations"),
    ("sync/raw.rs", 5, "blocking operations"),
    ("sync/waitlist.rs", 5, "blocking operations"),
    ("sync/owner.rs", 5, "blocking operations"),
    ("sync/", 6, "the typed API"),
    ("queue/", 6, "the typed API"),
    ("signal/", 6, "the typed API"),
    ("net/", 6, "the typed API"),
    ("os/", 6, "the typed API"),
    ("fs.rs", 6, "the typed API"),
    ("pool.rs", 6, "the typed API"),
    ("process/", 6, "the typed API"),
    ("local.rs", 6, "the typed API"),
    ("hubs/", 6, "the typed API"),
    ("server.rs", 6, "the typed API"),
    ("monitor.rs", 6, "the typed API"),
    ("dump.rs", 6, "the typed API"),
    ("lib.rs", 7, "the crate root"),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The layer of a file, by its path relative to `src/`.
fn layer_of(rel: &str) -> Option<(u8, &'static str)> {
    LAYERS
        .iter()
        .filter(|(prefix, _, _)| rel.starts_with(prefix))
        .max_by_key(|(prefix, _, _)| prefix.len())
        .map(|&(_, layer, name)| (layer, name))
}

/// Every `.rs` file under `dir`, relative to `src/`, with `/` separators.
fn sources(dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(src()).expect("under src/");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The source without comments and string or char literals, line breaks kept (so
/// that line numbers stay right).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    if b.get(i) == Some(&b'\n') {
                        out.push('\n');
                    }
                    i += 1;
                }
                i += 1;
                out.push_str("\"\"");
            }
            // A char literal ('x', '\n'); a lifetime ('a) is left alone.
            b'\'' if b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\') => {
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The paths (as segment lists) that start at byte `at` of `code` (just past a
/// `crate::` or `super::`): one path, or one per item of a `{...}` group.
fn paths_at(code: &[u8], mut at: usize) -> Vec<Vec<String>> {
    let mut segs = Vec::new();
    loop {
        let start = at;
        while at < code.len() && is_ident(code[at]) {
            at += 1;
        }
        if at > start {
            segs.push(String::from_utf8_lossy(&code[start..at]).into_owned());
            if code[at..].starts_with(b"::") {
                at += 2;
                continue;
            }
            return vec![segs];
        }
        if code.get(at) == Some(&b'{') {
            // The first path of each top-level item of the group.
            let mut out = Vec::new();
            let mut depth = 0;
            let mut item_start = at + 1;
            let mut j = at;
            while j < code.len() {
                match code[j] {
                    b'{' => depth += 1,
                    b'}' | b',' if depth == 1 => {
                        let mut skip = item_start;
                        while skip < j && code[skip].is_ascii_whitespace() {
                            skip += 1;
                        }
                        for tail in paths_at(code, skip) {
                            if !tail.is_empty() && tail[0] != "self" {
                                let mut p = segs.clone();
                                p.extend(tail);
                                out.push(p);
                            }
                        }
                        item_start = j + 1;
                        if code[j] == b'}' {
                            break;
                        }
                    }
                    b'}' => depth -= 1,
                    _ => {}
                }
                j += 1;
            }
            if out.is_empty() {
                out.push(segs);
            }
            return out;
        }
        return vec![segs];
    }
}

/// The module file a path (from the crate root) lands in: the deepest prefix of it
/// that is a module of the crate.
fn module_file(segs: &[String]) -> Option<String> {
    let root = src();
    let mut dir = String::new();
    let mut found = None;
    for seg in segs {
        let file = format!("{dir}{seg}.rs");
        let modrs = format!("{dir}{seg}/mod.rs");
        if root.join(&file).is_file() {
            found = Some(file);
            dir = format!("{dir}{seg}/");
        } else if root.join(&modrs).is_file() {
            found = Some(modrs);
            dir = format!("{dir}{seg}/");
        } else {
            break;
        }
    }
    found
}

/// The module path of a file: `hub/ctx.rs` -> [hub, ctx]; `hub/mod.rs` -> [hub].
fn module_path(rel: &str) -> Vec<String> {
    let mut segs: Vec<String> = rel.split('/').map(str::to_string).collect();
    let last = segs.pop().expect("a file name");
    match last.as_str() {
        "mod.rs" | "lib.rs" => {}
        name => segs.push(name.trim_end_matches(".rs").to_string()),
    }
    segs
}

/// Every path a file names outside itself: (line, path from the crate root).
fn named_paths(rel: &str, text: &str) -> Vec<(usize, Vec<String>)> {
    let code = code_only(text);
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !is_ident(b[i - 1]);
        let line = || code[..i].matches('\n').count() + 1;
        if boundary && b[i..].starts_with(b"crate::") {
            for p in paths_at(b, i + "crate::".len()) {
                out.push((line(), p));
            }
            i += "crate::".len();
        } else if boundary && b[i..].starts_with(b"super::") {
            let mut base = module_path(rel);
            let mut j = i;
            while b[j..].starts_with(b"super::") {
                base.pop();
                j += "super::".len();
            }
            for tail in paths_at(b, j) {
                let mut p = base.clone();
                p.extend(tail);
                out.push((line(), p));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn no_module_names_a_layer_above_its_own() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    files.sort();
    assert!(files.len() > 40, "found only {} source files", files.len());
    let mut violations = Vec::new();
    for rel in &files {
        let (layer, name) = layer_of(rel).unwrap_or_else(|| {
            panic!("src/{rel} has no layer: add it to LAYERS in tests/layering.rs")
        });
        let text = fs::read_to_string(src().join(rel)).expect("a readable source file");
        for (line, path) in named_paths(rel, &text) {
            let Some(target) = module_file(&path) else {
                continue; // Not a module of this crate (a macro's own name, say).
            };
            let (to, to_name) = layer_of(&target).expect("a module file has a layer");
            if to > layer {
                violations.push(format!(
                    "src/{rel}:{line} ({name}, layer {layer}) names crate::{} in src/{target} \
                     ({to_name}, layer {to})",
                    path.join("::")
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "a lower layer names a higher one; move the code down, or reach it through a \
         hook the lower layer offers:\n{}",
        violations.join("\n")
    );
}

#[test]
fn libc_and_platform_cfgs_live_in_sys() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let mut found = Vec::new();
    for rel in files.iter().filter(|f| !f.starts_with("sys/")) {
        let code = code_only(&fs::read_to_string(src().join(rel)).expect("readable"));
        for (n, line) in code.lines().enumerate() {
            let compact: String = line.split_whitespace().collect();
            if line.contains("libc::")
                || compact.contains("cfg(target_")
                || compact.contains("cfg(not(target_")
                || compact.contains("asm!(")
            {
                found.push(format!("src/{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "direct libc calls, inline asm and platform cfgs belong in src/sys/:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_source_file_is_over_600_lines() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|rel| {
            let n = fs::read_to_string(src().join(rel)).ok()?.lines().count();
            (n > 600).then(|| format!("src/{rel}: {n} lines"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "a file past 600 lines is usually two ideas; split it:\n{}",
        long.join("\n")
    );
}

/// The checker itself: it must see the paths it is meant to see.
#[test]
fn the_checker_resolves_paths() {
    let text = "use crate::{hub::Hub, greenlet::{self, Header}};\n\
                use super::raw::Raw; // crate::net::TcpStream in a comment\n\
                let s = \"crate::pool\"; crate::sync::raw::Raw::new();";
    let got: Vec<(usize, String)> = named_paths("sync/event.rs", text)
        .into_iter()
        .map(|(l, p)| (l, p.join("::")))
        .collect();
    assert_eq!(
        got,
        [
            (1, "hub::Hub".to_string()),
            (1, "greenlet::Header".to_string()),
            (2, "sync::raw::Raw".to_string()),
            (3, "sync::raw::Raw::new".to_string()),
        ]
    );
    assert_eq!(
        module_file(&["sync".into(), "raw".into(), "Raw".into()]).as_deref(),
        Some("sync/raw.rs")
    );
    assert_eq!(
        module_file(&["hub".into(), "Hub".into()]).as_deref(),
        Some("hub/mod.rs")
    );
    assert_eq!(layer_of("sync/raw.rs").map(|l| l.0), Some(5));
    assert_eq!(layer_of("sync/event.rs").map(|l| l.0), Some(6));
    assert_eq!(layer_of("hub/ctx.rs").map(|l| l.0), Some(3));
}
