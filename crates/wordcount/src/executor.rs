//! The MapReduce on processes: chunks are mapped to [`Counts`] in the workers of a
//! [`multiproc`] executor (a local [`Pool`] or the MPI executor), and the counts are reduced in
//! this process as they arrive.
//!
//! Workers send counts, never `(word, 1)` pairs: each task counts a *group* of consecutive
//! chunks into one table (map-side combining), so what crosses process boundaries is one
//! vocabulary-sized table per group. There are about four groups per worker, so a slow worker
//! does not hold the others back for long.

use multiproc::{Executor, Pool, PoolError};
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

/// The map task: counts one group of sources into one table. On error, the error of the
/// group's first failing source.
fn count_group(group: Vec<Source>) -> Result<Counts> {
    let mut counts = Counts::new();
    for s in &group {
        match s {
            Source::File(chunk) => count_chunk_into(chunk, &mut counts)?,
            Source::Embedded(i) => {
                let file = CORPUS.get(*i).ok_or_else(|| Error::Io {
                    path: format!("<embedded #{i}>").into(),
                    action: crate::IoAction::Open,
                    kind: crate::IoKind::NotFound,
                    message: "no such embedded file".into(),
                })?;
                counts.merge_from(count_text(file.text));
            }
        }
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
    /// The executor failed (a worker that could not start, a task that crashed).
    #[error("the workers failed: {0}")]
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

/// Counts `sources` on a local pool, calling `progress` with the bytes of each group as it
/// finishes.
pub fn count_on_pool(
    pool: &Pool,
    sources: Vec<Source>,
    progress: &dyn Fn(u64),
) -> Result<Counts, RunError> {
    let groups = group(sources, pool.processes());
    let n = groups.len();
    let sizes: Vec<u64> = groups
        .iter()
        .map(|g| g.iter().filter_map(Source::len).sum())
        .collect();
    let mut results = Vec::with_capacity(n);
    // Results in completion order, merged while the other groups are still counted.
    let input = groups.into_iter().enumerate().map(Ok::<_, String>);
    for r in pool.try_imap(count_indexed, input, multiproc::MapOptions::new(), false) {
        let (i, counts) = r?;
        progress(sizes[i]);
        results.push((i, counts));
    }
    // Every group is collected: the first failing one in input order decides the error.
    Ok(reduce(results)?)
}

fn count_indexed((i, group): (usize, Vec<Source>)) -> (usize, Result<Counts>) {
    (i, count_group(group))
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

    #[test]
    fn groups_are_balanced_and_keep_order() {
        let sources: Vec<Source> = (0..4).map(Source::Embedded).collect();
        let g = group(sources.clone(), 1);
        assert_eq!(g.concat(), sources);
        assert!(!g.is_empty() && g.len() <= 4);
        assert_eq!(group(Vec::new(), 2), Vec::<Vec<Source>>::new());
    }
}
