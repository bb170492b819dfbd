//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The path of a built example, built (again) if it is missing or older than the library it
/// links: a filtered `cargo test --test X` does not rebuild the examples, and an old example
/// binary would test old code.
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let deps = exe.parent().expect("target/<profile>/deps");
    let profile_dir = deps.parent().expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    let modified = |p: &std::path::Path| p.metadata().and_then(|m| m.modified()).ok();
    let newest_lib = std::fs::read_dir(deps)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("libmultiproc-"))
        .filter_map(|e| modified(&e.path()))
        .max();
    let stale = match (modified(&path), newest_lib) {
        (None, _) => true,
        (Some(example), Some(lib)) => example < lib,
        (Some(_), None) => false,
    };
    if stale {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "--quiet", "-p", "multiproc", "--example", name]);
        // The features of this test build (an example may require one), so that the library
        // is not rebuilt with other features.
        if cfg!(feature = "tokio") {
            cargo.args(["--features", "tokio"]);
        }
        let status = cargo.status().expect("run cargo build");
        assert!(status.success(), "building example {name} failed");
    }
    path
}

/// A command running example `name`.
pub fn example(name: &str) -> Command {
    Command::new(example_path(name))
}

/// Runs `cmd` to completion, killing it if it runs longer than `limit`.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().expect("spawn");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "command ran longer than {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs example `name` with `args` (bounded to 60 s) and returns (stdout, stderr, exit code).
pub fn run_example(name: &str, args: &[&str]) -> (String, String, Option<i32>) {
    let mut cmd = example(name);
    cmd.args(args);
    let out = run_bounded(cmd, Duration::from_secs(60));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

/// Asserts that `first` appears in `text` on a line before the line holding `second`.
pub fn assert_before(text: &str, first: &str, second: &str) {
    let a = text
        .lines()
        .position(|l| l.contains(first))
        .unwrap_or_else(|| panic!("{first:?} missing in:\n{text}"));
    let b = text
        .lines()
        .position(|l| l.contains(second))
        .unwrap_or_else(|| panic!("{second:?} missing in:\n{text}"));
    assert!(a < b, "{first:?} should come before {second:?} in:\n{text}");
}

/// A connected pair of connections for tests (through a pipe between processes).
pub fn connection_pair() -> (multiproc::Connection, multiproc::Connection) {
    multiproc::pipe(true)
}
