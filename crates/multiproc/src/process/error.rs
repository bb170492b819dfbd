//! [`ProcessError`]: why a process could not be started, or did not return a value.

use crate::codec::{DecodeError, EncodeError};

/// Why [`Process::start`](crate::Process::start) failed, or why
/// [`Handle::join`](crate::Handle::join) has no value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The target panicked; the child printed `Process <name>:` and the message on stderr and
    /// exited with code 1.
    #[error("process {name} panicked: {message}")]
    Panicked {
        /// The process's name.
        name: String,
        /// The panic message.
        message: String,
    },
    /// The process exited with `code` without returning a value (it called
    /// [`multiproc::exit`](crate::exit) or `std::process::exit`).
    #[error("process {name} exited with code {code} without returning a value")]
    Exited {
        /// The process's name.
        name: String,
        /// Its exit code.
        code: i32,
    },
    /// The process was killed by a signal (its `exitcode` is `-signal`).
    #[error("process {name} was killed by {}", crate::sys::proc::signal_name(*.signal))]
    Signaled {
        /// The process's name.
        name: String,
        /// The signal number.
        signal: i32,
    },
    /// The child could not run its target: the arguments did not arrive intact, or the return
    /// value could not be encoded.
    #[error("process {name} could not run its target: {reason}")]
    Failed {
        /// The process's name.
        name: String,
        /// What went wrong in the child.
        reason: String,
    },
    /// The arguments could not be encoded; no process was started.
    #[error("cannot start the process: its arguments cannot be sent")]
    Encode(#[source] EncodeError),
    /// The return value arrived but could not be decoded as the expected type.
    #[error("the value returned by process {name} could not be decoded")]
    Decode {
        /// The process's name.
        name: String,
        /// The decoding error.
        #[source]
        source: DecodeError,
    },
    /// The child died before it received its bootstrap message.
    #[error("process {name} died during its bootstrap with exit code {exitcode}")]
    Bootstrap {
        /// The process's name.
        name: String,
        /// Its Python-style exit code (negative for a signal).
        exitcode: i32,
    },
    /// Children cannot be started from this program: multiproc's process constructor, which
    /// catches a child before `main`, did not run, or runs in a shared library rather than in
    /// the executable that children run. The message says which, and what to do. Nothing was
    /// started.
    #[error("cannot start a process: {0}")]
    EntryNotLinked(&'static str),
    /// An operating-system call failed while starting or waiting for the process.
    #[error("cannot start or wait for a process")]
    Io(#[from] std::io::Error),
}

impl ProcessError {
    /// The Python-style exit code behind this error, if the process ran and ended.
    pub fn exitcode(&self) -> Option<i32> {
        match self {
            ProcessError::Panicked { .. } | ProcessError::Failed { .. } => Some(1),
            ProcessError::Exited { code, .. } => Some(*code),
            ProcessError::Signaled { signal, .. } => Some(-signal),
            ProcessError::Bootstrap { exitcode, .. } => Some(*exitcode),
            _ => None,
        }
    }
}
