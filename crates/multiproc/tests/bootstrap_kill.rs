//! Regression: a child SIGKILLed during its bootstrap makes `start` or `join` fail within a
//! bound, never hang. It kills every new child of the test process, so it has a binary of its own.

use std::collections::HashSet;
use std::thread::sleep;
use std::time::{Duration, Instant};

use multiproc::{Process, ProcessError};

/// (pid, comm) of every child of `parent`, from /proc.
fn children_of(parent: u32) -> Vec<(u32, char, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_owned();
        let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
        if rest[1].parse::<u32>().ok() == Some(parent) {
            out.push((pid, rest[0].chars().next().unwrap_or('?'), comm));
        }
    }
    out
}

fn kill9(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

fn big_arg(v: Vec<u8>) -> usize {
    v.len()
}

#[test]
fn child_killed_during_bootstrap_is_an_error_not_a_hang() {
    // A 64 MiB argument keeps the bootstrap busy while a watcher kills every new child.
    let me = std::process::id();
    // The fork server first, so that it is running (and named) before the watcher looks.
    Process::new(big_arg, Vec::new())
        .start()
        .unwrap()
        .join()
        .unwrap();
    let before: HashSet<u32> = children_of(me).into_iter().map(|(p, _, _)| p).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (pid, _, comm) in children_of(me) {
                    if !before.contains(&pid) && comm != "mp-forkserver" {
                        kill9(pid);
                    }
                }
                sleep(Duration::from_micros(200));
            }
        })
    };
    let t0 = Instant::now();
    let result = Process::new(big_arg, vec![1u8; 64 << 20])
        .start()
        .and_then(|h| h.join());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    watcher.join().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(30));
    match result {
        Err(ProcessError::Bootstrap { exitcode: -9, .. })
        | Err(ProcessError::Signaled { signal: 9, .. }) => {}
        other => panic!("expected a bootstrap error or SIGKILL, got {other:?}"),
    }
}
