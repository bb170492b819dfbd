//! `map` on MPI worker ranks, checked against the local pool in the same run.
//!
//! ```text
//! mpirun -np 3 mpi_map            # rank 0 drives, ranks 1 and 2 serve
//! mpi_map --spawn 2               # alone: spawns 2 worker ranks
//! mpi_map --panic                 # task 13 panics: a task error, on both executors
//! mpi_map --abort                 # task 13 aborts its process: a task error, the run goes on
//! mpi_map --kill-rank             # task 13 kills its MPI rank: the run fails, bounded
//! mpi_map --stop-rank --timeout 2 # task 13 stops its rank: the run fails after the timeout
//! ```
//!
//! It prints the number of workers, a summary of each executor's results, and whether they
//! are equal.

use std::time::Duration;

use multiproc::{Executor, Pool, TaskError};
use serde::{Deserialize, Serialize};

/// What task 13 does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Trouble {
    None,
    Panic,
    Abort,
    KillRank,
    StopRank,
}

fn task((x, trouble): (u64, Trouble)) -> u64 {
    if x == 13 {
        match trouble {
            Trouble::None => {}
            Trouble::Panic => panic!("thirteen"),
            Trouble::Abort => std::process::abort(),
            Trouble::KillRank => {
                // This task runs in a pool process whose parent is the MPI rank.
                let rank = std::os::unix::process::parent_id();
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &rank.to_string()])
                    .status();
                std::thread::sleep(Duration::from_secs(30));
            }
            Trouble::StopRank => {
                let rank = std::os::unix::process::parent_id();
                let _ = std::process::Command::new("kill")
                    .args(["-STOP", &rank.to_string()])
                    .status();
                std::thread::sleep(Duration::from_secs(30));
            }
        }
    }
    x * x
}

/// A result in a form that does not depend on where it ran.
fn normalize(r: &Result<u64, TaskError>) -> String {
    match r {
        Ok(v) => v.to_string(),
        Err(TaskError::Panicked(p)) => format!("panicked: {}", p.message()),
        Err(TaskError::WorkerDied { exitcode, .. }) => format!("died: {exitcode}"),
        Err(e) => format!("failed: {e}"),
    }
}

fn summary(results: &[Result<u64, TaskError>]) -> String {
    let sum: u64 = results.iter().filter_map(|r| r.as_ref().ok()).sum();
    let errors: Vec<String> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_err())
        .map(|(i, r)| format!("{i}: {}", normalize(r)))
        .collect();
    format!(
        "{} results, sum {sum}, errors [{}]",
        results.len(),
        errors.join("; ")
    )
}

/// Prints a line on stderr in one write, so that `mpirun` does not interleave it with others.
fn say(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}

fn main() {
    let mpi = multiproc_mpi::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let trouble = if flag("--panic") {
        Trouble::Panic
    } else if flag("--abort") {
        Trouble::Abort
    } else if flag("--kill-rank") {
        Trouble::KillRank
    } else if flag("--stop-rank") {
        Trouble::StopRank
    } else {
        Trouble::None
    };
    let tasks = value("--tasks").unwrap_or(1000) as u64;
    let spawn = value("--spawn").unwrap_or(2);
    if trouble != Trouble::None {
        // The expected panics are reported as task errors; keep stderr for the rest.
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.to_string().contains("thirteen") {
                default(info);
            }
        }));
    }
    let timeout = value("--timeout").unwrap_or(10) as u64;
    let mpi = mpi.timeout(Duration::from_secs(timeout));
    let executor = match mpi.executor_or_spawn(spawn) {
        Ok(e) => e,
        Err(e) => {
            say(&format!("mpi_map: {e}"));
            std::process::exit(2);
        }
    };
    let mode = if executor.under_mpirun() {
        "mpirun"
    } else {
        "spawned"
    };
    println!(
        "workers: {} ({mode}, hosts: {})",
        executor.workers(),
        executor.hosts().join(", ")
    );
    let inputs: Vec<(u64, Trouble)> = (0..tasks).map(|x| (x, trouble)).collect();
    let remote = match executor.map_each(task, inputs.clone(), None) {
        Ok(r) => r,
        Err(e) => {
            say(&format!("mpi_map: the MPI map failed: {}", chain(&e)));
            std::process::exit(1);
        }
    };
    println!("mpi:   {}", summary(&remote));
    // The executor serves call after call: an empty one, and one task per message.
    let empty: Vec<u64> = executor.map(task, Vec::new(), None).expect("an empty map");
    let small = executor
        .map(task, (0..5).map(|x| (x, Trouble::None)).collect(), Some(1))
        .expect("a second map");
    println!("again: {} and {small:?}", empty.len());
    if matches!(trouble, Trouble::KillRank | Trouble::StopRank) {
        // Here the task would kill this process, the local pool's parent.
        return;
    }
    let pool = Pool::new(2).expect("a local pool");
    let local = pool
        .map_each(task, inputs, multiproc::MapOptions::new())
        .expect("the local map");
    println!("local: {}", summary(&local));
    let same = remote.iter().map(normalize).eq(local.iter().map(normalize));
    println!("equal: {same}");
    if !same {
        std::process::exit(1);
    }
}

/// An error and its sources, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}
