//! The local driver: map chunks on threads, reduce the counts.
//!
//! This is the seam where an executor plugs in: [`plan_with`] gives owned,
//! serializable chunks, [`count_chunk`](crate::count_chunk) maps one to
//! owned, serializable [`Counts`], and [`merge`](crate::merge) reduces. Here
//! the map runs on `std::thread` workers that pull the next chunk as they
//! become free.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use crate::chunk::{Chunk, DEFAULT_CHUNK_SIZE, PlanOptions, plan_with};
use crate::count::count_chunk_into;
use crate::counts::Counts;
use crate::error::{Error, Result};

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

/// Counts the words of files and directories: plans the chunks, maps them on
/// `options.workers` threads and reduces the counts.
///
/// # Errors
///
/// The first error of planning, or else the error of the first chunk (in
/// plan order) that failed; no counts are returned then.
pub fn count_paths<P: AsRef<Path>>(paths: &[P], options: &Options) -> Result<Counts> {
    let plan_options = PlanOptions {
        chunk_size: options.chunk_size,
        lossy: options.lossy,
    };
    let chunks = plan_with(paths, &plan_options)?;
    count_chunks(&chunks, options.workers, &|_| {})
}

/// Maps `chunks` on `workers` threads and reduces the counts.
///
/// Workers take chunks in order, each as soon as it is free (dynamic
/// scheduling), and combine the counts of all their chunks in one map before
/// the final reduce. `progress` is called with the length of every chunk done
/// (0 for chunks of unknown length), from the worker threads.
///
/// # Errors
///
/// The error of the first chunk in `chunks` that failed. Once a chunk fails,
/// no chunk after it is started.
pub fn count_chunks(
    chunks: &[Chunk],
    workers: NonZeroUsize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Counts> {
    let next = AtomicUsize::new(0);
    // Index of the first failed chunk (usize::MAX while none has failed).
    let first_failed = AtomicUsize::new(usize::MAX);
    let failure: Mutex<Option<(usize, Error)>> = Mutex::new(None);

    let work = || {
        let mut counts = Counts::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= chunks.len() || i > first_failed.load(Ordering::Relaxed) {
                break;
            }
            let chunk = &chunks[i];
            match count_chunk_into(chunk, &mut counts) {
                Ok(()) => progress(chunk.len().unwrap_or(0)),
                Err(err) => {
                    first_failed.fetch_min(i, Ordering::Relaxed);
                    let mut failure = failure.lock().unwrap_or_else(|p| p.into_inner());
                    if failure.as_ref().is_none_or(|(j, _)| i < *j) {
                        *failure = Some((i, err));
                    }
                    break;
                }
            }
        }
        counts
    };

    let workers = workers.get().min(chunks.len()).max(1);
    let mut parts: Vec<Counts> = if workers == 1 {
        vec![work()]
    } else {
        thread::scope(|s| {
            let handles: Vec<_> = (0..workers).map(|_| s.spawn(work)).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };

    if let Some((_, err)) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(err);
    }
    // Reduce into the largest part.
    parts.sort_by_key(Counts::len);
    let mut total = parts.pop().unwrap_or_default();
    for part in parts {
        total.merge_from(part);
    }
    Ok(total)
}
