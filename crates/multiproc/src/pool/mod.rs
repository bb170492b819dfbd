//! Process pools that never hang: [`Pool`], with `map`, `imap`, `apply_async` and friends.
//!
//! A pool keeps `processes` workers (named `PoolWorker-k`) and feeds them chunks of tasks. It is
//! the chapter's `multiprocessing.Pool`, with what Python's lacks:
//!
//! - a worker that dies (a segfault, an abort, `exit`, a SIGKILL) fails only the task it was
//!   running, with the exit code or signal; the worker is replaced and every other task
//!   completes;
//! - a task may have a timeout: when it runs past it, its worker is killed and replaced and the
//!   task fails with [`TaskError::Timeout`];
//! - `map` and friends never hang: they return once every task is settled;
//! - dropping the pool terminates its workers.
//!
//! Tasks are zero-sized functions `Fn(A) -> R` (function items or closures that capture
//! nothing), with serde arguments and results, as for [`Process`](crate::Process).

#![forbid(unsafe_code)]

mod async_result;
mod error;
mod executor;
mod imap;
mod progress;
pub(crate) mod scheduler;
pub(crate) mod task;
#[cfg(feature = "tokio")]
mod tokio;
mod worker;

pub use async_result::AsyncResult;
pub use error::{PoolError, TaskError};
pub use executor::Executor;
pub use imap::Imap;
#[cfg(feature = "tokio")]
pub use tokio::AsyncResultFuture;

pub(crate) use task::TaskEntry;

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{self, Bytes, Fd};
use crate::start::{self, StartMethod};
use crate::sys;
use scheduler::{Command, Job, Outcome, Scheduler, Shared, Sink, WorkerSpec};

/// An input that cannot fail, as `imap` sees it.
pub type Infallible<I, A> = std::iter::Map<I, fn(A) -> Result<A, String>>;

/// Options of one `map`-like call: chunk size, per-task timeout and a progress bar.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct MapOptions {
    chunksize: Option<usize>,
    timeout: Option<Duration>,
    progress: bool,
}

impl MapOptions {
    /// The defaults: Python's chunk size rule, the pool's task timeout, no progress bar.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tasks per chunk. The default follows Python: `ceil(len / (4 * processes))`.
    pub fn chunksize(mut self, n: usize) -> Self {
        self.chunksize = Some(n.max(1));
        self
    }

    /// A timeout for each task of this call, overriding the pool's default.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Shows a progress bar on stderr (only when stderr is a terminal).
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }
}

/// Builds a [`Pool`] (Python's `Pool(processes, initializer, initargs, maxtasksperchild)`).
#[must_use = "a builder does nothing until `build` is called"]
pub struct PoolBuilder {
    processes: Option<usize>,
    init: Option<worker::Initializer>,
    init_error: Option<codec::EncodeError>,
    max_tasks_per_child: Option<u64>,
    method: Option<StartMethod>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("initializer", &self.init.is_some())
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("method", &self.method)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl PoolBuilder {
    /// The number of workers. Default: [`cpu_count()`](crate::cpu_count).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n.max(1));
        self
    }

    /// A function each worker calls with `args` when it starts (Python's `initializer` and
    /// `initargs`). If it panics, the pool is broken: every task fails with
    /// [`TaskError::Initializer`], rather than workers being restarted forever.
    pub fn initializer<F, A>(mut self, f: F, args: A) -> Self
    where
        F: Fn(A) + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
    {
        let _ = f;
        const {
            assert!(
                std::mem::size_of::<F>() == 0,
                "an initializer must not capture state: pass it as its argument"
            )
        };
        match codec::encode(&args) {
            Ok(e) => {
                self.init = Some(worker::Initializer {
                    entry: sys::target::offset_of::<start::Entry>(start::fn_entry::<F, A, ()>),
                    tag: start::tag_of::<(F, A, ())>(),
                    args: Bytes(e.bytes),
                    fds: e.fds.into_iter().map(Fd::from).collect(),
                });
            }
            Err(e) => self.init_error = Some(e),
        }
        self
    }

    /// Retires a worker after it has run this many chunks, and starts a fresh one (Python's
    /// `maxtasksperchild`).
    pub fn max_tasks_per_child(mut self, n: u64) -> Self {
        self.max_tasks_per_child = Some(n.max(1));
        self
    }

    /// How workers are started. Default: [`get_start_method`](crate::get_start_method).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// A default timeout for each task: a task that runs longer has its worker killed and
    /// replaced, and fails with [`TaskError::Timeout`].
    pub fn task_timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Starts the workers.
    pub fn build(self) -> Result<Pool, PoolError> {
        if let Some(e) = self.init_error {
            return Err(PoolError::Encode(e));
        }
        let size = self.processes.unwrap_or_else(crate::cpu_count);
        let spec = WorkerSpec {
            init: self.init,
            max_tasks: self.max_tasks_per_child,
            method: self.method,
        };
        let mut workers = Vec::with_capacity(size);
        for _ in 0..size {
            workers
                .push(scheduler::start_worker(&spec).map_err(|e| PoolError::Start(Box::new(e)))?);
        }
        let (wake_r, wake_w) =
            sys::fd::socketpair().map_err(|e| PoolError::Start(Box::new(e.into())))?;
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let scheduler = Scheduler::new(workers, rx, wake_r, spec, shared.clone());
        let thread = std::thread::Builder::new()
            .name("multiproc-pool".into())
            .spawn(move || scheduler.run())
            .map_err(|e| PoolError::Start(Box::new(e.into())))?;
        Ok(Pool {
            tx: Mutex::new(Some(tx)),
            wake: wake_w,
            shared,
            thread: Mutex::new(Some(thread)),
            processes: size,
            timeout: self.timeout,
            closed: AtomicBool::new(false),
        })
    }
}

/// A pool of worker processes. See the [module docs](self).
///
/// ```rust,standalone_crate
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn main() {
///     multiproc::init();
///     let pool = multiproc::Pool::new(2).unwrap();
///     assert_eq!(pool.map(square, 0..5).unwrap(), [0, 1, 4, 9, 16]);
/// }
/// ```
pub struct Pool {
    tx: Mutex<Option<Sender<Command>>>,
    wake: OwnedFd,
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    processes: usize,
    timeout: Option<Duration>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.processes)
            .field("closed", &self.closed.load(Ordering::SeqCst))
            .finish()
    }
}

/// Python's default chunk size for `len` tasks over `processes` workers.
pub(crate) fn default_chunksize(len: usize, processes: usize) -> usize {
    let per = processes.max(1) * 4;
    len.div_ceil(per).max(1)
}

impl Pool {
    /// A pool of `processes` workers with default options.
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        Pool::builder().processes(processes).build()
    }

    /// A builder for a pool with options.
    pub fn builder() -> PoolBuilder {
        PoolBuilder {
            processes: None,
            init: None,
            init_error: None,
            max_tasks_per_child: None,
            method: None,
            timeout: None,
        }
    }

    /// The number of workers.
    pub fn processes(&self) -> usize {
        self.processes
    }

    pub(crate) fn submit_job(&self, job: Job) -> Result<(), PoolError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(PoolError::Closed);
        }
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = tx.as_ref() else {
            return Err(PoolError::Closed);
        };
        tx.send(Command::Submit(job))
            .map_err(|_| PoolError::Closed)?;
        self.wake();
        Ok(())
    }

    fn wake(&self) {
        if self.shared.sleeping.load(Ordering::SeqCst) {
            let _ = sys::fd::send_with_fds(self.wake.as_fd(), &[std::io::IoSlice::new(b"w")], &[]);
        }
    }

    fn command(&self, cmd: Command) {
        if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = tx.send(cmd);
        }
        self.wake();
    }

    /// Encodes a chunk of arguments into a job for `F`.
    pub(crate) fn job<F, A, R>(
        &self,
        items: &[A],
        timeout: Option<Duration>,
        sink: Sink,
    ) -> Result<Job, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        const {
            assert!(
                std::mem::size_of::<F>() == 0,
                "a pool task must not capture state: pass it as its argument"
            )
        };
        let e = codec::encode(items).map_err(PoolError::Encode)?;
        Ok(Job {
            entry: sys::target::offset_of::<TaskEntry>(task::task_entry::<F, A, R>),
            tag: start::tag_of::<(F, A, R)>(),
            items: Bytes(e.bytes),
            fds: e.fds.into_iter().map(Fd::from).collect(),
            n: items.len(),
            timeout: timeout.or(self.timeout),
            sink,
            split: Some(task::split_chunk::<A>),
            cancelled: None,
            exact: timeout.or(self.timeout).is_some(),
        })
    }

    /// Applies `f` to every input, in parallel, and returns the results in input order
    /// (Python's `Pool.map`). Returns the first failure once every task has settled.
    pub fn map<F, A, R, I>(&self, f: F, inputs: I) -> Result<Vec<R>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_with(f, inputs, MapOptions::new())
    }

    /// [`map`](Pool::map) with options: chunk size, timeout, progress bar.
    pub fn map_with<F, A, R, I>(
        &self,
        f: F,
        inputs: I,
        options: MapOptions,
    ) -> Result<Vec<R>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        first_error(self.map_each(f, inputs.into_iter().collect(), options)?)
    }

    /// Like [`map`](Pool::map) but keeps every task's result, failed or not.
    pub fn map_each<F, A, R>(
        &self,
        _f: F,
        inputs: Vec<A>,
        options: MapOptions,
    ) -> Result<Vec<Result<R, TaskError>>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let n = inputs.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let cs = options
            .chunksize
            .unwrap_or_else(|| default_chunksize(n, self.processes));
        let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
        let chunks: Vec<&[A]> = inputs.chunks(cs).collect();
        for (ci, chunk) in chunks.iter().enumerate() {
            let tx = tx.clone();
            let job = self.job::<F, A, R>(
                chunk,
                options.timeout,
                Box::new(move |o| drop(tx.send((ci, o)))),
            )?;
            self.submit_job(job)?;
        }
        drop(tx);
        let bar = progress::Bar::new(options.progress, n as u64);
        let mut parts: Vec<Option<Vec<Result<R, TaskError>>>> =
            (0..chunks.len()).map(|_| None).collect();
        for _ in 0..chunks.len() {
            let (ci, outcome) = rx.recv().map_err(|_| PoolError::Closed)?;
            let items = decode_outcome::<R>(outcome, chunks[ci].len())?;
            bar.inc(items.len() as u64);
            parts[ci] = Some(items);
        }
        bar.finish();
        Ok(parts
            .into_iter()
            .flat_map(|p| p.expect("every chunk answered"))
            .collect())
    }

    /// `map` for functions of several arguments, given as tuples (Python's `starmap`).
    ///
    /// In Rust a tuple is already one argument, so this is [`map`](Pool::map) under the name
    /// Python users look for.
    pub fn starmap<F, A, R, I>(&self, f: F, inputs: I) -> Result<Vec<R>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map(f, inputs)
    }

    /// A lazy, ordered map: results come back in input order, as they are ready, while the
    /// input is consumed only as far as the workers need (Python's `imap`). Each item is the
    /// task's result or its error.
    pub fn imap<F, A, R, I>(&self, f: F, inputs: I) -> Imap<'_, A, R, Infallible<I::IntoIter, A>>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        self.try_imap(
            f,
            inputs.into_iter().map(Ok as fn(A) -> Result<A, String>),
            MapOptions::new(),
            true,
        )
    }

    /// Like [`imap`](Pool::imap), yielding results in completion order (Python's
    /// `imap_unordered`).
    pub fn imap_unordered<F, A, R, I>(
        &self,
        f: F,
        inputs: I,
    ) -> Imap<'_, A, R, Infallible<I::IntoIter, A>>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        self.try_imap(
            f,
            inputs.into_iter().map(Ok as fn(A) -> Result<A, String>),
            MapOptions::new(),
            false,
        )
    }

    /// The general lazy map over an input that may fail: when the input yields `Err(e)`, the
    /// results of the items before it are delivered and then the iterator yields
    /// [`PoolError::Input`] and ends. `ordered` chooses `imap` or `imap_unordered` order.
    pub fn try_imap<F, A, R, E, I>(
        &self,
        _f: F,
        inputs: I,
        options: MapOptions,
        ordered: bool,
    ) -> Imap<'_, A, R, I::IntoIter>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        E: std::fmt::Display,
        I: IntoIterator<Item = Result<A, E>>,
    {
        Imap::new::<F, E>(self, inputs.into_iter(), options, ordered)
    }

    /// Runs `f(arg)` in a worker and waits for the result (Python's `apply`).
    pub fn apply<F, A, R>(&self, f: F, arg: A) -> Result<R, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async(f, arg)?.get()
    }

    /// Submits `f(arg)` and returns at once with an [`AsyncResult`] (Python's `apply_async`).
    pub fn apply_async<F, A, R>(&self, f: F, arg: A) -> Result<AsyncResult<R>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async_with(f, arg, |_: &R| {}, |_: &PoolError| {})
    }

    /// [`apply_async`](Pool::apply_async) with a `callback` for the value and an
    /// `error_callback` for a failure. They run on the pool's scheduler thread; keep them short.
    pub fn apply_async_with<F, A, R>(
        &self,
        _f: F,
        arg: A,
        callback: impl FnOnce(&R) + Send + 'static,
        error_callback: impl FnOnce(&PoolError) + Send + 'static,
    ) -> Result<AsyncResult<R>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let (result, completer) = AsyncResult::new();
        let cancelled = result.cancel_flag();
        let sink: Sink = Box::new(move |o| {
            let r = decode_outcome::<R>(o, 1).and_then(|mut v| match v.pop() {
                Some(Ok(r)) => Ok(r),
                Some(Err(error)) => Err(PoolError::Task { index: 0, error }),
                None => Err(PoolError::Task {
                    index: 0,
                    error: TaskError::Failed("no result".into()),
                }),
            });
            match &r {
                Ok(v) => callback(v),
                Err(e) => error_callback(e),
            }
            completer.complete(r);
        });
        let mut job = self.job::<F, A, R>(std::slice::from_ref(&arg), None, sink)?;
        job.cancelled = Some(cancelled);
        self.submit_job(job)?;
        Ok(result)
    }

    /// Submits `f(arg)` and returns a future-like handle (Python's
    /// `ProcessPoolExecutor.submit`); it can be cancelled until the task starts.
    pub fn submit<F, A, R>(&self, f: F, arg: A) -> Result<AsyncResult<R>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async(f, arg)
    }

    /// Submits a whole `map` and returns at once (Python's `map_async`).
    pub fn map_async<F, A, R, I>(&self, _f: F, inputs: I) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        let inputs: Vec<A> = inputs.into_iter().collect();
        let (result, completer) = AsyncResult::new();
        let n = inputs.len();
        if n == 0 {
            completer.complete(Ok(Vec::new()));
            return Ok(result);
        }
        let cs = default_chunksize(n, self.processes);
        let chunks: Vec<&[A]> = inputs.chunks(cs).collect();
        let gather = Arc::new(Mutex::new(MapGather::<R> {
            parts: (0..chunks.len()).map(|_| None).collect(),
            left: chunks.len(),
            completer: Some(completer),
        }));
        for (ci, chunk) in chunks.iter().enumerate() {
            let g = gather.clone();
            let len = chunk.len();
            let sink: Sink = Box::new(move |o| MapGather::put(&g, ci, decode_outcome::<R>(o, len)));
            self.submit_job(self.job::<F, A, R>(chunk, None, sink)?)?;
        }
        Ok(result)
    }

    /// `map_async` under Python's name for tuple arguments (Python's `starmap_async`).
    pub fn starmap_async<F, A, R, I>(
        &self,
        f: F,
        inputs: I,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        F: Fn(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async(f, inputs)
    }

    /// Takes no more work; the workers exit once what was submitted is done (Python's `close`).
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            self.command(Command::Close);
        }
    }

    /// Stops the workers now; tasks not finished fail with [`TaskError::Terminated`]
    /// (Python's `terminate`).
    pub fn terminate(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.command(Command::Terminate);
        self.join_thread();
    }

    /// Waits for the workers to exit, after [`close`](Pool::close) or
    /// [`terminate`](Pool::terminate) (Python's `join`). Calling it on an open pool closes it
    /// first, so it cannot wait forever.
    pub fn join(&self) {
        self.close();
        self.join_thread();
    }

    /// Like [`join`](Pool::join), waiting at most `timeout`; returns whether the workers exited.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.close();
        let finished = self
            .shared
            .finished
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (finished, _) = self
            .shared
            .finished_cv
            .wait_timeout_while(finished, timeout, |f| !*f)
            .unwrap_or_else(|e| e.into_inner());
        let done = *finished;
        drop(finished);
        if done {
            self.join_thread();
        }
        done
    }

    fn join_thread(&self) {
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl Drop for Pool {
    /// Terminates the workers (as Python's `Pool.__exit__` does).
    fn drop(&mut self) {
        self.terminate();
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

struct MapGather<R> {
    parts: Vec<Option<Vec<Result<R, TaskError>>>>,
    left: usize,
    completer: Option<async_result::Completer<Vec<R>>>,
}

impl<R> MapGather<R> {
    fn put(
        this: &Mutex<MapGather<R>>,
        ci: usize,
        part: Result<Vec<Result<R, TaskError>>, PoolError>,
    ) {
        let mut g = this.lock().unwrap_or_else(|e| e.into_inner());
        match part {
            Ok(items) => g.parts[ci] = Some(items),
            Err(e) => {
                if let Some(c) = g.completer.take() {
                    c.complete(Err(e));
                }
                return;
            }
        }
        g.left -= 1;
        if g.left == 0
            && let Some(c) = g.completer.take()
        {
            let items: Vec<Result<R, TaskError>> = g
                .parts
                .drain(..)
                .flat_map(|p| p.expect("answered"))
                .collect();
            c.complete(first_error(items));
        }
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
