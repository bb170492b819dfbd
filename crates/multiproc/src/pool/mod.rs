//! Process pools that never hang: [`Pool`], with `map`, `imap`, `apply_async` and friends.
//!
//! A pool keeps `processes` workers (named `PoolWorker-k`) and feeds them chunks of tasks. It is
//! the chapter's `multiprocessing.Pool`, with what Python's lacks:
//!
//! - **no task waits behind a busy worker**: a worker may be handed several chunks ahead (so
//!   that short tasks do not each pay a round trip), but a chunk it has not started moves to a
//!   free worker whenever one is free, so a slow task, or a worker that is stopped (SIGSTOP, a
//!   debugger), delays nothing but itself;
//! - a worker that dies (a segfault, an abort, `exit`, a SIGKILL) fails only the task it was
//!   running, with the exit code or signal; the worker is replaced, and every other task runs
//!   (a task that had finished in that worker but whose result had not yet reached the pool
//!   runs again);
//! - a task may have a timeout, measured from its own start, also inside a chunk: when it runs
//!   past it, its worker is killed and replaced and the task fails with
//!   [`TaskError::Timeout`]; the rest of its chunk is not affected;
//! - a failing initializer breaks the pool once (see [`PoolBuilder::initializer`]) instead of
//!   restarting workers forever;
//! - a panicking task's error says where it panicked ([`TaskPanic`]: the message, `file:line`,
//!   and the worker's backtrace when `RUST_BACKTRACE` is set), as Python shows the remote
//!   traceback;
//! - `map` and friends never hang: they return once every task is settled;
//! - dropping the pool terminates its workers.
//!
//! Tasks are zero-sized functions `Fn(A) -> R` (function items or closures that capture
//! nothing), with serde arguments and results, as for [`Process`](crate::Process).
//!
//! ```rust,standalone_crate
//! use std::time::Duration;
//! use multiproc::{MapOptions, Pool, TaskError};
//!
//! fn nap(ms: u64) -> u64 {
//!     std::thread::sleep(Duration::from_millis(ms));
//!     ms
//! }
//!
//! fn main() {
//!     multiproc::init();
//!     let pool = Pool::new(2).unwrap();
//!     // One task of the chunk oversleeps: it alone fails, after about 500 ms.
//!     let options = MapOptions::new().chunksize(4).timeout(Duration::from_millis(500));
//!     let results = pool.map_each(nap, vec![1, 2, 60_000, 3], options).unwrap();
//!     assert_eq!(results[0], Ok(1));
//!     assert!(matches!(results[2], Err(TaskError::Timeout(_))));
//!     assert_eq!(results[3], Ok(3));
//! }
//! ```

#![forbid(unsafe_code)]

mod async_result;
mod board;
mod builder;
mod driver;
mod error;
mod executor;
mod imap;
pub(crate) mod job;
mod link;
mod options;
mod panic;
mod progress;
mod scheduler;
pub(crate) mod task;
#[cfg(feature = "tokio")]
mod tokio;
mod worker;

pub use async_result::AsyncResult;
pub use builder::PoolBuilder;
pub use error::{PoolError, TaskError, TaskPanic};
pub use executor::Executor;
pub use imap::Imap;
pub use options::MapOptions;
#[cfg(feature = "tokio")]
pub use tokio::AsyncResultFuture;

pub(crate) use job::{decode_outcome, first_error};
pub(crate) use task::TaskEntry;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{self, Bytes, Fd};
use crate::start;
use crate::sys;
use driver::{Command, Mailbox};
use job::{Job, Outcome, Sink};

/// A pool task: a zero-sized function `Fn(A) -> R` (a function item, or a closure that
/// captures nothing), implemented for every such function. It names the bound that every
/// pool method puts on its task.
pub trait Task<A, R>: Fn(A) -> R + Copy + Send + 'static {}

impl<F, A, R> Task<A, R> for F where F: Fn(A) -> R + Copy + Send + 'static {}

/// What a task takes and returns: a serde value, implemented for every such type.
pub trait Payload: Serialize + DeserializeOwned + 'static {}

impl<T> Payload for T where T: Serialize + DeserializeOwned + 'static {}

/// Workers that die before their initializer returns, in a row, that break a pool (see
/// [`PoolBuilder::initializer`]).
pub const MAX_INITIALIZER_FAILURES: u32 = scheduler::MAX_START_FAILURES;

/// An input that cannot fail, as `imap` sees it.
pub type Infallible<I, A> = std::iter::Map<I, fn(A) -> Result<A, String>>;

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
    mailbox: Arc<Mailbox>,
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
    /// A pool of `processes` workers with default options. `processes` must be at least 1.
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        Pool::builder().processes(processes).build()
    }

    /// A builder for a pool with options.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::new()
    }

    pub(crate) fn from_parts(
        mailbox: Arc<Mailbox>,
        thread: std::thread::JoinHandle<()>,
        processes: usize,
        timeout: Option<Duration>,
    ) -> Pool {
        Pool {
            mailbox,
            thread: Mutex::new(Some(thread)),
            processes,
            timeout,
            closed: AtomicBool::new(false),
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
        if self.mailbox.send(Command::Submit(job)) {
            Ok(())
        } else {
            Err(PoolError::Closed)
        }
    }

    /// Encodes a chunk of arguments into a job for `F`.
    pub(crate) fn job<F, A, R>(
        &self,
        items: &[A],
        timeout: Option<Duration>,
        sink: Sink,
    ) -> Result<Job, PoolError>
    where
        F: Task<A, R>,
        A: Payload,
        R: Payload,
    {
        const {
            assert!(
                std::mem::size_of::<F>() == 0,
                "a pool task must not capture state: pass it as its argument"
            )
        };
        let e = codec::encode(items).map_err(PoolError::Encode)?;
        Ok(Job {
            entry: sys::target::offset_of::<TaskEntry<'static>>(task::task_entry::<F, A, R>),
            tag: start::tag_of::<(F, A, R)>(),
            items: Bytes(e.bytes),
            fds: e.fds.into_iter().map(Fd::from).collect(),
            n: items.len(),
            timeout: timeout.or(self.timeout),
            per_task: false,
            sink,
            subset: Some(task::subset::<A>),
            cancelled: None,
            unexplained_deaths: 0,
        })
    }

    /// Applies `f` to every input, in parallel, and returns the results in input order
    /// (Python's `Pool.map`). Returns the first failure once every task has settled.
    pub fn map<F, A, R, I>(&self, f: F, inputs: I) -> Result<Vec<R>, PoolError>
    where
        F: Task<A, R>,
        A: Payload,
        R: Payload,
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
        F: Task<A, R>,
        A: Payload,
        R: Payload,
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
        F: Task<A, R>,
        A: Payload,
        R: Payload,
    {
        let n = inputs.len();
        let cs = options.chunksize_or(default_chunksize(n, self.processes))?;
        if n == 0 {
            return Ok(Vec::new());
        }
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
        F: Task<A, R>,
        A: Payload,
        R: Payload,
        I: IntoIterator<Item = A>,
    {
        self.map(f, inputs)
    }

    /// A lazy, ordered map: results come back in input order, as they are ready, while the
    /// input is consumed only as far as the workers need (Python's `imap`). Each item is the
    /// task's result or its error.
    pub fn imap<F, A, R, I>(&self, f: F, inputs: I) -> Imap<'_, A, R, Infallible<I::IntoIter, A>>
    where
        F: Task<A, R>,
        A: Payload,
        R: Payload,
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
        F: Task<A, R>,
        A: Payload,
        R: Payload,
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
        F: Task<A, R>,
        A: Payload,
        R: Payload,
        E: std::fmt::Display,
        I: IntoIterator<Item = Result<A, E>>,
    {
        Imap::new::<F, E>(self, inputs.into_iter(), options, ordered)
    }

    /// Runs `f(arg)` in a worker and waits for the result (Python's `apply`).
    pub fn apply<F, A, R>(&self, f: F, arg: A) -> Result<R, PoolError>
    where
        F: Task<A, R>,
        A: Payload,
        R: Payload + Send,
    {
        self.apply_async(f, arg)?.get()
    }

    /// Submits `f(arg)` and returns at once with an [`AsyncResult`] (Python's `apply_async`).
    pub fn apply_async<F, A, R>(&self, f: F, arg: A) -> Result<AsyncResult<R>, PoolError>
    where
        F: Task<A, R>,
        A: Payload,
        R: Payload + Send,
    {
        self.apply_async_with(f, arg, |_: &R| {}, |_: &PoolError| {})
    }

    /// [`apply_async`](Pool::apply_async) with a `callback` for the value and an
    /// `error_callback` for a failure (which carries the task's error: for a panic, where it
    /// happened). They run on the pool's thread before the result is ready; keep them short.
    pub fn apply_async_with<F, A, R>(
        &self,
        _f: F,
        arg: A,
        callback: impl FnOnce(&R) + Send + 'static,
        error_callback: impl FnOnce(&PoolError) + Send + 'static,
    ) -> Result<AsyncResult<R>, PoolError>
    where
        F: Task<A, R>,
        A: Payload,
        R: Payload + Send,
    {
        let (result, completer) = AsyncResult::new(Some(self.mailbox.clone()));
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
        F: Task<A, R>,
        A: Payload,
        R: Payload + Send,
    {
        self.apply_async(f, arg)
    }

    /// Submits a whole `map` and returns at once (Python's `map_async`).
    pub fn map_async<F, A, R, I>(&self, f: F, inputs: I) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        F: Task<A, R>,
        A: Payload,
        R: Payload + Send,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(f, inputs, MapOptions::new(), |_| {}, |_| {})
    }

    /// [`map_async`](Pool::map_async) with options, a `callback` for the values and an
    /// `error_callback` for the first failure (Python's `map_async(func, iterable, chunksize,
    /// callback, error_callback)`). One of the two runs, once, on the pool's thread, when
    /// every task has settled and before the result is ready; keep them short.
    pub fn map_async_with<F, A, R, I>(
        &self,
        _f: F,
        inputs: I,
        options: MapOptions,
        callback: impl FnOnce(&Vec<R>) + Send + 'static,
        error_callback: impl FnOnce(&PoolError) + Send + 'static,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        F: Task<A, R>,
        A: Payload,
        R: Payload + Send,
        I: IntoIterator<Item = A>,
    {
        let inputs: Vec<A> = inputs.into_iter().collect();
        let n = inputs.len();
        let cs = options.chunksize_or(default_chunksize(n, self.processes))?;
        let (result, completer) = AsyncResult::new(None);
        let chunks: Vec<&[A]> = inputs.chunks(cs).collect();
        let gather = Arc::new(Mutex::new(MapGather::<R> {
            parts: (0..chunks.len()).map(|_| None).collect(),
            left: chunks.len(),
            done: Some(Box::new(move |r: Result<Vec<R>, PoolError>| {
                match &r {
                    Ok(v) => callback(v),
                    Err(e) => error_callback(e),
                }
                completer.complete(r);
            })),
        }));
        if chunks.is_empty() {
            MapGather::finish(&gather);
        }
        for (ci, chunk) in chunks.iter().enumerate() {
            let g = gather.clone();
            let len = chunk.len();
            let sink: Sink = Box::new(move |o| MapGather::put(&g, ci, decode_outcome::<R>(o, len)));
            self.submit_job(self.job::<F, A, R>(chunk, options.timeout, sink)?)?;
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
        F: Task<A, R>,
        A: Payload,
        R: Payload + Send,
        I: IntoIterator<Item = A>,
    {
        self.map_async(f, inputs)
    }

    /// [`map_async_with`](Pool::map_async_with) under Python's name for tuple arguments
    /// (Python's `starmap_async` with `callback` and `error_callback`).
    pub fn starmap_async_with<F, A, R, I>(
        &self,
        f: F,
        inputs: I,
        options: MapOptions,
        callback: impl FnOnce(&Vec<R>) + Send + 'static,
        error_callback: impl FnOnce(&PoolError) + Send + 'static,
    ) -> Result<AsyncResult<Vec<R>>, PoolError>
    where
        F: Task<A, R>,
        A: Payload,
        R: Payload + Send,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(f, inputs, options, callback, error_callback)
    }

    /// Takes no more work; the workers exit once what was submitted is done (Python's `close`).
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            self.mailbox.send(Command::Close);
        }
    }

    /// Stops the workers now; tasks not finished fail with [`TaskError::Terminated`]
    /// (Python's `terminate`).
    pub fn terminate(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.mailbox.send(Command::Terminate);
        self.join_thread();
    }

    /// Waits for the workers to exit, after [`close`](Pool::close) or
    /// [`terminate`](Pool::terminate) (Python's `join`). Calling it on an open pool closes it
    /// first, so it cannot wait forever for new work. It waits for the tasks already
    /// submitted: a task that never ends (one stopped with SIGSTOP, with no timeout) keeps it
    /// waiting; [`join_timeout`](Pool::join_timeout) waits at most so long.
    pub fn join(&self) {
        self.close();
        self.join_thread();
    }

    /// Like [`join`](Pool::join), waiting at most `timeout`; returns whether the workers exited.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.close();
        let done = self
            .mailbox
            .shared()
            .wait_finished(sys::fd::deadline_after(timeout));
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
        self.mailbox.hang_up();
    }
}

/// What a `map_async` does with its result: callbacks, then the `AsyncResult`.
type MapDone<R> = Box<dyn FnOnce(Result<Vec<R>, PoolError>) + Send>;

/// Collects the chunks of a `map_async` into its result.
struct MapGather<R> {
    parts: Vec<Option<Vec<Result<R, TaskError>>>>,
    left: usize,
    done: Option<MapDone<R>>,
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
                // The values of this chunk are lost: the call fails now.
                if let Some(done) = g.done.take() {
                    drop(g);
                    done(Err(e));
                }
                return;
            }
        }
        g.left -= 1;
        if g.left == 0 {
            drop(g);
            MapGather::finish(this);
        }
    }

    fn finish(this: &Mutex<MapGather<R>>) {
        let mut g = this.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(done) = g.done.take() {
            let items: Vec<Result<R, TaskError>> = g
                .parts
                .drain(..)
                .flat_map(|p| p.expect("answered"))
                .collect();
            drop(g);
            done(first_error(items));
        }
    }
}
