//! [`Imap`]: the lazy iterator of `imap`, `imap_unordered` and `try_imap`.

use std::collections::{BTreeMap, VecDeque};
use std::marker::PhantomData;
use std::sync::mpsc::{self, Receiver, Sender};

use super::job::{Job, Outcome};
use super::{MapOptions, Payload, Pool, PoolError, Task, TaskError, decode_outcome};

/// Chunks kept in flight per worker while the caller consumes results.
const WINDOW_PER_WORKER: usize = 2;

type MakeJob<'p, A> =
    Box<dyn Fn(&[A], Sender<(usize, Outcome)>, usize) -> Result<Job, PoolError> + 'p>;

/// Results of a lazy map, in input order (`imap`) or completion order (`imap_unordered`).
///
/// The input is pulled only as far as the workers need, so an endless iterator works and memory
/// stays bounded. Each item is the task's value or a [`PoolError::Task`] carrying its input
/// position; an input that yields `Err` ends the iteration with [`PoolError::Input`], after the
/// results of the items before it.
pub struct Imap<'p, A, R, I> {
    pool: &'p Pool,
    input: I,
    input_done: bool,
    input_error: Option<String>,
    chunksize: usize,
    window: usize,
    make_job: MakeJob<'p, A>,
    tx: Sender<(usize, Outcome)>,
    rx: Receiver<(usize, Outcome)>,
    /// Input positions and lengths of submitted chunks, by chunk number.
    starts: Vec<(usize, usize)>,
    submitted: usize,
    in_flight: usize,
    ordered: bool,
    next_chunk: usize,
    buffered: BTreeMap<usize, VecDeque<Result<R, PoolError>>>,
    ready: VecDeque<Result<R, PoolError>>,
    failed: Option<PoolError>,
    _a: PhantomData<fn(A)>,
}

impl<A, R, I> std::fmt::Debug for Imap<'_, A, R, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Imap")
            .field("submitted", &self.submitted)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

impl<'p, A, R, I> Imap<'p, A, R, I>
where
    A: Payload,
    R: Payload,
{
    pub(crate) fn new<F, E>(pool: &'p Pool, input: I, options: MapOptions, ordered: bool) -> Self
    where
        F: Task<A, R>,
        E: std::fmt::Display,
        I: Iterator<Item = Result<A, E>>,
    {
        let (tx, rx) = mpsc::channel();
        let timeout = options.timeout;
        let (chunksize, failed) = match options.chunksize_or(1) {
            Ok(n) => (n, None),
            Err(e) => (1, Some(e)),
        };
        let make_job: MakeJob<'p, A> = Box::new(move |items, tx, ci| {
            pool.job::<F, A, R>(items, timeout, Box::new(move |o| drop(tx.send((ci, o)))))
        });
        Imap {
            pool,
            input,
            input_done: failed.is_some(),
            input_error: None,
            chunksize,
            window: pool.processes() * WINDOW_PER_WORKER,
            make_job,
            tx,
            rx,
            starts: Vec::new(),
            submitted: 0,
            in_flight: 0,
            ordered,
            next_chunk: 0,
            buffered: BTreeMap::new(),
            ready: VecDeque::new(),
            failed,
            _a: PhantomData,
        }
    }
}

impl<A, R, E, I> Iterator for Imap<'_, A, R, I>
where
    A: Payload,
    R: Payload,
    E: std::fmt::Display,
    I: Iterator<Item = Result<A, E>>,
{
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.top_up();
            if self.ordered {
                if let Some(q) = self.buffered.get_mut(&self.next_chunk) {
                    if let Some(item) = q.pop_front() {
                        return Some(item);
                    }
                    self.buffered.remove(&self.next_chunk);
                    self.next_chunk += 1;
                    continue;
                }
            } else if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            if self.in_flight == 0 {
                if let Some(e) = self.failed.take() {
                    return Some(Err(e));
                }
                if self.input_done {
                    return self.input_error.take().map(|e| Err(PoolError::Input(e)));
                }
                continue;
            }
            let Ok((ci, outcome)) = self.rx.recv() else {
                return Some(Err(PoolError::Closed));
            };
            self.in_flight -= 1;
            let (start, len) = self.starts[ci];
            let items: VecDeque<Result<R, PoolError>> = match decode_outcome::<R>(outcome, len) {
                Ok(v) => v
                    .into_iter()
                    .enumerate()
                    .map(|(k, r)| {
                        r.map_err(|error: TaskError| PoolError::Task {
                            index: start + k,
                            error,
                        })
                    })
                    .collect(),
                Err(e) => VecDeque::from([Err(e)]),
            };
            if self.ordered {
                self.buffered.insert(ci, items);
            } else {
                self.ready.extend(items);
            }
        }
    }
}

impl<A, R, E, I> Imap<'_, A, R, I>
where
    A: Payload,
    R: Payload,
    E: std::fmt::Display,
    I: Iterator<Item = Result<A, E>>,
{
    /// Submits chunks until the window is full or the input ends.
    fn top_up(&mut self) {
        while !self.input_done && self.failed.is_none() && self.in_flight < self.window {
            let mut chunk = Vec::with_capacity(self.chunksize);
            while chunk.len() < self.chunksize {
                match self.input.next() {
                    Some(Ok(a)) => chunk.push(a),
                    Some(Err(e)) => {
                        self.input_error = Some(e.to_string());
                        self.input_done = true;
                        break;
                    }
                    None => {
                        self.input_done = true;
                        break;
                    }
                }
            }
            if chunk.is_empty() {
                return;
            }
            let ci = self.starts.len();
            let start = self.submitted;
            match (self.make_job)(&chunk, self.tx.clone(), ci)
                .and_then(|job| self.pool.submit_job(job))
            {
                Ok(()) => {
                    self.starts.push((start, chunk.len()));
                    self.submitted += chunk.len();
                    self.in_flight += 1;
                }
                Err(e) => {
                    self.failed = Some(e);
                    self.input_done = true;
                }
            }
        }
    }
}
