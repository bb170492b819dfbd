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
    /// The message did not fit in the buffer given to `recv_bytes_into`; it was consumed, and
    /// here it is, whole (Python's `BufferTooShort`, whose `args[0]` is the message).
    #[error("buffer too short for a message of {} bytes", .0.len())]
    BufferTooShort(Vec<u8>),
    /// An offset (and size) outside the buffer given; nothing was sent or received.
    #[error("{}", out_of_range(*.offset, *.size, *.len))]
    OutOfRange {
        /// The offset asked for.
        offset: usize,
        /// The size asked for, if any.
        size: Option<usize>,
        /// The buffer's length.
        len: usize,
    },
    /// The authkey handshake failed: the keys differ, the peer refused ours, or it did not
    /// follow the protocol. The connection is closed.
    #[doc(alias = "AuthenticationError")]
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// An operating-system error.
    #[error("connection i/o failed")]
    Io(#[source] std::io::Error),
}

fn out_of_range(offset: usize, size: Option<usize>, len: usize) -> String {
    match size {
        None => format!("offset {offset} is past the end of a buffer of {len} bytes"),
        Some(size) => {
            format!("offset {offset} and size {size} reach past the end of a buffer of {len} bytes")
        }
    }
}
