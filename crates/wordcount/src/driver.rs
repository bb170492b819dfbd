//! The driver: the map step on the workers of any [`Executor`], the reduce step here.
//!
//! [`count_on`] is the one way sources are counted, whatever runs the map step: a local
//! [`Pool`](multiproc::Pool) of worker processes (what the `wordcount` program runs), the MPI
//! executor's ranks, or [`Threads`] of this process ([`count_paths`]). Workers send counts,
//! never `(word, 1)` pairs (map-side combining): what crosses a process boundary is one
//! vocabulary-sized table per task, and the driver merges them. Three things stay in the
//! driver:
//!
//! - inputs that can be read only once ([`Source::reads_once`]: pipes, devices, files that
//!   `stat` calls empty such as those under `/proc`) are counted here, on a thread, while the
//!   workers count the rest: a pipe is read by the process it was given to, and `/proc/self`
//!   is this process;
//! - words that workers set aside for being too long to send are read back here, once
//!   ([`crate::long_word`]);
//! - the first error in input order is the one reported, whichever worker met it.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use multiproc::{Executor, PoolError};

use crate::claim::ClaimList;
use crate::counts::Counts;
use crate::error::Error;
use crate::long_word::{LongWord, read_back};
use crate::plan::{DEFAULT_CHUNK_SIZE, PlanOptions, plan_with};
use crate::source::{Source, Tally};
use crate::threads::Threads;

/// How [`count_on`] hands the sources to the executor's workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// One task per worker, which claims sources one at a time, in input order, from a list in
    /// shared memory until none is left, and sends back one table: a free worker always takes
    /// the next source, and no worker is sent the whole list. For executors whose workers can
    /// map this process's shared memory: a local [`Pool`](multiproc::Pool), [`Threads`].
    Claim,
    /// Consecutive sources in groups of about a quarter of a worker's share, one task each,
    /// which the executor gives to whichever worker is free. For executors whose workers
    /// cannot share memory with this process, such as MPI ranks. Progress is reported only
    /// when all groups are done.
    Groups,
}

/// Why counting failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// An input could not be read or decoded, or changed while it was counted (the first
    /// failing one in input order).
    #[error(transparent)]
    Input(#[from] Error),
    /// The executor failed (a worker that could not start, a task that crashed). Its
    /// [`source`](std::error::Error::source) says how; the message does not repeat it.
    #[error("the workers failed")]
    Executor(#[from] PoolError),
    /// The list of sources could not be put in shared memory for the workers.
    #[error("cannot share the list of inputs with the workers")]
    Share(#[source] std::io::Error),
}

/// What a task or the driver's own counting gives: a tally, or the first error met and the
/// position of its source in the input.
type Outcome = Result<Tally, (usize, Error)>;

/// What a worker runs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
enum Task {
    /// Claim sources from the shared list until none is left.
    Claim(ClaimList),
    /// Count these sources, given with their positions in the input.
    Group(Vec<(usize, Source)>),
}

/// The map task: counts its sources into one tally, setting long words aside. Stops at the
/// first error.
fn run_task(task: Task) -> Outcome {
    let mut tally = Tally::default();
    match task {
        Task::Claim(list) => {
            while let Some((k, index, source)) = list.claim() {
                if let Err(e) = tally.count(index, &source, true) {
                    list.stop_after(k);
                    return Err((index, e));
                }
                list.add_counted(source.len().unwrap_or(0));
            }
        }
        Task::Group(sources) => {
            for (index, source) in &sources {
                tally.count(*index, source, true).map_err(|e| (*index, e))?;
            }
        }
    }
    Ok(tally)
}

/// Counts `sources` on `executor`'s workers and merges their counts.
///
/// Sources that can be read only once are counted by this process, on a thread, meanwhile;
/// words that the workers set aside are read back here. `progress`, if given, is called with
/// the bytes counted since its last call, about ten times a second with [`Dispatch::Claim`]
/// (from another thread, which is not started without it).
///
/// # Errors
///
/// [`RunError::Input`] with the error of the first source in input order that failed (no
/// counts are returned then), [`RunError::Executor`] when the executor failed.
pub fn count_on<E: Executor>(
    executor: &E,
    sources: Vec<Source>,
    dispatch: Dispatch,
    progress: Option<&(dyn Fn(u64) + Sync)>,
) -> Result<Counts, RunError> {
    let (here, there): (Vec<_>, Vec<_>) = sources
        .into_iter()
        .enumerate()
        .partition(|(_, s)| s.reads_once());
    let (local, remote) = thread::scope(|scope| {
        let local = (!here.is_empty()).then(|| scope.spawn(|| count_here(&here, progress)));
        let remote = count_there(executor, &there, dispatch, progress);
        let local = local.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (local, remote)
    });
    let outcomes = remote?;
    reduce(local.into_iter().chain(outcomes), &there)
}

/// Counts the sources read once, in this process.
fn count_here(sources: &[(usize, Source)], progress: Option<&(dyn Fn(u64) + Sync)>) -> Outcome {
    let mut tally = Tally::default();
    for (index, source) in sources {
        tally
            .count(*index, source, false)
            .map_err(|e| (*index, e))?;
        if let Some(progress) = progress {
            progress(source.len().unwrap_or(0));
        }
    }
    Ok(tally)
}

/// Counts `sources` on the executor's workers.
fn count_there<E: Executor>(
    executor: &E,
    sources: &[(usize, Source)],
    dispatch: Dispatch,
    progress: Option<&(dyn Fn(u64) + Sync)>,
) -> Result<Vec<Outcome>, RunError> {
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    match dispatch {
        Dispatch::Claim => {
            let list = ClaimList::new(sources).map_err(RunError::Share)?;
            let workers = executor.workers().clamp(1, sources.len());
            let tasks = vec![Task::Claim(list.clone()); workers];
            let Some(progress) = progress else {
                return Ok(executor.map(run_task, tasks, Some(1))?);
            };
            let (finished, wait) = mpsc::channel::<()>();
            thread::scope(|scope| {
                scope.spawn(move || {
                    let mut reported = 0;
                    loop {
                        let last = !matches!(
                            wait.recv_timeout(Duration::from_millis(100)),
                            Err(mpsc::RecvTimeoutError::Timeout)
                        );
                        let now = list.counted();
                        progress(now - reported);
                        reported = now;
                        if last {
                            return;
                        }
                    }
                });
                let outcomes = executor.map(run_task, tasks, Some(1));
                drop(finished);
                Ok(outcomes?)
            })
        }
        Dispatch::Groups => {
            let tasks: Vec<Task> = group(sources, executor.workers())
                .into_iter()
                .map(Task::Group)
                .collect();
            let outcomes = executor.map(run_task, tasks, Some(1))?;
            if let Some(progress) = progress {
                progress(sources.iter().filter_map(|(_, s)| s.len()).sum());
            }
            Ok(outcomes)
        }
    }
}

/// Splits `sources` into consecutive groups of about `total / (4 × workers)` bytes, never
/// splitting a source.
fn group(sources: &[(usize, Source)], workers: usize) -> Vec<Vec<(usize, Source)>> {
    const GROUPS_PER_WORKER: u64 = 4;
    let total: u64 = sources.iter().filter_map(|(_, s)| s.len()).sum();
    let target = (total / (GROUPS_PER_WORKER * workers.max(1) as u64)).max(1);
    let mut groups = Vec::new();
    let mut current = Vec::new();
    let mut size = 0;
    for s in sources {
        size += s.1.len().unwrap_or(target);
        current.push(s.clone());
        if size >= target {
            groups.push(std::mem::take(&mut current));
            size = 0;
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// The reduce step: merges the tallies, or gives the error of the first source in input
/// order that failed; then reads back the words set aside (`there` holds their sources).
fn reduce(
    outcomes: impl IntoIterator<Item = Outcome>,
    there: &[(usize, Source)],
) -> Result<Counts, RunError> {
    let mut total = Counts::new();
    let mut set_aside = Vec::new();
    let mut first_error: Option<(usize, Error)> = None;
    for outcome in outcomes {
        match outcome {
            Ok(tally) if first_error.is_none() => {
                total.merge_from(tally.counts);
                set_aside.extend(tally.set_aside);
            }
            Ok(_) => {}
            Err((i, e)) => {
                if first_error.as_ref().is_none_or(|(j, _)| i < *j) {
                    first_error = Some((i, e));
                }
            }
        }
    }
    if let Some((_, e)) = first_error {
        return Err(e.into());
    }
    // Each distinct word once, in input order, with the number of times it was set aside.
    let mut distinct: HashMap<(u64, [u8; 32]), (usize, LongWord, u64)> = HashMap::new();
    for (index, word) in set_aside {
        let entry = distinct.entry(word.key()).or_insert((index, word, 0));
        entry.2 += 1;
        if (index, word.start) < (entry.0, entry.1.start) {
            (entry.0, entry.1) = (index, word);
        }
    }
    let mut distinct: Vec<_> = distinct.into_values().collect();
    distinct.sort_unstable_by_key(|(index, word, _)| (*index, word.start));
    for (index, word, n) in distinct {
        let chunk = there
            .binary_search_by_key(&index, |(i, _)| *i)
            .ok()
            .and_then(|k| match &there[k].1 {
                Source::File(chunk) => Some(chunk),
                Source::Embedded(_) => None,
            })
            .expect("a word set aside comes from a file chunk of this run");
        total.add_owned(read_back(chunk, &word)?, n);
    }
    Ok(total)
}

/// Options of [`count_paths`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Number of worker threads.
    pub workers: NonZeroUsize,
    /// Target chunk size in bytes (see [`PlanOptions::chunk_size`]).
    pub chunk_size: u64,
    /// Replace invalid UTF-8 instead of failing.
    pub lossy: bool,
}

impl Default for Options {
    /// As many workers as [`thread::available_parallelism`], 4 MiB chunks,
    /// strict UTF-8.
    fn default() -> Self {
        Options {
            workers: default_workers(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            lossy: false,
        }
    }
}

/// The number of CPUs available, or 1 when unknown.
pub fn default_workers() -> NonZeroUsize {
    thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// Counts the words of files and directories on threads of this process: [`plan_with`], then
/// [`count_on`] [`Threads`].
///
/// # Errors
///
/// The first error of planning, or else that of [`count_on`].
pub fn count_paths<P: AsRef<Path>>(paths: &[P], options: &Options) -> Result<Counts, RunError> {
    let plan_options = PlanOptions {
        chunk_size: options.chunk_size,
        lossy: options.lossy,
    };
    let sources = plan_with(paths, &plan_options)?
        .into_iter()
        .map(Source::File)
        .collect();
    count_on(
        &Threads::new(options.workers),
        sources,
        Dispatch::Claim,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Chunk;

    #[test]
    fn groups_are_balanced_and_keep_order() {
        let sources: Vec<(usize, Source)> = (0..4).map(|i| (i, Source::Embedded(i))).collect();
        let g = group(&sources, 1);
        assert_eq!(g.concat(), sources);
        assert!(!g.is_empty() && g.len() <= 4);
        assert!(group(&[], 2).is_empty());
    }

    /// Every message followed by those of its sources, as `wordcount` prints an error.
    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut source = e.source();
        while let Some(s) = source {
            out.push(s.to_string());
            source = s.source();
        }
        out
    }

    #[test]
    fn errors_print_each_cause_once_regression() {
        // "…giving up on it: …giving up on it": the message of `RunError::Executor` held its
        // source's, which was printed again after it.
        #[derive(Debug, thiserror::Error)]
        #[error("MPI rank 2 sent nothing for 5.0 s; giving up on it")]
        struct Silent;
        let errors = [
            RunError::Executor(PoolError::Executor(Box::new(Silent))),
            RunError::Executor(PoolError::Task {
                index: 3,
                error: multiproc::TaskError::WorkerDied {
                    worker: "PoolWorker-2".into(),
                    exitcode: -9,
                },
            }),
            RunError::Executor(PoolError::Closed),
            RunError::Share(std::io::Error::other("no memory")),
            RunError::Input(Error::InvalidUtf8 {
                path: "x".into(),
                offset: 1,
            }),
            RunError::Input(Error::Changed {
                path: "y".into(),
                change: crate::Change::Replaced,
            }),
            RunError::Input(Error::io(
                Path::new("z"),
                crate::IoAction::Read,
                &std::io::Error::other("disk on fire"),
            )),
        ];
        for e in &errors {
            let parts = chain(e);
            for (i, part) in parts.iter().enumerate() {
                for later in &parts[i + 1..] {
                    assert!(
                        !part.contains(later.as_str()),
                        "{parts:?} repeats {later:?}"
                    );
                }
            }
        }
        assert_eq!(
            chain(&errors[0]).join(": "),
            "the workers failed: MPI rank 2 sent nothing for 5.0 s; giving up on it"
        );
    }

    #[test]
    fn the_first_error_in_input_order_wins_and_no_counts_are_returned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut paths = Vec::new();
        for (name, bytes) in [
            ("a.txt", b"good words\n".to_vec()),
            (
                "b.txt",
                [&b"fine ".repeat(50)[..], b"\nbad \xff\n"].concat(),
            ),
            ("c.txt", b"more good words\n".to_vec()),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).expect("write");
            paths.push(path);
        }
        let missing = dir.path().join("d-missing.txt");
        let sources: Vec<Source> = paths
            .iter()
            .map(|p| {
                let chunks = crate::plan(&[p]).expect("plan");
                Source::File(chunks[0].clone())
            })
            .chain([Source::File(Chunk {
                planned: Some(crate::Stamp {
                    ino: 0,
                    size: 1,
                    mtime: (0, 0),
                    ctime: (0, 0),
                }),
                ..Chunk::whole(&missing)
            })])
            .collect();
        for workers in [1, 2, 3] {
            let threads = Threads::new(NonZeroUsize::new(workers).expect("nonzero"));
            for dispatch in [Dispatch::Claim, Dispatch::Groups] {
                let err = count_on(&threads, sources.clone(), dispatch, None)
                    .expect_err("b.txt is not UTF-8");
                match err {
                    RunError::Input(Error::InvalidUtf8 { path, .. }) => {
                        assert_eq!(path, paths[1]);
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        let good: Vec<Source> = vec![sources[0].clone(), sources[2].clone()];
        let counts = count_on(
            &Threads::new(NonZeroUsize::MIN),
            good,
            Dispatch::Claim,
            None,
        )
        .expect("good files");
        assert_eq!(counts.get("good"), 2);
        assert_eq!(counts.get("words"), 2);
    }
}
