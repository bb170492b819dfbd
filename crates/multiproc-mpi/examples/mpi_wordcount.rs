//! The chapter's MapReduce word count (`SimpleMapReduce`) on MPI worker ranks, checked against
//! the local pool in the same run.
//!
//! ```text
//! mpirun -np 3 mpi_wordcount FILE...      # rank 0 drives, ranks 1 and 2 count
//! mpi_wordcount --spawn 2 FILE...         # alone: spawns 2 worker ranks
//! ```
//!
//! Worker ranks open the files by the paths given, so on a cluster they must be on a shared
//! file system. It prints the top 20 words from each executor and whether the full counts are
//! equal.

use multiproc::{Executor, Pool, SimpleMapReduce};

/// Reads a file and returns (word, 1) for each word: lowercase runs of letters.
fn file_to_words(path: String) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| w.len() > 1)
        .map(|w| (w.to_lowercase(), 1))
        .collect()
}

/// Sums a word's counts (used as the combiner too).
fn count_words((word, counts): (String, Vec<u64>)) -> (String, u64) {
    (word, counts.iter().sum())
}

/// Counts on `executor`, most frequent first (ties by word).
fn count<E: Executor>(
    executor: E,
    files: &[String],
) -> Result<Vec<(String, u64)>, multiproc::PoolError> {
    let mr =
        SimpleMapReduce::with_executor(executor, file_to_words, count_words).combiner(count_words);
    let mut counts = mr.run(files.to_vec(), 1)?;
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(counts)
}

fn top(counts: &[(String, u64)]) -> String {
    counts
        .iter()
        .take(20)
        .map(|(w, n)| format!("{w} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let mpi = multiproc_mpi::init();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut spawn = 2;
    if let Some(i) = args.iter().position(|a| a == "--spawn") {
        spawn = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(2);
        args.drain(i..(i + 2).min(args.len()));
    }
    let executor = mpi.executor_or_spawn(spawn).unwrap_or_else(|e| {
        eprintln!("mpi_wordcount: {e}");
        std::process::exit(2);
    });
    println!("workers: {}, files: {}", executor.workers(), args.len());
    let remote = count(&executor, &args).unwrap_or_else(|e| {
        eprintln!("mpi_wordcount: the MPI run failed: {}", chain(&e));
        std::process::exit(1);
    });
    println!("mpi:   {} words; top: {}", remote.len(), top(&remote));
    let pool = Pool::new(2).expect("a local pool");
    let local = count(&pool, &args).expect("the local run");
    println!("local: {} words; top: {}", local.len(), top(&local));
    let same = remote == local;
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
