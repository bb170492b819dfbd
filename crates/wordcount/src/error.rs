//! Errors of planning and counting.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::stamp::Change;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of planning or counting, naming the file at fault.
///
/// Errors are plain data (serde-serializable, comparable) so that a worker
/// process can send one back to its parent: an I/O error keeps its kind and
/// message rather than the [`io::Error`] itself. None has a
/// [`source`](std::error::Error::source): the message says it all, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Opening, reading or listing a path failed.
    #[error("cannot {action} {}: {message}", path.display())]
    Io {
        /// The path at fault.
        #[serde(with = "crate::path_bytes")]
        path: PathBuf,
        /// What was being done: `open`, `read`, `list directory`, ...
        action: IoAction,
        /// The kind of the underlying I/O error.
        kind: IoKind,
        /// The underlying error's message.
        message: String,
    },
    /// A file is not valid UTF-8 (and decoding was not lossy).
    #[error("{}: invalid UTF-8 at byte offset {offset}", path.display())]
    InvalidUtf8 {
        /// The file at fault.
        #[serde(with = "crate::path_bytes")]
        path: PathBuf,
        /// Offset in the file of the first byte of the invalid sequence.
        offset: u64,
    },
    /// A file changed while it was being counted: it was truncated, grew, was written or was
    /// replaced between the plan and the end of its reading (see [`crate::Stamp`]). Its
    /// counts would be those of no version of the file, so there are none.
    #[error("{}: changed while being counted: {change}", path.display())]
    Changed {
        /// The file at fault.
        #[serde(with = "crate::path_bytes")]
        path: PathBuf,
        /// How it changed.
        change: Change,
    },
}

impl Error {
    /// An I/O error on `path` while doing `action`.
    pub fn io(path: &Path, action: IoAction, err: &io::Error) -> Self {
        Error::Io {
            path: path.to_owned(),
            action,
            kind: IoKind::from(err.kind()),
            message: err.to_string(),
        }
    }

    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Error::Io { path, .. }
            | Error::InvalidUtf8 { path, .. }
            | Error::Changed { path, .. } => path,
        }
    }
}

/// What was being done when an I/O error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum IoAction {
    /// Looking a path up (`stat`).
    Stat,
    /// Listing a directory.
    ListDirectory,
    /// Opening a file.
    Open,
    /// Reading (or seeking in) a file.
    Read,
    /// Looking at an open file (`fstat`), or at its path again after reading it.
    Check,
}

impl fmt::Display for IoAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoAction::Stat => "access",
            IoAction::ListDirectory => "list directory",
            IoAction::Open => "open",
            IoAction::Read => "read",
            IoAction::Check => "check",
        })
    }
}

/// The kinds of I/O error worth telling apart (a serializable subset of
/// [`io::ErrorKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum IoKind {
    /// The path does not exist.
    NotFound,
    /// Permission was denied.
    PermissionDenied,
    /// A directory was found where a file was expected, or the reverse.
    WrongType,
    /// Any other error.
    Other,
}

impl From<io::ErrorKind> for IoKind {
    fn from(kind: io::ErrorKind) -> Self {
        match kind {
            io::ErrorKind::NotFound => IoKind::NotFound,
            io::ErrorKind::PermissionDenied => IoKind::PermissionDenied,
            io::ErrorKind::IsADirectory | io::ErrorKind::NotADirectory => IoKind::WrongType,
            _ => IoKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file() {
        let err = Error::io(
            Path::new("dir/missing.txt"),
            IoAction::Open,
            &io::Error::from(io::ErrorKind::NotFound),
        );
        assert_eq!(err.path(), Path::new("dir/missing.txt"));
        let msg = err.to_string();
        assert!(msg.starts_with("cannot open dir/missing.txt: "), "{msg}");
        assert!(matches!(
            err,
            Error::Io {
                kind: IoKind::NotFound,
                ..
            }
        ));
        let err = Error::InvalidUtf8 {
            path: "x.txt".into(),
            offset: 7,
        };
        assert_eq!(err.to_string(), "x.txt: invalid UTF-8 at byte offset 7");
    }

    #[test]
    fn round_trips_through_serde() {
        let err = Error::io(
            Path::new("a"),
            IoAction::Read,
            &io::Error::from(io::ErrorKind::PermissionDenied),
        );
        let json = serde_json::to_string(&err).expect("serialize");
        let back: Error = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, err);
        let err = Error::Changed {
            path: "grown.txt".into(),
            change: Change::Resized { from: 10, to: 20 },
        };
        let bytes = multiproc::codec::encode(&err).expect("encode").bytes;
        let back: Error = multiproc::codec::decode(&bytes, Vec::new()).expect("decode");
        assert_eq!(back, err);
        assert_eq!(
            err.to_string(),
            "grown.txt: changed while being counted: its size went from 10 to 20 bytes"
        );
    }
}
