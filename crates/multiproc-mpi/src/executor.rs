//! [`MpiExecutor`]: the driver's side. It implements [`multiproc::Executor`] by handing out
//! chunks of tasks to worker ranks as they free up.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use mpi::Rank;
use mpi::environment::Universe;
use multiproc::remote::{self, TaskId};
use multiproc::{Bytes, Executor, PoolError, TaskError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::channel::{Driver, heartbeat_for, millis};
use crate::link::LinkKind;
use crate::liveness::{Backoff, this_peer};
use crate::wire::{self, FromWorker, Outcome, Peer, ToWorker};

/// Chunks sent ahead to each worker rank: at least two, so that a rank never waits for the
/// driver between two chunks; more (up to [`MAX_DEPTH`]) while its chunks take less than
/// [`QUICK`] each, so that tiny chunks are not paced by the driver's polling.
const MIN_DEPTH: usize = 2;
/// The most chunks a rank may owe.
const MAX_DEPTH: usize = 32;
/// A chunk quicker than this lets its rank be fed one chunk further ahead.
const QUICK: Duration = Duration::from_millis(1);

/// How often the driver looks whether worker ranks on its own machine are still alive.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// How long a clean shutdown may wait for the stop messages to be received.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Runs tasks on MPI worker ranks: the driver's side of an MPI job, on rank 0.
///
/// It implements [`Executor`], so [`SimpleMapReduce`](multiproc::SimpleMapReduce) and any
/// `map` written against the trait run on it unchanged. Get one from
/// [`Mpi::executor`](crate::Mpi::executor) (under `mpirun`) or
/// [`Mpi::spawn`](crate::Mpi::spawn) (from a single process).
///
/// Work is scheduled dynamically: each rank holds two chunks (more while its chunks take
/// under a millisecond each, up to 32), and gets the next one when it returns a result.
///
/// Each worker rank runs its chunks in a one-process local pool, so a task that panics *or*
/// crashes its process is a task error ([`TaskError::Panicked`], [`TaskError::WorkerDied`]),
/// as on the local [`Pool`](multiproc::Pool); a chunk whose process crashed runs again task
/// by task to find the task to blame.
///
/// A rank that dies, or owes a reply and sends nothing (not even its heartbeat) for longer
/// than the [timeout](crate::Mpi::timeout), fails the call with [`PoolError::Executor`]
/// holding an [`Error`] that names the rank and its host, and every later call fails too.
/// (When a rank or a node dies, Open MPI itself usually ends the whole job first, with a
/// report of its own.)
///
/// Tasks may have a timeout ([`Mpi::task_timeout`](crate::Mpi::task_timeout),
/// [`map_each_timeout`](MpiExecutor::map_each_timeout)), with the local pool's meaning: each
/// task's own, counted from when it starts on its rank; a task that runs past it has its
/// process killed and replaced, and fails alone with [`TaskError::Timeout`].
///
/// Dropping it stops the workers and finalizes MPI. It is neither `Send` nor `Sync`: the
/// program's MPI calls go through the thread that called [`init`](crate::init) (MPI is
/// initialized `MPI_THREAD_SERIALIZED` only so that the driver's heartbeat thread may make
/// its own, one at a time with them).
///
/// ```compile_fail
/// fn send<T: Send>() {}
/// send::<multiproc_mpi::MpiExecutor>();
/// ```
pub struct MpiExecutor {
    state: RefCell<State>,
    /// MPI calls go through the thread that initialized MPI (or the heartbeat thread).
    _not_send: std::marker::PhantomData<*const ()>,
}

struct State {
    driver: Option<Driver>,
    universe: Option<Universe>,
    workers: Vec<Worker>,
    next_chunk: u64,
    timeout: Duration,
    task_timeout: Option<Duration>,
    broken: Option<String>,
    last_watch: Instant,
}

/// A worker rank, as the driver sees it.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) rank: Rank,
    pub(crate) peer: Peer,
    /// Chunks sent and not answered.
    owed: usize,
    /// How many chunks it may owe.
    depth: usize,
    /// When it last finished a chunk.
    last_done: Option<Instant>,
    /// When it was last heard from, or when it started owing.
    last_heard: Instant,
}

impl Worker {
    pub(crate) fn new(rank: Rank, peer: Peer) -> Worker {
        Worker {
            rank,
            peer,
            owed: 0,
            depth: MIN_DEPTH,
            last_done: None,
            last_heard: Instant::now(),
        }
    }

    /// Books a reply, and adapts how far ahead it is fed: deeper while its chunks come back
    /// quickly one after the other, back to the minimum when they take long.
    fn finished_one(&mut self) {
        let now = Instant::now();
        let busy = self.owed > 1;
        self.owed -= 1;
        if let Some(last) = self.last_done.replace(now) {
            let took = now - last;
            if busy && took < QUICK {
                self.depth = (self.depth + 1).min(MAX_DEPTH);
            } else if took > QUICK * 5 {
                self.depth = MIN_DEPTH;
            }
        }
    }

    fn describe(&self) -> String {
        format!(
            "MPI rank {} (pid {} on {})",
            self.rank, self.peer.pid, self.peer.host
        )
    }
}

impl std::fmt::Debug for MpiExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.borrow();
        f.debug_struct("MpiExecutor")
            .field("kind", &s.driver.as_ref().map(|d| d.lock().link.kind()))
            .field("workers", &s.workers)
            .field("task_timeout", &s.task_timeout)
            .field("broken", &s.broken)
            .finish()
    }
}

/// A run of consecutive inputs sent as one chunk.
#[derive(Clone, Copy, Debug)]
struct Span {
    first: usize,
    len: usize,
    /// Runs alone, task by task, after a crash in its chunk.
    exact: bool,
}

impl MpiExecutor {
    fn new(
        universe: Universe,
        driver: Driver,
        workers: Vec<Worker>,
        timeout: Duration,
        task_timeout: Option<Duration>,
    ) -> MpiExecutor {
        MpiExecutor {
            state: RefCell::new(State {
                driver: Some(driver),
                universe: Some(universe),
                workers,
                next_chunk: 0,
                timeout,
                task_timeout,
                broken: None,
                last_watch: Instant::now(),
            }),
            _not_send: std::marker::PhantomData,
        }
    }

    /// Whether the workers are ranks of `mpirun`'s world (`false`: spawned by this process).
    pub fn under_mpirun(&self) -> bool {
        let s = self.state.borrow();
        s.driver.as_ref().map(|d| d.lock().link.kind()) == Some(LinkKind::Mpirun)
    }

    /// The default timeout of each task (see [`Mpi::task_timeout`](crate::Mpi::task_timeout)),
    /// if any.
    pub fn task_timeout(&self) -> Option<Duration> {
        self.state.borrow().task_timeout
    }

    /// [`map_each`](Executor::map_each) with a timeout for each task of this call (`None`:
    /// the [default](crate::Mpi::task_timeout)). The timeout is each task's own, counted
    /// from when it starts on its rank, as on the local [`Pool`](multiproc::Pool): a task
    /// that runs past it has its process killed (and replaced) and fails alone with
    /// [`TaskError::Timeout`]; the other tasks are not affected. With a timeout, each task
    /// travels in a message of its own, and `chunksize` is ignored.
    pub fn map_each_timeout<F, A, R>(
        &self,
        f: F,
        inputs: Vec<A>,
        chunksize: Option<usize>,
        timeout: Option<Duration>,
    ) -> Result<Vec<Result<R, TaskError>>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let task = remote::task_id(f);
        let mut state = self.state.borrow_mut();
        let timeout = timeout.or(state.task_timeout);
        let result = state.map_each::<A, R>(task, &inputs, chunksize, timeout);
        if let Err(PoolError::Executor(e)) = &result
            && state.broken.is_none()
        {
            state.broken = Some(e.to_string());
        }
        result
    }

    /// The host name of each worker rank, in rank order.
    pub fn hosts(&self) -> Vec<String> {
        let s = self.state.borrow();
        s.workers.iter().map(|w| w.peer.host.clone()).collect()
    }
}

impl Executor for MpiExecutor {
    fn workers(&self) -> usize {
        self.state.borrow().workers.len()
    }

    fn map_each<F, A, R>(
        &self,
        f: F,
        inputs: Vec<A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<Result<R, TaskError>>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_each_timeout(f, inputs, chunksize, None)
    }
}

impl State {
    fn map_each<A, R>(
        &mut self,
        task: TaskId,
        inputs: &[A],
        chunksize: Option<usize>,
        timeout: Option<Duration>,
    ) -> Result<Vec<Result<R, TaskError>>, PoolError>
    where
        A: Serialize + DeserializeOwned,
        R: DeserializeOwned,
    {
        if let Some(cause) = &self.broken {
            return Err(Error::Broken(cause.clone()).into());
        }
        self.watch(true)?;
        let n = inputs.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        // With a timeout, a task travels alone: its rank gives it a timeout of its own.
        let size = match timeout {
            Some(_) => 1,
            None => chunksize
                .unwrap_or_else(|| n.div_ceil(4 * self.workers.len().max(1)))
                .max(1),
        };
        let timeout_ms = timeout.map(millis);
        let mut pending: VecDeque<Span> = (0..n)
            .step_by(size)
            .map(|first| Span {
                first,
                len: size.min(n - first),
                exact: timeout.is_some(),
            })
            .collect();
        let mut in_flight: HashMap<u64, (usize, Span)> = HashMap::new();
        let mut results: Vec<Option<Result<R, TaskError>>> = (0..n).map(|_| None).collect();
        let mut left = n;
        // A failure of the call itself (an input that cannot be encoded, a reply that cannot
        // be decoded): nothing more is sent, what is in flight is awaited, then it is returned.
        let mut failure: Option<PoolError> = None;
        let mut backoff = Backoff::new();
        loop {
            let mut busy = false;
            // One burst of MPI calls; the heartbeat thread waits for it.
            let mut channel = self
                .driver
                .as_ref()
                .expect("the driver lives until drop")
                .lock();
            if failure.is_none() {
                while let Some(w) = self.free_worker() {
                    let Some(span) = pending.pop_front() else {
                        break;
                    };
                    let items = match remote::encode_chunk(&inputs[span.first..][..span.len]) {
                        Ok(items) => items,
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    };
                    let chunk = self.next_chunk;
                    self.next_chunk += 1;
                    let msg = ToWorker::Work {
                        chunk,
                        task,
                        items: Bytes(items),
                        timeout_ms,
                    };
                    channel.send(self.workers[w].rank, wire::encode(&msg));
                    let worker = &mut self.workers[w];
                    if worker.owed == 0 {
                        worker.last_heard = Instant::now();
                    }
                    worker.owed += 1;
                    in_flight.insert(chunk, (w, span));
                    busy = true;
                }
            }
            if in_flight.is_empty() && (left == 0 || failure.is_some()) {
                break;
            }
            busy |= channel.outbox.progress();
            while let Some((rank, bytes)) = channel.try_receive() {
                busy = true;
                let w = self.worker_index(rank)?;
                self.workers[w].last_heard = Instant::now();
                let (chunk, outcome) = match wire::decode::<FromWorker>(&bytes) {
                    Ok(FromWorker::Done { chunk, outcome }) => (chunk, outcome),
                    Ok(FromWorker::Alive) => continue,
                    Ok(FromWorker::Hello { .. }) => {
                        return Err(self.protocol(rank, "a second hello".into()));
                    }
                    Err(e) => return Err(self.protocol(rank, e)),
                };
                let Some((owner, span)) = in_flight.remove(&chunk) else {
                    return Err(self.protocol(rank, format!("a reply to unknown chunk {chunk}")));
                };
                self.workers[owner].finished_one();
                let worker = self.workers[owner].describe();
                match outcome {
                    Outcome::Reply(reply) => match remote::decode_reply::<R>(&reply.0, span.len) {
                        Ok(values) => {
                            for (k, v) in values.into_iter().enumerate() {
                                results[span.first + k] = Some(v);
                            }
                            left -= span.len;
                        }
                        Err(e) => {
                            failure.get_or_insert(e);
                        }
                    },
                    Outcome::WorkerDied {
                        worker: process, ..
                    } if span.len > 1 && !span.exact => {
                        log::debug!(
                            target: "multiproc_mpi",
                            "{process} on {worker} died in a chunk of {} tasks; running them one by one",
                            span.len
                        );
                        for k in (0..span.len).rev() {
                            pending.push_front(Span {
                                first: span.first + k,
                                len: 1,
                                exact: true,
                            });
                        }
                    }
                    Outcome::WorkerDied {
                        worker: process,
                        exitcode,
                    } => {
                        for k in 0..span.len {
                            results[span.first + k] = Some(Err(TaskError::WorkerDied {
                                worker: format!("{process} on {worker}"),
                                exitcode,
                            }));
                        }
                        left -= span.len;
                    }
                    Outcome::TimedOut { after_ms } => {
                        for k in 0..span.len {
                            results[span.first + k] =
                                Some(Err(TaskError::Timeout(Duration::from_millis(after_ms))));
                        }
                        left -= span.len;
                    }
                    Outcome::Failed(msg) => {
                        for k in 0..span.len {
                            results[span.first + k] =
                                Some(Err(TaskError::Failed(format!("on {worker}: {msg}"))));
                        }
                        left -= span.len;
                    }
                }
            }
            drop(channel);
            self.watch(false)?;
            if busy {
                backoff.reset();
            } else {
                backoff.wait(Backoff::BUSY);
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every task has a result"))
            .collect())
    }

    /// The worker with the fewest chunks, if it can take one more.
    fn free_worker(&self) -> Option<usize> {
        let (i, w) = self
            .workers
            .iter()
            .enumerate()
            .min_by_key(|(_, w)| (w.owed * MAX_DEPTH) / w.depth)?;
        (w.owed < w.depth).then_some(i)
    }

    fn worker_index(&self, rank: Rank) -> Result<usize, PoolError> {
        self.workers
            .iter()
            .position(|w| w.rank == rank)
            .ok_or_else(|| self.protocol(rank, "a message from a rank that is not a worker".into()))
    }

    fn protocol(&self, rank: Rank, detail: String) -> PoolError {
        Error::Protocol { rank, detail }.into()
    }

    /// Fails if a worker rank died (on this machine) or owes a reply and has been silent for
    /// longer than the timeout. Looks at most every [`WATCH_EVERY`] unless `now`.
    fn watch(&mut self, now: bool) -> Result<(), PoolError> {
        if !now && self.last_watch.elapsed() < WATCH_EVERY {
            return Ok(());
        }
        self.last_watch = Instant::now();
        for w in &self.workers {
            if !w.peer.is_alive() {
                return Err(Error::RankDied {
                    rank: w.rank,
                    host: w.peer.host.clone(),
                    pid: w.peer.pid,
                }
                .into());
            }
            let silent = w.last_heard.elapsed();
            if w.owed > 0 && silent > self.timeout {
                // Remote or not, a rank that owes a reply and stays silent past the bound is
                // dead, stopped or cut off: the driver cannot tell which from here.
                return Err(Error::RankSilent {
                    rank: w.rank,
                    host: w.peer.host.clone(),
                    pid: w.peer.pid,
                    silent,
                }
                .into());
            }
        }
        Ok(())
    }
}

/// Stops `workers` and finalizes MPI, or, if they do not take the stop message in time (or
/// `clean` is false), abandons MPI without finalizing it (finalizing could wait forever on a
/// dead rank).
pub(crate) fn shut_down(universe: Universe, driver: Driver, workers: &[Rank], clean: bool) {
    let (link, mut outbox) = driver.into_parts();
    let grace = if clean {
        STOP_GRACE
    } else {
        Duration::from_secs(1)
    };
    for &rank in workers {
        link.send(&mut outbox, rank, wire::encode(&ToWorker::Stop));
    }
    let flushed = outbox.flush(Instant::now() + grace, || {
        while link.try_receive().is_some() {}
    });
    if clean && flushed {
        drop(link);
        drop(universe);
    } else {
        if clean {
            log::warn!(target: "multiproc_mpi", "worker ranks did not take the stop message; not finalizing MPI");
        }
        outbox.abandon();
        std::mem::forget(link);
        std::mem::forget(universe);
    }
}

impl Drop for MpiExecutor {
    fn drop(&mut self) {
        let state = self.state.get_mut();
        let (Some(driver), Some(universe)) = (state.driver.take(), state.universe.take()) else {
            return;
        };
        let clean = state.broken.is_none();
        let live: Vec<Rank> = state
            .workers
            .iter()
            .filter(|w| clean || w.peer.is_alive())
            .map(|w| w.rank)
            .collect();
        shut_down(universe, driver, &live, clean);
    }
}

/// Says hello to every worker of `driver`'s link and collects their answers; the executor if
/// all run this executable.
pub(crate) fn start(
    universe: Universe,
    driver: Driver,
    timeout: Duration,
    task_timeout: Option<Duration>,
) -> Result<MpiExecutor, Error> {
    let (n, ranks) = {
        let channel = driver.lock();
        let n = channel.link.workers();
        (
            n,
            (0..n)
                .map(|i| channel.link.worker_rank(i))
                .collect::<Vec<Rank>>(),
        )
    };
    if n == 0 {
        shut_down(universe, driver, &[], true);
        return Err(Error::NoWorkers);
    }
    let ours = remote::fingerprint();
    {
        let mut channel = driver.lock();
        let check = wire::encode(&ToWorker::Check {
            fingerprint: ours,
            driver: this_peer(),
            heartbeat_ms: millis(heartbeat_for(timeout)),
            silence_ms: millis(channel.silence()),
        });
        for &rank in &ranks {
            channel.send(rank, check.clone());
        }
    }
    let started = Instant::now();
    let mut hellos: Vec<Option<(u64, bool, Peer)>> = vec![None; n];
    let mut backoff = Backoff::new();
    let mut garbled = None;
    while hellos.iter().any(Option::is_none) && garbled.is_none() {
        let mut channel = driver.lock();
        let mut busy = channel.outbox.progress();
        while let Some((rank, bytes)) = channel.try_receive() {
            busy = true;
            let i = ranks.iter().position(|&r| r == rank);
            match (i, wire::decode::<FromWorker>(&bytes)) {
                (
                    Some(i),
                    Ok(FromWorker::Hello {
                        fingerprint,
                        accepted,
                        peer,
                    }),
                ) => hellos[i] = Some((fingerprint, accepted, peer)),
                (_, Err(e)) => garbled = Some(Error::Protocol { rank, detail: e }),
                (_, Ok(other)) => {
                    garbled = Some(Error::Protocol {
                        rank,
                        detail: format!("expected a hello, got {other:?}"),
                    })
                }
            }
        }
        drop(channel);
        let silent = started.elapsed();
        if garbled.is_none() && silent > timeout {
            let i = hellos.iter().position(Option::is_none).unwrap_or(0);
            garbled = Some(Error::RankSilent {
                rank: ranks[i],
                host: "?".into(),
                pid: 0,
                silent,
            });
        }
        if busy {
            backoff.reset();
        } else {
            backoff.wait(Backoff::BUSY);
        }
    }
    if let Some(e) = garbled {
        // Some rank did not answer as it should: it may be dead or stuck.
        let answered: Vec<Rank> = (0..n)
            .filter(|&i| hellos[i].as_ref().is_some_and(|h| h.1))
            .map(|i| ranks[i])
            .collect();
        shut_down(universe, driver, &answered, false);
        return Err(e);
    }
    let hellos: Vec<(u64, bool, Peer)> = hellos.into_iter().flatten().collect();
    if let Some(i) = hellos.iter().position(|h| h.0 != ours || !h.1) {
        let (theirs, _, peer) = &hellos[i];
        let err = Error::Fingerprint {
            rank: ranks[i],
            host: peer.host.clone(),
            pid: peer.pid,
            theirs: *theirs,
            ours,
        };
        // Only the ranks that run this executable hear from the driver again.
        let good: Vec<Rank> = (0..n)
            .filter(|&i| hellos[i].0 == ours && hellos[i].1)
            .map(|i| ranks[i])
            .collect();
        shut_down(universe, driver, &good, true);
        return Err(err);
    }
    let workers = hellos
        .into_iter()
        .enumerate()
        .map(|(i, (_, _, peer))| Worker::new(ranks[i], peer))
        .collect();
    Ok(MpiExecutor::new(
        universe,
        driver,
        workers,
        timeout,
        task_timeout,
    ))
}
