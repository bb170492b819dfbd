//! The pool examples: what they print, and Ctrl-C leaving no orphans.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::run_example;

fn starting_lines(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| l.starts_with("Starting PoolWorker-"))
        .collect()
}

#[test]
fn pool() {
    let (out, _, code) = run_example("pool", &[]);
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Input   : [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
    assert_eq!(lines[1], "Built-in: [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]");
    assert_eq!(
        *lines.last().unwrap(),
        "Pool    : [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]"
    );
    // One line per worker: cpu_count() * 2 of them (the example's process sees the same CPUs
    // as this one), each name once, PoolWorker-1 to PoolWorker-n.
    let starts = starting_lines(&out);
    assert_eq!(starts.len(), lines.len() - 3, "{out}");
    let n = multiproc::cpu_count() * 2;
    let mut names = starts.clone();
    names.sort_unstable_by_key(|l| {
        l.trim_start_matches("Starting PoolWorker-")
            .parse::<usize>()
            .ok()
    });
    let expected: Vec<String> = (1..=n)
        .map(|k| format!("Starting PoolWorker-{k}"))
        .collect();
    assert_eq!(names, expected, "{out}");
}

#[test]
fn pool_maxtasksperchild() {
    let (out, _, code) = run_example("pool_maxtasksperchild", &[]);
    assert_eq!(code, Some(0));
    assert!(
        out.ends_with("Pool    : [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]\n"),
        "{out}"
    );
    let starts = starting_lines(&out);
    // Ten one-task chunks, two per worker: at least five workers, retired ones replaced by new
    // names (the initializer runs again in each).
    assert!(starts.len() >= 5, "{out}");
    let mut names = starts.clone();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), starts.len(), "{out}");
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// Whether this process ignores SIGINT: a shell without job control starts a background
/// command (`cargo test &`) that way, and the example would inherit it.
fn sigint_ignored() -> bool {
    let mask = u64::from_str_radix(&common::proc_status_field("self", "SigIgn"), 16).unwrap();
    mask & (1 << (2 - 1)) != 0
}

/// The example, started with SIGINT's default action even where this process ignores it
/// (through `python3`, which restores it and then executes the example in its place).
fn example_with_default_sigint(name: &str) -> std::process::Command {
    if !sigint_ignored() {
        return common::example(name);
    }
    let mut cmd = std::process::Command::new("python3");
    cmd.args([
        "-c",
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); \
         os.execv(sys.argv[1], sys.argv[1:])",
    ])
    .arg(common::example_path(name));
    cmd
}

#[test]
fn sigint_ends_the_pool_without_orphans() {
    let mut child = example_with_default_sigint("pool_interrupt")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut workers = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "example ended early"
        );
        if let Some(pid) = line.trim().strip_prefix("worker ") {
            workers.push(pid.parse::<u32>().unwrap());
        } else if line.trim() == "mapping" {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    assert!(!workers.is_empty());
    std::thread::sleep(Duration::from_millis(200));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the parent did not end on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    while workers.iter().any(|p| alive(*p)) {
        assert!(Instant::now() < deadline, "orphaned workers: {workers:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
