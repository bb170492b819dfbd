//! What can go wrong with a queue, one type per operation. A failed put hands its value back.

use std::fmt;

use crate::codec::{DecodeError, EncodeError};

/// Writes `Name(..)` or `Name { .. }` for a variant, without requiring `T: Debug`.
macro_rules! debug_without_value {
    ($ty:ident { $($variant:ident),* }) => {
        impl<T> fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $( $ty::$variant { .. } => write!(f, concat!(stringify!($variant), "(..)")), )*
                }
            }
        }
    };
}

/// An error from [`Queue::put`](super::Queue::put). The value comes back.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum PutError<T> {
    /// This handle was closed with [`close`](super::Queue::close).
    #[error("put on a closed queue")]
    Closed(T),
    /// The value cannot be encoded.
    #[error("cannot put the value: it cannot be encoded")]
    Encode {
        /// The value.
        value: T,
        /// Why it cannot be encoded.
        #[source]
        error: EncodeError,
    },
    /// The queue's memory could not grow.
    #[error("cannot put the value: the queue cannot grow")]
    Io {
        /// The value.
        value: T,
        /// What the operating system said.
        #[source]
        error: std::io::Error,
    },
}

/// An error from [`Queue::try_put`](super::Queue::try_put). The value comes back.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum TryPutError<T> {
    /// The queue is bounded and holds as many items as it may.
    #[error("put on a full queue")]
    Full(T),
    /// This handle was closed.
    #[error("put on a closed queue")]
    Closed(T),
    /// The value cannot be encoded.
    #[error("cannot put the value: it cannot be encoded")]
    Encode {
        /// The value.
        value: T,
        /// Why it cannot be encoded.
        #[source]
        error: EncodeError,
    },
    /// The queue's memory could not grow.
    #[error("cannot put the value: the queue cannot grow")]
    Io {
        /// The value.
        value: T,
        /// What the operating system said.
        #[source]
        error: std::io::Error,
    },
}

/// An error from [`Queue::put_timeout`](super::Queue::put_timeout) and
/// [`put_deadline`](super::Queue::put_deadline). The value comes back.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum PutTimeoutError<T> {
    /// The queue stayed full until the deadline.
    #[error("timed out putting on a full queue")]
    Timeout(T),
    /// This handle was closed.
    #[error("put on a closed queue")]
    Closed(T),
    /// The value cannot be encoded.
    #[error("cannot put the value: it cannot be encoded")]
    Encode {
        /// The value.
        value: T,
        /// Why it cannot be encoded.
        #[source]
        error: EncodeError,
    },
    /// The queue's memory could not grow.
    #[error("cannot put the value: the queue cannot grow")]
    Io {
        /// The value.
        value: T,
        /// What the operating system said.
        #[source]
        error: std::io::Error,
    },
}

debug_without_value!(PutError { Closed, Encode, Io });
debug_without_value!(TryPutError {
    Full,
    Closed,
    Encode,
    Io
});
debug_without_value!(PutTimeoutError {
    Timeout,
    Closed,
    Encode,
    Io
});

macro_rules! into_inner {
    ($ty:ident { $($variant:ident),* }) => {
        impl<T> $ty<T> {
            /// The value that was not put.
            pub fn into_inner(self) -> T {
                match self {
                    $( $ty::$variant(value) => value, )*
                    $ty::Encode { value, .. } | $ty::Io { value, .. } => value,
                }
            }
        }
    };
}

into_inner!(PutError { Closed });
into_inner!(TryPutError { Full, Closed });
into_inner!(PutTimeoutError { Timeout, Closed });

/// An error from [`Queue::get`](super::Queue::get).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GetError {
    /// This handle was closed.
    #[error("get on a closed queue")]
    Closed,
    /// The item could not be decoded as the queue's type; it was consumed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The queue's shared memory is inconsistent.
    #[error("queue state is corrupt: {0}")]
    Corrupt(String),
}

/// An error from [`Queue::try_get`](super::Queue::try_get).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TryGetError {
    /// No item is waiting.
    #[error("get on an empty queue")]
    Empty,
    /// This handle was closed.
    #[error("get on a closed queue")]
    Closed,
    /// The item could not be decoded as the queue's type; it was consumed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The queue's shared memory is inconsistent.
    #[error("queue state is corrupt: {0}")]
    Corrupt(String),
}

/// An error from [`Queue::get_timeout`](super::Queue::get_timeout) and
/// [`get_deadline`](super::Queue::get_deadline).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GetTimeoutError {
    /// No item arrived before the deadline.
    #[error("timed out waiting on an empty queue")]
    Timeout,
    /// This handle was closed.
    #[error("get on a closed queue")]
    Closed,
    /// The item could not be decoded as the queue's type; it was consumed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The queue's shared memory is inconsistent.
    #[error("queue state is corrupt: {0}")]
    Corrupt(String),
}

/// [`JoinableQueue::task_done`](super::JoinableQueue::task_done) was called more times than
/// items were put (Python's `ValueError: task_done() called too many times`).
#[derive(Debug, thiserror::Error)]
#[error("task_done() called more times than items were put")]
#[non_exhaustive]
pub struct TaskDoneError;

/// [`Queue::join_thread`](super::Queue::join_thread) on a queue that was not closed.
#[derive(Debug, thiserror::Error)]
#[error("join_thread() on a queue that is not closed")]
#[non_exhaustive]
pub struct NotClosedError;
