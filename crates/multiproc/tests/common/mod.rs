//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use multiproc::{Handle, ProcessError};
use serde::de::DeserializeOwned;

/// The value of field `key` in `/proc/<pid>/status` ("self" for this process), trimmed.
pub fn proc_status_field(pid: &str, key: &str) -> String {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {key} in {path}"))
        .trim()
        .to_owned()
}

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

/// The environment variable that tells a test binary which test it runs alone (see [`alone`]).
const ALONE: &str = "MULTIPROC_TEST_ALONE";

/// How long a test run alone by [`alone`] may take, its process start included.
pub const ALONE_LIMIT: Duration = Duration::from_secs(180);

/// Runs `body` alone in a fresh process of this test binary: for the tests that start processes
/// with the `fork` method, whose promise (no other thread of the process inside a critical
/// section the child needs) the test harness's process cannot keep, since its other test
/// threads run anything at any moment.
///
/// `name` is the test's name in its binary (the function's name, for a test at the top of an
/// integration test file). In the harness's process, this re-runs the binary with
/// `name --exact --test-threads=1 --nocapture` and fails, with that process's output, if the
/// test fails, is not found, or runs longer than [`ALONE_LIMIT`] (the process is killed then,
/// and its children, which get SIGKILL when their parent dies, with it); it returns that
/// process's output, for checks on what it printed. In the fresh process it runs `body`, on
/// the one test thread there is (the harness's main thread only waits for it), and returns
/// `None`.
pub fn alone(name: &str, body: impl FnOnce()) -> Option<Output> {
    if std::env::var_os(ALONE).is_some_and(|v| v == name) {
        body();
        return None;
    }
    let mut cmd = Command::new(std::env::current_exe().expect("test binary path"));
    cmd.args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, name);
    let out = run_bounded(cmd, ALONE_LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "test {name} failed (or was not found) in its own process ({})\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out)
}

/// How long the tests let a process run before they call it stuck.
pub const STUCK: Duration = Duration::from_secs(60);

/// `join` and `wait` with a bound, for tests: a process that has not ended within `limit` is
/// killed, and the test fails saying so, instead of waiting forever (a stuck child that is not
/// a daemon would also hold up the test binary's exit, which joins it).
///
/// For a child that a test expects to end because of something the test did (a wake, a
/// release), the child's own waits must be longer than `limit`, so that a lost wake fails here
/// instead of ending late and passing.
pub trait JoinWithin<R> {
    /// Joins the process if it ends within `limit`; fails the test (after killing it) if it
    /// does not.
    fn join_within(self, limit: Duration) -> Result<R, ProcessError>;

    /// The process's exit code, once it ends within `limit` (`Handle::wait` with a bound);
    /// fails the test (after killing it) if it does not.
    fn wait_within(&self, limit: Duration) -> i32;
}

impl<R: DeserializeOwned> JoinWithin<R> for Handle<R> {
    fn join_within(self, limit: Duration) -> Result<R, ProcessError> {
        self.wait_within(limit);
        self.join()
    }

    fn wait_within(&self, limit: Duration) -> i32 {
        match self.join_timeout(limit) {
            Some(code) => code,
            None => panic!("did not end within {limit:?}: {}", kill_late(self)),
        }
    }
}

/// A test's watchdog, for tests that wait on something other than a process (a pool's results,
/// a thread): if it is still armed [`TEST_LIMIT`] after it was made, it prints which test is
/// stuck and aborts the whole test binary, so that a deadlock fails CI with a message rather
/// than hanging it. (An abort skips the exit sequence, which would join a stuck child.)
/// Dropping it, at the end of the test, disarms it.
#[must_use = "the watchdog is disarmed when dropped"]
#[derive(Debug)]
pub struct Watchdog {
    _disarm: mpsc::Sender<()>,
}

/// How long a test may run before its [`Watchdog`] aborts the test binary: far more than any
/// test takes on a loaded machine.
pub const TEST_LIMIT: Duration = Duration::from_secs(300);

/// Arms a [`Watchdog`] for the calling test, for [`TEST_LIMIT`].
pub fn watchdog() -> Watchdog {
    let limit = TEST_LIMIT;
    let (disarm, armed) = mpsc::channel::<()>();
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            if armed.recv_timeout(limit) == Err(mpsc::RecvTimeoutError::Timeout) {
                // Straight to stderr: the harness's capture of the test's output would be lost.
                let _ = writeln!(
                    std::io::stderr(),
                    "watchdog: {test} is still running after {limit:?}; aborting the test binary"
                );
                std::process::abort();
            }
        })
        .expect("start the watchdog thread");
    Watchdog { _disarm: disarm }
}

/// [`JoinWithin::join_within`] for several children, all by the same deadline; every child
/// still running then is killed before the test fails.
pub fn join_all_within<R: DeserializeOwned>(
    children: Vec<Handle<R>>,
    limit: Duration,
) -> Vec<Result<R, ProcessError>> {
    let deadline = Instant::now() + limit;
    let late: Vec<String> = children
        .iter()
        .filter(|c| c.join_deadline(deadline).is_none())
        .map(kill_late)
        .collect();
    assert!(late.is_empty(), "did not end within {limit:?}: {late:?}");
    children.into_iter().map(|c| c.join()).collect()
}

/// Kills a child that did not end in time (so that no process is left behind) and says which.
fn kill_late<R: DeserializeOwned>(c: &Handle<R>) -> String {
    let _ = c.kill();
    let reaped = c.join_timeout(Duration::from_secs(10));
    format!("{} (pid {}, killed: {reaped:?})", c.name(), c.pid())
}

/// Waits until process `pid` sleeps (state `S` in `/proc/<pid>/stat`), as it does once it is
/// blocked in a futex wait, for at most 10 s. Returns whether it was seen asleep: a caller
/// that goes on either way tests the waking path when it was, and the already-set path when
/// the machine is too loaded for the process to get there.
pub fn wait_until_asleep(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the command name, which is in parentheses and may hold spaces.
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if state == Some('S') {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
