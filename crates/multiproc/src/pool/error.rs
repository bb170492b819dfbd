//! Errors of the pool: per task ([`TaskError`]) and per call ([`PoolError`]).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::codec::{DecodeError, EncodeError};

/// A task's panic, as the worker saw it: the message, where it happened, and the worker's
/// backtrace when one was asked for (Python's remote traceback).
///
/// Its `Display` reads like Rust's own panic message: `panicked at src/lib.rs:10:5: message`,
/// followed by the backtrace when there is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskPanic(Box<PanicInfo>);

/// The parts of a [`TaskPanic`], boxed so that a task's result stays small.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PanicInfo {
    message: String,
    location: Option<String>,
    backtrace: Option<String>,
}

impl TaskPanic {
    pub(crate) fn new(
        message: String,
        location: Option<String>,
        backtrace: Option<String>,
    ) -> Self {
        TaskPanic(Box::new(PanicInfo {
            message,
            location,
            backtrace,
        }))
    }

    /// The panic's message (its payload, when that is a string).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Where the task panicked: `file:line:column`, as in Rust's panic message. `None` when the
    /// panic did not pass through the panic hook (`resume_unwind`).
    pub fn location(&self) -> Option<&str> {
        self.0.location.as_deref()
    }

    /// The worker's backtrace at the panic, captured when `RUST_BACKTRACE` was set (and not `0`)
    /// in the process that built the pool.
    pub fn backtrace(&self) -> Option<&str> {
        self.0.backtrace.as_deref()
    }
}

impl fmt::Display for TaskPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location() {
            Some(at) => write!(f, "panicked at {at}: {}", self.message())?,
            None => write!(f, "panicked: {}", self.message())?,
        }
        if let Some(bt) = self.backtrace() {
            write!(f, "\nworker backtrace:\n{}", bt.trim_end())?;
        }
        Ok(())
    }
}

/// Why one task failed. The other tasks of the same call are not affected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked: the message, where, and the worker's backtrace if one was captured.
    #[error("task {0}")]
    Panicked(TaskPanic),
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
    /// A worker's initializer failed (it panicked, or its worker died in it), so the pool is
    /// broken: this task and every later one fail with this error. The text says how it failed,
    /// with the panic's location.
    #[error("a worker's initializer failed: {0}")]
    Initializer(String),
}

/// A Python-style exit code in words: `exit code 3`, `killed by SIGKILL`.
pub(crate) fn describe_exit(code: i32) -> String {
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
    /// An argument is out of its range: a pool of 0 processes, a `max_tasks_per_child` or a
    /// chunk size of 0 (Python raises `ValueError` for each).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A task's result is in every `map` result vector: its error must stay small.
    #[test]
    fn task_errors_stay_small() {
        assert!(std::mem::size_of::<TaskError>() <= 32);
        assert!(std::mem::size_of::<Result<u64, TaskError>>() <= 32);
    }
}
