//! [`Error`]: what can go wrong on a connection.

use crate::codec::{DecodeError, EncodeError};

/// An error from a [`Connection`](super::Connection) operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The other end closed the connection (no message was pending).
    #[error("the other end of the connection is closed")]
    Disconnected,
    /// The deadline passed before the operation could complete.
    #[error("timed out")]
    Timeout,
    /// The peer closed the connection in the middle of a message.
    #[error("connection closed in the middle of a message")]
    Truncated,
    /// An incoming frame announced a size over this end's limit; the connection is now closed.
    #[error("incoming message of {size} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// The size the frame claimed.
        size: u64,
        /// This end's limit.
        max: u64,
    },
    /// Bytes that no sender writes arrived.
    #[error("corrupt message: {0}")]
    Corrupt(String),
    /// An earlier error left the connection unusable.
    #[error("connection unusable after an earlier error: {0}")]
    Broken(String),
    /// The value could not be encoded; nothing was sent.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The message could not be decoded as the requested type; it was consumed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A message held more handles than one message can carry.
    #[error("a message can carry at most 253 handles, this one holds {0}")]
    TooManyHandles(usize),
    /// This end was opened for sending only.
    #[error("connection is write-only")]
    NotReadable,
    /// This end was opened for receiving only.
    #[error("connection is read-only")]
    NotWritable,
    /// The process being watched during this operation exited.
    #[error("the peer process exited")]
    PeerExited,
    /// An operating-system error.
    #[error("connection i/o failed")]
    Io(#[source] std::io::Error),
}
