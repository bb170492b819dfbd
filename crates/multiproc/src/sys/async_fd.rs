//! A descriptor handed to tokio's reactor (the async API, feature `tokio`).

use std::io;
use std::os::fd::OwnedFd;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Registers `fd` with the reactor of the tokio runtime that runs the caller, for `interest`.
/// The registration ends when the returned `AsyncFd` is dropped, which closes `fd`.
///
/// Fails if no tokio runtime runs the caller. (A runtime built without IO makes tokio panic,
/// as its own types do.)
pub(crate) fn register(fd: OwnedFd, interest: Interest) -> io::Result<AsyncFd<OwnedFd>> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other(
            "an async operation of multiproc must run inside a tokio runtime",
        ));
    }
    // SAFETY: `fd` is an `OwnedFd`, moved into the `AsyncFd`: it is open, nothing else can
    // close it while the `AsyncFd` lives (it closes it when dropped, after deregistering), and
    // its `as_raw_fd` always returns the same number.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(io::Error::from)
}
