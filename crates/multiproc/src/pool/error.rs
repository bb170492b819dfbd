//! Errors of the pool: per task ([`TaskError`]) and per call ([`PoolError`]).

use std::time::Duration;

use crate::codec::{DecodeError, EncodeError};

/// Why one task failed. The other tasks of the same call are not affected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked.
    #[error("task panicked: {0}")]
    Panicked(String),
    /// The task could not run: its argument did not decode, its result did not encode, or the
    /// worker found a different function than the one submitted.
    #[error("task could not run: {0}")]
    Failed(String),
    /// The worker running the task died (a crash, a signal, `exit`). It was replaced.
    #[error("worker {worker} died while running the task ({})", describe_exit(*.exitcode))]
    WorkerDied {
        /// The worker's name.
        worker: String,
        /// Python-style exit code: `n` for `exit(n)`, `-s` for signal `s`.
        exitcode: i32,
    },
    /// The task ran past its timeout; its worker was killed and replaced.
    #[error("task timed out after {0:?}; its worker was killed")]
    Timeout(Duration),
    /// The pool was terminated before the task finished.
    #[error("the pool was terminated before the task finished")]
    Terminated,
    /// The task was cancelled before it started.
    #[error("the task was cancelled")]
    Cancelled,
    /// A worker's initializer failed, so the pool cannot run tasks.
    #[error("a worker's initializer failed: {0}")]
    Initializer(String),
}

fn describe_exit(code: i32) -> String {
    if code < 0 {
        format!("killed by {}", crate::sys::proc::signal_name(-code))
    } else {
        format!("exit code {code}")
    }
}

/// Why a pool call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// A task failed; `index` is its position in the input.
    #[error("task {index} failed")]
    Task {
        /// The input position of the failed task.
        index: usize,
        /// Why it failed.
        #[source]
        error: TaskError,
    },
    /// The pool was closed (or terminated) and takes no more work.
    #[error("the pool is closed")]
    Closed,
    /// Waiting for a result timed out; the task keeps running and the result can still be taken.
    #[error("timed out waiting for the result")]
    Timeout,
    /// The result was already taken by an earlier `get`.
    #[error("the result was already taken")]
    Taken,
    /// The input iterator failed; results before it were delivered.
    #[error("the input failed: {0}")]
    Input(String),
    /// An argument could not be encoded; nothing of this call was submitted after it.
    #[error("an argument cannot be sent to a worker")]
    Encode(#[source] EncodeError),
    /// A result arrived but could not be decoded as the expected type.
    #[error("a result could not be decoded")]
    Decode(#[source] DecodeError),
    /// Starting a worker failed.
    #[error("cannot start a pool worker")]
    Start(#[source] Box<crate::ProcessError>),
    /// The executor itself failed, not a task: for example a rank of the MPI executor died or
    /// stopped answering. The inner error says what happened; the call's results are lost.
    #[error(transparent)]
    Executor(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl PoolError {
    /// The task error, if this is a task failure.
    pub fn task_error(&self) -> Option<&TaskError> {
        match self {
            PoolError::Task { error, .. } => Some(error),
            _ => None,
        }
    }
}
