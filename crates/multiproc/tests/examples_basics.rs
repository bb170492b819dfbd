//! One test per example of the chapter's Basics page, checking what it prints. Pids may differ,
//! and the order is checked only where it is causal.

mod common;

use common::{assert_before, run_example};

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

fn sorted(s: &str) -> Vec<&str> {
    let mut v = lines(s);
    v.sort_unstable();
    v
}

#[test]
fn simple() {
    let (out, _, code) = run_example("simple", &[]);
    assert_eq!(code, Some(0));
    assert_eq!(lines(&out), ["Worker"; 5]);
}

#[test]
fn simpleargs() {
    let (out, _, code) = run_example("simpleargs", &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        sorted(&out),
        [
            "Worker: 0",
            "Worker: 1",
            "Worker: 2",
            "Worker: 3",
            "Worker: 4"
        ]
    );
}

#[test]
fn import_main() {
    let (out, _, code) = run_example("import_main", &[]);
    assert_eq!(code, Some(0));
    assert_eq!(lines(&out), ["Worker"; 5]);
}

#[test]
fn names() {
    let (out, _, code) = run_example("names", &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        sorted(&out),
        [
            "Process-3 Exiting",
            "Process-3 Starting",
            "my_service Exiting",
            "my_service Starting",
            "worker 1 Exiting",
            "worker 1 Starting"
        ]
    );
    for name in ["worker 1", "Process-3", "my_service"] {
        assert_before(
            &out,
            &format!("{name} Starting"),
            &format!("{name} Exiting"),
        );
    }
}

#[test]
fn daemon() {
    let (out, _, code) = run_example("daemon", &[]);
    assert_eq!(code, Some(0));
    let l = lines(&out);
    assert_eq!(l.len(), 3, "{out}");
    assert!(l[0].starts_with("Starting: daemon "), "{out}");
    let pid = l[1]
        .strip_prefix("Starting: non-daemon ")
        .expect("non-daemon start");
    assert_eq!(l[2], format!("Exiting : non-daemon {pid}"));
    assert!(
        !out.contains("Exiting : daemon"),
        "the daemon must not finish: {out}"
    );
}

#[test]
fn daemon_join() {
    let (out, _, code) = run_example("daemon_join", &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        sorted(&out),
        [
            "Exiting : daemon",
            "Exiting : non-daemon",
            "Starting: daemon",
            "Starting: non-daemon"
        ]
    );
    assert_before(&out, "Starting: daemon", "Exiting : daemon");
    assert_before(&out, "Starting: non-daemon", "Exiting : non-daemon");
}

#[test]
fn daemon_join_timeout() {
    let (out, _, code) = run_example("daemon_join_timeout", &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        sorted(&out),
        [
            "Exiting : non-daemon",
            "Starting: daemon",
            "Starting: non-daemon",
            "d.is_alive() True"
        ]
    );
    assert!(!out.contains("Exiting : daemon"), "{out}");
}

#[test]
fn terminate() {
    let (out, _, code) = run_example("terminate", &[]);
    assert_eq!(code, Some(0));
    let l: Vec<&str> = lines(&out)
        .into_iter()
        .filter(|l| !l.ends_with(" worker"))
        .collect();
    assert_eq!(l[0], "BEFORE: <Process(Process-1, initial)> False");
    assert_eq!(l[1], "DURING: <Process(Process-1, started)> True");
    // Right after the signal, the child may or may not have died yet (as in Python).
    assert!(
        l[2].starts_with("TERMINATED: <Process(Process-1, "),
        "{out}"
    );
    assert_eq!(l[3], "JOINED: <Process(Process-1, stopped[SIGTERM])> False");
    assert!(!out.contains("Finished worker"), "{out}");
}

#[test]
fn exitcode() {
    let (out, err, code) = run_example("exitcode", &[]);
    assert_eq!(code, Some(0));
    let l = lines(&out);
    assert_eq!(
        l[..5],
        [
            "Starting process for exit_error",
            "Starting process for exit_ok",
            "Starting process for return_value",
            "Starting process for raises",
            "Starting process for terminated"
        ]
    );
    assert_eq!(
        l[5..],
        [
            "exit_error.exitcode = 1",
            "exit_ok.exitcode = 0",
            "return_value.exitcode = 0",
            "raises.exitcode = 1",
            "terminated.exitcode = -15"
        ]
    );
    assert_before(&err, "Process raises:", "There was an error!");
}

#[test]
fn log_to_stderr() {
    let (out, err, code) = run_example("log_to_stderr", &[]);
    assert_eq!(code, Some(0));
    assert_eq!(out, "Doing some work\n");
    assert_eq!(
        lines(&err),
        [
            "[INFO/Process-1] child process calling self.run()",
            "[INFO/Process-1] process shutting down",
            "[DEBUG/Process-1] running all \"atexit\" finalizers with priority >= 0",
            "[DEBUG/Process-1] running the remaining \"atexit\" finalizers",
            "[INFO/Process-1] process exiting with exitcode 0",
            "[INFO/MainProcess] process shutting down",
            "[DEBUG/MainProcess] running all \"atexit\" finalizers with priority >= 0",
            "[DEBUG/MainProcess] running the remaining \"atexit\" finalizers",
        ]
    );
}

#[test]
fn get_logger() {
    let (out, err, code) = run_example("get_logger", &[]);
    assert_eq!(code, Some(0));
    assert_eq!(out, "Doing some work\n");
    assert_eq!(
        lines(&err),
        [
            "[INFO/Process-1] child process calling self.run()",
            "[INFO/Process-1] process shutting down",
            "[INFO/Process-1] process exiting with exitcode 0",
            "[INFO/MainProcess] process shutting down",
        ]
    );
}

#[test]
fn subclass() {
    let (out, _, code) = run_example("subclass", &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        sorted(&out),
        [
            "In Worker-1",
            "In Worker-2",
            "In Worker-3",
            "In Worker-4",
            "In Worker-5"
        ]
    );
}

#[test]
fn nothing_is_logged_by_default() {
    let (_, err, code) = run_example("simple", &[]);
    assert_eq!(code, Some(0));
    assert_eq!(err, "");
}

/// The pids of the processes in process group `pgid`, running or not yet reaped (from /proc).
fn group_members(pgid: u32) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
        // state ppid pgrp ...
        if rest[2].parse::<u32>().ok() == Some(pgid) {
            out.push(format!(
                "{pid} {} {} ppid {}",
                &stat[stat.find('(').unwrap_or(0)..=close],
                rest[0],
                rest[1]
            ));
        }
    }
    out
}

/// Regression: the fork server used to die of its parent-death signal a moment after the
/// program exited; the exit sequence now stops it and waits, so nothing outlives the program.
#[test]
fn no_process_outlives_the_program() {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    for name in ["simple", "pool", "daemon"] {
        let mut child = common::example(name)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pgid = child.id();
        // A watchdog bounds the blocking wait, which returns the instant the program exits.
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watchdog = {
            let done = done.clone();
            std::thread::spawn(move || {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                while !done.load(std::sync::atomic::Ordering::SeqCst)
                    && std::time::Instant::now() < deadline
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                if !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &format!("-{pgid}")])
                        .status();
                }
            })
        };
        let status = child.wait().unwrap();
        let members = group_members(pgid);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        watchdog.join().unwrap();
        assert!(status.success(), "{name}: {status}");
        // Checked at once: anything still there outlived the program.
        assert_eq!(
            members,
            Vec::<String>::new(),
            "{name} left processes behind"
        );
    }
}
