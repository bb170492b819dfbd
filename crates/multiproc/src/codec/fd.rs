//! [`Fd`]: an owned descriptor that can be passed to another process.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An owned file descriptor that travels to other processes.
///
/// Put it in a process argument, a queue item or a connection message, and the receiving process
/// gets its own descriptor for the same open file (as with `SCM_RIGHTS`, or Python's
/// `multiprocessing.reduction.send_handle`).
///
/// ```
/// let file = tempfile::tempfile().unwrap();
/// let fd = multiproc::Fd::from(file);
/// let file: std::fs::File = fd.into();
/// # drop(file);
/// ```
#[derive(Debug)]
pub struct Fd(OwnedFd);

impl Fd {
    /// Duplicates the descriptor.
    pub fn try_clone(&self) -> std::io::Result<Fd> {
        self.0.try_clone().map(Fd)
    }
}

impl From<OwnedFd> for Fd {
    fn from(fd: OwnedFd) -> Self {
        Fd(fd)
    }
}

impl From<File> for Fd {
    fn from(f: File) -> Self {
        Fd(f.into())
    }
}

impl From<Fd> for OwnedFd {
    fn from(fd: Fd) -> Self {
        fd.0
    }
}

impl From<Fd> for File {
    fn from(fd: Fd) -> Self {
        File::from(fd.0)
    }
}

impl AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl IntoRawFd for Fd {
    fn into_raw_fd(self) -> RawFd {
        self.0.into_raw_fd()
    }
}

impl Serialize for Fd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        super::serialize_fd(self.0.as_fd(), s)
    }
}

impl<'de> Deserialize<'de> for Fd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::deserialize_fd(d).map(Fd)
    }
}
