//! Helpers shared by the command-line integration tests: run the `actcomp`
//! binary, expect success or a clean error, make fresh scratch directories,
//! name fixture files. Each test file uses a subset, hence `dead_code`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `actcomp` binary built for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_actcomp");

/// `fixtures/<rel>` of the repository.
pub fn fixture_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel)
}

/// An empty directory `target/tmp/<suite>/<tag>` (removed and re-created).
pub fn tmpdir(suite: &str, tag: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(suite).join(tag);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `actcomp args`.
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("runs actcomp")
}

/// Runs `actcomp args`, which must succeed; returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "actcomp {args:?} failed:\n{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// Runs `actcomp args ... --json`, which must succeed; returns the parsed JSON.
pub fn ok_json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(args)).expect("--json prints JSON")
}

/// Runs a command that must fail with an error exit (1, or clap's 2 for usage
/// errors) whose message contains every needle: no panic, no signal.
pub fn fails(args: &[&str], needles: &[&str]) {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "actcomp {args:?} should fail");
    assert!(matches!(o.status.code(), Some(1 | 2)), "actcomp {args:?}: exit {:?}, not a clean error:\n{err}", o.status);
    assert!(!err.contains("panicked"), "actcomp {args:?} panicked:\n{err}");
    for n in needles {
        assert!(err.contains(n), "actcomp {args:?}: expected '{n}' in:\n{err}");
    }
}
