//! The entry point, as real programs meet it: children are caught before `main` in a library
//! used by a program that never names multiproc, in a multi-thread tokio `main` (with and
//! without `init()`), in a test binary of plain `#[test]`s, and in a `main` that prints a line
//! and requires an argument. Each program is a fixture under `tests/fixtures/`, built here and
//! run as a separate process, bounded in time.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::run_bounded;

/// The target directory's profile folder (`target/debug`), from this test binary's path.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .to_owned()
}

/// Builds the fixture programs (once per test binary) and returns the path of binary `name`.
fn fixture(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet"]);
        for p in [
            "multiproc-fixture-app",
            "multiproc-fixture-tokio",
            "multiproc-fixture-argv",
        ] {
            cmd.args(["-p", p]);
        }
        let out = run_bounded(cmd, Duration::from_secs(1200));
        assert!(
            out.status.success(),
            "building the fixtures failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    profile_dir().join(name)
}

/// The path of the fixture library's test binary of plain `#[test]`s, built once.
fn plain_tests_binary() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "test",
            "--quiet",
            "-p",
            "multiproc-fixture-lib",
            "--test",
            "plain",
            "--no-run",
            "--message-format=json",
        ]);
        let out = run_bounded(cmd, Duration::from_secs(1200));
        assert!(
            out.status.success(),
            "building the plain tests failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["target"]["name"] == "plain")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo names the test executable")
    })
    .clone()
}

/// Runs `path` with `args`, bounded to 60 s: (stdout, stderr, exit code).
fn run(path: PathBuf, args: &[&str]) -> (String, String, Option<i32>) {
    let mut cmd = Command::new(path);
    cmd.args(args);
    let out = run_bounded(cmd, Duration::from_secs(60));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

#[test]
fn library_starts_processes_for_a_program_that_never_names_multiproc() {
    let (out, err, code) = run(fixture("multiproc-fixture-app"), &[]);
    assert_eq!((code, err.as_str()), (Some(0), ""), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"app main ran"), "{out}");
    assert_eq!(out.matches("app main ran").count(), 1, "{out}");
    let squares: Vec<&str> = lines[1..7]
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(squares, ["0", "1", "4", "9", "16", "25"], "{out}");
}

/// Constructors of other crates (one with a priority, one without, so on both sides of
/// multiproc's own) run in every child exactly once, as in the main program.
#[test]
fn constructors_of_other_crates_run_once_in_children() {
    let (out, err, code) = run(fixture("multiproc-fixture-app"), &[]);
    assert_eq!((code, err.as_str()), (Some(0), ""), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 8, "{out}");
    for child in &lines[1..7] {
        assert!(child.ends_with(" 1 1"), "a child saw {child:?}:\n{out}");
    }
    assert_eq!(lines[7], "parent 1 1", "{out}");
}

fn tokio_rounds(args: &[&str]) {
    for round in 0..5 {
        let (out, err, code) = run(fixture("multiproc-fixture-tokio"), args);
        assert_eq!(
            (code, err.as_str()),
            (Some(0), ""),
            "round {round} {args:?}: {out}"
        );
        assert_eq!(
            out, "tokio main ran\n[0, 2, 4, 6, 8, 10, 12, 14, 200]\n",
            "round {round} {args:?}"
        );
    }
}

#[test]
fn tokio_multi_thread_main_without_init_five_rounds() {
    tokio_rounds(&[]);
}

#[test]
fn tokio_multi_thread_main_with_init_five_rounds() {
    tokio_rounds(&["--init"]);
}

/// `main` runs once, in the parent; children see the parent's arguments; their Rust and C
/// stdout buffers are flushed when their target returns, and C `atexit` handlers registered in
/// a spawned child run (forked children end with `_exit`, as Python's do).
#[test]
fn main_that_prints_and_requires_an_argument() {
    let (out, err, code) = run(fixture("multiproc-fixture-argv"), &["world", "--loud"]);
    assert_eq!((code, err.as_str()), (Some(0), ""), "{out}");
    assert_eq!(
        out,
        "banner\n\
         forkserver child: unterminated line|c stdio\n\
         forkserver: world --loud\n\
         spawn child: unterminated line|c stdio\n\
         c atexit handler ran\n\
         spawn: world --loud\n\
         hello world\n"
    );
}

#[test]
fn main_that_requires_an_argument_fails_alone_without_one() {
    let (out, err, code) = run(fixture("multiproc-fixture-argv"), &[]);
    assert_eq!(code, Some(2));
    assert_eq!(out, "banner\n");
    assert_eq!(err, "usage: multiproc-fixture-argv NAME\n");
}

/// Plain `#[test]`s, no attribute, no `init()`: the test that starts processes passes, and the
/// test that records its runs ran once (a child never runs the test harness).
#[test]
fn plain_tests_start_processes_and_children_never_run_the_harness() {
    let runs = tempfile::NamedTempFile::new().unwrap();
    for threads in ["--test-threads=1", "--test-threads=4"] {
        std::fs::write(runs.path(), "").unwrap();
        let mut cmd = Command::new(plain_tests_binary());
        cmd.arg(threads).env("MULTIPROC_FIXTURE_RUNS", runs.path());
        let out = run_bounded(cmd, Duration::from_secs(60));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{threads}: {stdout}\n{stderr}");
        assert_eq!(stderr, "", "{threads}");
        assert!(
            stdout.contains("test result: ok. 2 passed"),
            "{threads}: {stdout}"
        );
        let recorded = std::fs::read_to_string(runs.path()).unwrap();
        assert_eq!(
            recorded.lines().count(),
            1,
            "{threads}: the recording test ran in these processes: {recorded:?}"
        );
    }
}
