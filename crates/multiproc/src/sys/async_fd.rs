//! Descriptors handed to tokio's reactor (the async API, feature `tokio`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A descriptor as the reactor holds it: the object's own, borrowed, or a duplicate.
#[derive(Debug)]
pub(crate) enum ReactorFd<'a> {
    /// The object's descriptor, open for as long as the borrow.
    Borrowed(BorrowedFd<'a>),
    /// A duplicate, for a descriptor that the reactor holds already (another future of the
    /// same object waits on it).
    Duplicate(OwnedFd),
}

impl AsRawFd for ReactorFd<'_> {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            ReactorFd::Borrowed(fd) => fd.as_raw_fd(),
            ReactorFd::Duplicate(fd) => fd.as_raw_fd(),
        }
    }
}

/// Registers `fd` with the reactor of the tokio runtime that runs the caller, for `interest`,
/// until the returned `AsyncFd` is dropped. The reactor takes each descriptor once: if it
/// holds `fd` already, a duplicate is registered instead.
///
/// Fails if no tokio runtime runs the caller. (A runtime built without IO makes tokio panic,
/// as its own types do.)
pub(crate) fn register(
    fd: BorrowedFd<'_>,
    interest: Interest,
) -> io::Result<AsyncFd<ReactorFd<'_>>> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other(
            "an async operation of multiproc must run inside a tokio runtime",
        ));
    }
    match register_one(ReactorFd::Borrowed(fd), interest) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            register_one(ReactorFd::Duplicate(fd.try_clone_to_owned()?), interest)
        }
        r => r,
    }
}

fn register_one(fd: ReactorFd<'_>, interest: Interest) -> io::Result<AsyncFd<ReactorFd<'_>>> {
    // SAFETY: tokio requires the descriptor to stay open, and to be the same file
    // description, for as long as the `AsyncFd` lives, and `as_raw_fd` to return the same
    // number throughout. A `BorrowedFd<'a>` is open and unchanged for `'a`, which the
    // `AsyncFd<ReactorFd<'a>>` cannot outlive; an `OwnedFd` moved in can be closed by nothing
    // but the `AsyncFd`'s drop, after it deregisters. Neither changes its number.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_descriptor_held_already_is_registered_as_a_duplicate() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let (a, _b) = crate::sys::fd::socketpair().unwrap();
        rt.block_on(async {
            let first = register(a.as_fd(), Interest::READABLE).unwrap();
            let second = register(a.as_fd(), Interest::READABLE).unwrap();
            assert!(matches!(first.get_ref(), ReactorFd::Borrowed(_)));
            assert!(matches!(second.get_ref(), ReactorFd::Duplicate(_)));
            drop(first);
            // Withdrawn: the descriptor itself can be registered again.
            let third = register(a.as_fd(), Interest::READABLE).unwrap();
            assert!(matches!(third.get_ref(), ReactorFd::Borrowed(_)));
        });
    }

    #[test]
    fn outside_a_runtime_it_is_an_error() {
        let (a, _b) = crate::sys::fd::socketpair().unwrap();
        let err = register(a.as_fd(), Interest::READABLE).unwrap_err();
        assert!(err.to_string().contains("tokio runtime"), "{err}");
    }
}
