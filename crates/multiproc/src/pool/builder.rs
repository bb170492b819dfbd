//! [`PoolBuilder`]: the pool's options, checked when it is built.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::driver::{self, Spawner};
use super::scheduler::{Config, Scheduler};
use super::worker::Initializer;
use super::{Pool, PoolError, panic};
use crate::codec::{self, Bytes, Fd};
use crate::start::{self, StartMethod};
use crate::sys;

/// Builds a [`Pool`] (Python's `Pool(processes, initializer, initargs, maxtasksperchild)`).
#[must_use = "a builder does nothing until `build` is called"]
pub struct PoolBuilder {
    processes: Option<usize>,
    init: Option<Initializer>,
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
    pub(crate) fn new() -> Self {
        PoolBuilder {
            processes: None,
            init: None,
            init_error: None,
            max_tasks_per_child: None,
            method: None,
            timeout: None,
        }
    }

    /// The number of workers, at least 1 ([`build`](PoolBuilder::build) fails with
    /// [`PoolError::InvalidArgument`] for 0, as Python raises `ValueError`). Default:
    /// [`cpu_count()`](crate::cpu_count).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// A function each worker calls with `args` when it starts, before it takes any task
    /// (Python's `initializer` and `initargs`).
    ///
    /// A failing initializer breaks the pool instead of restarting workers forever: if it
    /// panics, the pool is broken at once; if its worker dies in it (an abort, a signal,
    /// `exit`), the worker is replaced, but after
    /// [`MAX_INITIALIZER_FAILURES`](super::MAX_INITIALIZER_FAILURES) such deaths in a row the
    /// pool is broken too. A broken pool starts no more workers; every task that has not
    /// started, and every later one, fails with [`TaskError::Initializer`](super::TaskError),
    /// whose text says how the initializer failed and where it panicked.
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
                self.init = Some(Initializer {
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
    /// `maxtasksperchild`). At least 1: [`build`](PoolBuilder::build) fails with
    /// [`PoolError::InvalidArgument`] for 0, as Python raises `ValueError`.
    pub fn max_tasks_per_child(mut self, n: u64) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// How workers are started. Default: [`get_start_method`](crate::get_start_method).
    ///
    /// With the `fork` method, workers that replace dead, timed-out or retired ones are forked
    /// from the pool's own thread while the program's other threads run: the promise of
    /// [`StartMethod::fork`] must hold for the whole life of the pool.
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// A default timeout for each task, measured from the task's own start (also inside a
    /// chunk): a task that runs longer has its worker killed and replaced, and fails with
    /// [`TaskError::Timeout`](super::TaskError); the other tasks of its chunk keep their
    /// results or run elsewhere.
    pub fn task_timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Starts the workers.
    pub fn build(self) -> Result<Pool, PoolError> {
        if let Some(e) = self.init_error {
            return Err(PoolError::Encode(e));
        }
        if self.processes == Some(0) {
            return Err(PoolError::InvalidArgument(
                "the number of processes must be at least 1, not 0".into(),
            ));
        }
        if self.max_tasks_per_child == Some(0) {
            return Err(PoolError::InvalidArgument(
                "max_tasks_per_child must be at least 1, not 0".into(),
            ));
        }
        let size = self.processes.unwrap_or_else(crate::cpu_count);
        let config = Config {
            size,
            max_tasks: self.max_tasks_per_child,
            initializer: self.init.is_some(),
        };
        let spawner = Spawner {
            init: self.init,
            max_tasks: self.max_tasks_per_child,
            method: self.method,
            backtraces: panic::backtraces_wanted(),
        };
        let sched = Scheduler::new(spawner, config, Instant::now())
            .map_err(|e| PoolError::Start(Box::new(e)))?;
        let (mailbox, thread) =
            driver::start(sched).map_err(|e| PoolError::Start(Box::new(e.into())))?;
        Ok(Pool::from_parts(mailbox, thread, size, self.timeout))
    }
}
