//! The MapReduce on processes: chunks are mapped to [`Counts`] in the workers of a
//! [`multiproc`] executor (a local [`Pool`] or the MPI executor), and the counts are reduced in
//! this process.
//!
//! Workers send counts, never `(word, 1)` pairs (map-side combining): what crosses process
//! boundaries is one vocabulary-sized table per task. On a local pool, [`count_on_pool`] gives
//! each worker one task that claims chunks through a counter in shared memory until none is
//! left, so each worker sends a single table. On other executors, [`count_on`] sends *groups*
//! of consecutive chunks, about four per worker, so a slow worker does not hold the others
//! back for long.

use std::time::Duration;

use multiproc::{Executor, Pool, PoolError, Value};
use serde::{Deserialize, Serialize};

use crate::chunk::Chunk;
use crate::corpus::CORPUS;
use crate::count::{count_chunk_into, count_text};
use crate::counts::Counts;
use crate::error::{Error, Result};

/// Groups per worker.
const GROUPS_PER_WORKER: u64 = 4;

/// What a worker counts: a chunk of a file, or one of the files compiled into the binary
/// (which every worker has, since it runs the same executable).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// A byte range of a file.
    File(Chunk),
    /// [`CORPUS`]`[i]`.
    Embedded(usize),
}

impl Source {
    /// Its length in bytes, if known.
    pub fn len(&self) -> Option<u64> {
        match self {
            Source::File(c) => c.len(),
            Source::Embedded(i) => CORPUS.get(*i).map(|f| f.text.len() as u64),
        }
    }

    /// Whether it is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

/// The embedded corpus as sources.
pub fn embedded_sources() -> Vec<Source> {
    (0..CORPUS.len()).map(Source::Embedded).collect()
}

/// Splits `sources` into consecutive groups of about `total / (4 × workers)` bytes, never
/// splitting a source.
pub fn group(sources: Vec<Source>, workers: usize) -> Vec<Vec<Source>> {
    let total: u64 = sources.iter().filter_map(Source::len).sum();
    let target = (total / (GROUPS_PER_WORKER * workers.max(1) as u64)).max(1);
    let mut groups = Vec::new();
    let mut current = Vec::new();
    let mut size = 0;
    for s in sources {
        size += s.len().unwrap_or(target);
        current.push(s);
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

/// Counts one source into `counts`.
fn count_source_into(source: &Source, counts: &mut Counts) -> Result<()> {
    match source {
        Source::File(chunk) => count_chunk_into(chunk, counts),
        Source::Embedded(i) => {
            let file = CORPUS.get(*i).ok_or_else(|| Error::Io {
                path: format!("<embedded #{i}>").into(),
                action: crate::IoAction::Open,
                kind: crate::IoKind::NotFound,
                message: "no such embedded file".into(),
            })?;
            counts.merge_from(count_text(file.text));
            Ok(())
        }
    }
}

/// The map task: counts one group of sources into one table. On error, the error of the
/// group's first failing source.
fn count_group(group: Vec<Source>) -> Result<Counts> {
    let mut counts = Counts::new();
    for s in &group {
        count_source_into(s, &mut counts)?;
    }
    Ok(counts)
}

/// Why counting on processes failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A file could not be read or decoded (the first failing one in input order).
    #[error(transparent)]
    Input(#[from] Error),
    /// The executor failed (a worker that could not start, a task that crashed). Its
    /// [`source`](std::error::Error::source) says how; the message does not repeat it.
    #[error("the workers failed")]
    Executor(#[from] PoolError),
}

/// Reduces the per-group results: the counts, or the error of the first group in input order.
fn reduce(results: impl IntoIterator<Item = (usize, Result<Counts>)>) -> Result<Counts> {
    let mut total = Counts::new();
    let mut first_error: Option<(usize, Error)> = None;
    for (i, r) in results {
        match r {
            Ok(c) if first_error.is_none() => total.merge_from(c),
            Ok(_) => {}
            Err(e) => {
                if first_error.as_ref().is_none_or(|(j, _)| i < *j) {
                    first_error = Some((i, e));
                }
            }
        }
    }
    match first_error {
        Some((_, e)) => Err(e),
        None => Ok(total),
    }
}

/// What a local worker is given: every source, and the shared counters through which the
/// workers claim sources one after another and report the bytes they have counted.
type Claim = (Vec<Source>, Value<u64>, Value<u64>);

/// The map task on a local pool: claims sources until none is left, counting them all into
/// one table, so each worker sends back a single table however many chunks it counted. On an
/// error, stops and returns it with the source's position.
fn count_claimed((sources, next, done): Claim) -> Result<Counts, (usize, Error)> {
    let mut counts = Counts::new();
    loop {
        let i = next.with_lock(|n| {
            let i = *n;
            *n += 1;
            i
        }) as usize;
        let Some(source) = sources.get(i) else {
            return Ok(counts);
        };
        count_source_into(source, &mut counts).map_err(|e| (i, e))?;
        done.with_lock(|d| *d += source.len().unwrap_or(0));
    }
}

/// Counts `sources` on a local pool, calling `progress` with the bytes counted so far, about
/// ten times a second. Workers claim sources dynamically through shared memory, so a slow
/// worker holds nothing back, and each sends back one table.
pub fn count_on_pool(
    pool: &Pool,
    sources: Vec<Source>,
    progress: &dyn Fn(u64),
) -> Result<Counts, RunError> {
    let next = Value::new(0u64);
    let done = Value::new(0u64);
    let workers = pool.processes().min(sources.len()).max(1);
    let tasks: Vec<Claim> = (0..workers)
        .map(|_| (sources.clone(), next.clone(), done.clone()))
        .collect();
    let pending = pool.map_async(count_claimed, tasks)?;
    let mut reported = 0;
    while !pending.wait_timeout(Duration::from_millis(100)) {
        let now = done.get();
        progress(now - reported);
        reported = now;
    }
    progress(done.get() - reported);
    let mut total = Counts::new();
    let mut first_error: Option<(usize, Error)> = None;
    for r in pending.get()? {
        match r {
            Ok(c) => total.merge_from(c),
            Err((i, e)) => {
                if first_error.as_ref().is_none_or(|(j, _)| i < *j) {
                    first_error = Some((i, e));
                }
            }
        }
    }
    match first_error {
        Some((_, e)) => Err(e.into()),
        None => Ok(total),
    }
}

/// Counts `sources` on any executor (for example the MPI executor).
pub fn count_on<E: Executor>(executor: &E, sources: Vec<Source>) -> Result<Counts, RunError> {
    let groups = group(sources, executor.workers());
    let results = executor.map(count_group, groups, Some(1))?;
    Ok(reduce(results.into_iter().enumerate())?)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn executor_errors_print_once_regression() {
        // A silent MPI rank printed "…giving up on it: …giving up on it": the message of
        // `RunError::Executor` held its source's, which was printed again after it.
        #[derive(Debug, thiserror::Error)]
        #[error("MPI rank 2 (pid 7 on node3) sent nothing for 5.0 s; giving up on it")]
        struct Silent;
        let errors = [
            RunError::Executor(PoolError::Executor(Box::new(Silent))),
            RunError::Executor(PoolError::Task {
                index: 3,
                error: multiproc::TaskError::Failed("boom".into()),
            }),
            RunError::Executor(PoolError::Closed),
            RunError::Input(Error::InvalidUtf8 {
                path: "x".into(),
                offset: 1,
            }),
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
            "the workers failed: MPI rank 2 (pid 7 on node3) sent nothing for 5.0 s; giving up on it"
        );
    }

    #[test]
    fn groups_are_balanced_and_keep_order() {
        let sources: Vec<Source> = (0..4).map(Source::Embedded).collect();
        let g = group(sources.clone(), 1);
        assert_eq!(g.concat(), sources);
        assert!(!g.is_empty() && g.len() <= 4);
        assert_eq!(group(Vec::new(), 2), Vec::<Vec<Source>>::new());
    }
}
