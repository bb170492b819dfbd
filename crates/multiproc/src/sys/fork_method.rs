//! The ways the platform can create a child, and the permit that makes `fork` `unsafe`.
//!
//! [`StartMethod`] is defined here, beside the one `unsafe fn` that makes its `Fork` variant;
//! its names, parsing and contexts live in [`crate::start`], which re-exports it.

use std::io;

use super::proc::{self, Forked};

/// How a child process is created. See the [module docs](crate::start) for what each does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StartMethod {
    /// A fork server started once from `/proc/self/exe` forks each child. The default on Linux.
    #[doc(alias = "forkserver")]
    ForkServer,
    /// Each child is a fresh `posix_spawn` of `/proc/self/exe`. Slower, always available.
    Spawn,
    /// The child is a `fork(2)` of the caller. Made only by the `unsafe`
    /// [`StartMethod::fork`], because forking a threaded process is unsound.
    Fork(ForkPermit),
}

/// Proof that the program opted in to the `fork` start method through an `unsafe` call.
///
/// It can only be made by [`StartMethod::fork`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ForkPermit(());

impl StartMethod {
    /// The `fork` start method: the child is a copy of the calling process made by `fork(2)`,
    /// like Python's `fork` start method. It is the cheapest way to start a process.
    ///
    /// A child started with it uses it for its own children too, as Python's do; the promise
    /// below then extends to the child's code.
    ///
    /// # Safety
    /// Only the calling thread exists in the child. If another thread holds a lock at the moment
    /// of the fork (an allocator lock, a `Mutex`, stdout's lock, a lock inside a library), the
    /// child inherits it locked forever and may deadlock or see half-updated state. The caller
    /// promises that, whenever a process is started with this method, no other thread of the
    /// process can be inside such a critical section: in practice, that the program is
    /// single-threaded when it starts processes.
    pub unsafe fn fork() -> StartMethod {
        StartMethod::Fork(ForkPermit(()))
    }

    /// The method a child was started with, from its one-byte wire form (0 forkserver, 1 spawn,
    /// 2 fork); an unknown byte means the default, forkserver.
    ///
    /// A `2` only ever comes from a parent that held a permit: the program took on the contract
    /// of [`StartMethod::fork`], and this child runs the same program.
    pub(crate) fn from_wire(b: u8) -> StartMethod {
        match b {
            1 => StartMethod::Spawn,
            2 => StartMethod::Fork(ForkPermit(())),
            _ => StartMethod::ForkServer,
        }
    }

    /// The one-byte wire form of the method (see [`StartMethod::from_wire`]).
    pub(crate) fn to_wire(self) -> u8 {
        match self {
            StartMethod::ForkServer => 0,
            StartMethod::Spawn => 1,
            StartMethod::Fork(_) => 2,
        }
    }
}

/// Forks the calling process.
pub(crate) fn fork(_permit: ForkPermit) -> io::Result<Forked> {
    // SAFETY: a ForkPermit exists only if the program called the `unsafe fn StartMethod::fork`
    // and so took on its contract (directly, or through the parent that started this process
    // with it): no other thread is in a critical section at this point.
    unsafe { proc::fork() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_round_trips() {
        // SAFETY: the method is only compared, never used to start a process.
        let fork = unsafe { StartMethod::fork() };
        for m in [StartMethod::ForkServer, StartMethod::Spawn, fork] {
            assert_eq!(StartMethod::from_wire(m.to_wire()), m);
        }
        assert_eq!(StartMethod::from_wire(200), StartMethod::ForkServer);
    }
}
