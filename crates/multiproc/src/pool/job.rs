//! A [`Job`]: a chunk of tasks on its way through the pool, and how its [`Outcome`] comes back,
//! whole or pieced together from several runs.

use std::os::fd::OwnedFd;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::error::{PoolError, TaskError};
use super::task::{Answer, ChunkReply, Failure, ItemReply, SubsetFn};
use crate::codec::{self, Bytes, Fd};

/// One task's encoded value (with its descriptors) or its error.
pub(crate) type ItemResult = Result<(Bytes, Vec<Fd>), TaskError>;

/// How a chunk ended, as the submitter sees it.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Every task returned: the encoded `Vec<R>`.
    Values { bytes: Bytes, fds: Vec<Fd> },
    /// Per task: an encoded `R`, or the task's error.
    Items(Vec<ItemResult>),
    /// The chunk failed as a whole; every task in it gets this error.
    Failed(TaskError),
}

/// Where a chunk's outcome goes. Runs on the pool's scheduler thread.
pub(crate) type Sink = Box<dyn FnOnce(Outcome) + Send>;

/// A chunk of tasks to run.
pub(crate) struct Job {
    /// The task entry, as an offset from the anchor symbol, and its type tag.
    pub(crate) entry: i64,
    pub(crate) tag: u64,
    /// The encoded `Vec<A>` and the descriptors it refers to.
    pub(crate) items: Bytes,
    pub(crate) fds: Vec<Fd>,
    /// How many tasks.
    pub(crate) n: usize,
    /// Each task's own time limit.
    pub(crate) timeout: Option<Duration>,
    /// The results go to a gathering of several runs: they must come one per task.
    pub(crate) per_task: bool,
    pub(crate) sink: Sink,
    /// Re-encodes some of the tasks, to run them again on their own.
    pub(crate) subset: Option<SubsetFn>,
    /// Set by [`AsyncResult::cancel`](super::AsyncResult::cancel).
    pub(crate) cancelled: Option<Arc<AtomicBool>>,
    /// Workers that died holding it while they ran no task (see the scheduler).
    pub(crate) unexplained_deaths: u8,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("n", &self.n)
            .field("bytes", &self.items.0.len())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Job {
    /// How the worker answers this job.
    pub(crate) fn answer(&self) -> Answer {
        if self.timeout.is_some() {
            Answer::Stream
        } else if self.per_task {
            Answer::PerTask
        } else {
            Answer::Whole
        }
    }

    /// Whether this job carries `flag` (its `AsyncResult`'s cancel flag).
    pub(crate) fn has_flag(&self, flag: &Arc<AtomicBool>) -> bool {
        self.cancelled
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, flag))
    }

    /// Completes the job with `outcome`.
    pub(crate) fn finish(self, outcome: Outcome) {
        (self.sink)(outcome);
    }

    /// Fails every task of the job with `error`.
    pub(crate) fn fail(self, error: TaskError) {
        self.finish(Outcome::Failed(error));
    }

    /// The job's outcome once some of its tasks are settled (`settled[k]`, one slot per task,
    /// all empty or of length `n`) and the others still have to run: the job to run for the
    /// others, whose results join the settled ones before the whole outcome goes to this
    /// job's sink. `None` if nothing is left to run (the outcome has been delivered).
    pub(crate) fn remainder(self, settled: Vec<Option<ItemResult>>) -> Option<Job> {
        if settled.iter().all(Option::is_none) {
            return Some(self);
        }
        debug_assert_eq!(settled.len(), self.n);
        let open: Vec<usize> = (0..self.n).filter(|&k| settled[k].is_none()).collect();
        if open.is_empty() {
            let items = settled.into_iter().map(|r| r.expect("settled")).collect();
            self.finish(Outcome::Items(items));
            return None;
        }
        let part = self
            .subset
            .and_then(|subset| subset(&self.items.0, &self.fds, &open));
        let gather = Arc::new(Mutex::new(Gather {
            items: settled,
            left: open.len(),
            sink: Some(self.sink),
        }));
        let Some(part) = part else {
            let error = TaskError::Failed("the task could not be sent to another worker".into());
            Gather::put(&gather, &open, Outcome::Failed(error));
            return None;
        };
        Some(Job {
            entry: self.entry,
            tag: self.tag,
            items: Bytes(part.bytes),
            fds: part.fds.into_iter().map(Fd::from).collect(),
            n: open.len(),
            timeout: self.timeout,
            per_task: true,
            subset: self.subset,
            cancelled: self.cancelled,
            unexplained_deaths: self.unexplained_deaths,
            sink: Box::new(move |o| Gather::put(&gather, &open, o)),
        })
    }
}

/// Collects the results of a chunk that ran in several parts.
struct Gather {
    items: Vec<Option<ItemResult>>,
    left: usize,
    sink: Option<Sink>,
}

impl Gather {
    /// Puts the outcome of the part that ran the tasks at `positions`.
    fn put(this: &Mutex<Gather>, positions: &[usize], outcome: Outcome) {
        let mut g = this.lock().unwrap_or_else(|e| e.into_inner());
        let results: Vec<ItemResult> = match outcome {
            Outcome::Items(v) if v.len() == positions.len() => v,
            Outcome::Failed(e) => positions.iter().map(|_| Err(e.clone())).collect(),
            _ => {
                let e = TaskError::Failed("malformed reply for part of a chunk".into());
                positions.iter().map(|_| Err(e.clone())).collect()
            }
        };
        for (&k, r) in positions.iter().zip(results) {
            if g.items[k].is_none() {
                g.items[k] = Some(r);
                g.left -= 1;
            }
        }
        if g.left == 0
            && let Some(sink) = g.sink.take()
        {
            let items = g
                .items
                .drain(..)
                .map(|i| i.expect("every part answered"))
                .collect();
            drop(g);
            sink(Outcome::Items(items));
        }
    }
}

/// A worker's reply as an [`Outcome`].
pub(crate) fn outcome_of(reply: ChunkReply) -> Outcome {
    match reply {
        ChunkReply::Values { bytes, fds } => Outcome::Values { bytes, fds },
        ChunkReply::Items(items) => Outcome::Items(items.into_iter().map(item_result).collect()),
        ChunkReply::Failed(f) => Outcome::Failed(task_error(f)),
        ChunkReply::Streamed => Outcome::Failed(TaskError::Failed(
            "a streamed chunk has no reply of its own".into(),
        )),
    }
}

/// A worker's report of one task as its result.
pub(crate) fn item_result(r: ItemReply) -> ItemResult {
    r.map_err(task_error)
}

fn task_error(f: Failure) -> TaskError {
    match f {
        Failure::Panicked(p) => TaskError::Panicked(p),
        Failure::Failed(m) => TaskError::Failed(m),
    }
}

/// Decodes a chunk's outcome into one result per task.
pub(crate) fn decode_outcome<R: DeserializeOwned>(
    outcome: Outcome,
    n: usize,
) -> Result<Vec<Result<R, TaskError>>, PoolError> {
    match outcome {
        Outcome::Values { bytes, fds } => {
            let fds: Vec<OwnedFd> = fds.into_iter().map(OwnedFd::from).collect();
            let v: Vec<R> = codec::decode(&bytes.0, fds).map_err(PoolError::Decode)?;
            Ok(v.into_iter().map(Ok).collect())
        }
        Outcome::Items(items) => items
            .into_iter()
            .map(|r| match r {
                Ok((bytes, fds)) => {
                    let fds: Vec<OwnedFd> = fds.into_iter().map(OwnedFd::from).collect();
                    codec::decode(&bytes.0, fds)
                        .map(Ok)
                        .map_err(PoolError::Decode)
                }
                Err(e) => Ok(Err(e)),
            })
            .collect(),
        Outcome::Failed(e) => Ok((0..n).map(|_| Err(e.clone())).collect()),
    }
}

/// The values, or the first task error (with its index).
pub(crate) fn first_error<R>(items: Vec<Result<R, TaskError>>) -> Result<Vec<R>, PoolError> {
    items
        .into_iter()
        .enumerate()
        .map(|(index, r)| r.map_err(|error| PoolError::Task { index, error }))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A job of `u32` tasks whose outcome goes to the returned channel.
    pub(crate) fn job_of(
        items: &[u32],
        timeout: Option<Duration>,
    ) -> (Job, mpsc::Receiver<Outcome>) {
        let (tx, rx) = mpsc::channel();
        let e = codec::encode(items).unwrap();
        let job = Job {
            entry: 0,
            tag: 0,
            items: Bytes(e.bytes),
            fds: Vec::new(),
            n: items.len(),
            timeout,
            per_task: false,
            sink: Box::new(move |o| drop(tx.send(o))),
            subset: Some(super::super::task::subset::<u32>),
            cancelled: None,
            unexplained_deaths: 0,
        };
        (job, rx)
    }

    /// The `u32` values of an outcome (errors as `None`).
    pub(crate) fn values(o: Outcome, n: usize) -> Vec<Result<u32, TaskError>> {
        decode_outcome::<u32>(o, n).unwrap()
    }

    pub(crate) fn item(v: u32) -> ItemResult {
        Ok((Bytes(codec::encode(&v).unwrap().bytes), Vec::new()))
    }

    #[test]
    fn remainder_runs_the_open_tasks_and_joins_the_results() {
        let (job, rx) = job_of(&[10, 11, 12, 13], None);
        let settled = vec![Some(item(100)), None, Some(Err(TaskError::Cancelled)), None];
        let part = job.remainder(settled).expect("two tasks left");
        assert_eq!(part.n, 2);
        assert!(part.per_task);
        let args: Vec<u32> = codec::decode(&part.items.0, Vec::new()).unwrap();
        assert_eq!(args, [11, 13]);
        assert!(rx.try_recv().is_err(), "not complete yet");
        part.finish(Outcome::Items(vec![item(111), Err(TaskError::Terminated)]));
        let got = values(rx.try_recv().unwrap(), 4);
        assert_eq!(
            got,
            [
                Ok(100),
                Ok(111),
                Err(TaskError::Cancelled),
                Err(TaskError::Terminated)
            ]
        );
    }

    #[test]
    fn remainder_of_a_settled_or_untouched_job() {
        let (job, rx) = job_of(&[1, 2], None);
        assert!(job.remainder(vec![Some(item(1)), Some(item(2))]).is_none());
        assert_eq!(values(rx.try_recv().unwrap(), 2), [Ok(1), Ok(2)]);
        let (job, _rx) = job_of(&[1, 2], None);
        let same = job.remainder(vec![None, None]).unwrap();
        assert!(!same.per_task);
        assert_eq!(same.n, 2);
    }
}
