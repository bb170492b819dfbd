//! The `fork` start method: the permit that makes choosing it `unsafe`, and the fork itself.

use std::io;

use super::proc::{self, Forked};
use crate::start::StartMethod;

/// Proof that the program opted in to the `fork` start method through an `unsafe` call.
///
/// It can only be made by [`StartMethod::fork`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ForkPermit(());

impl StartMethod {
    /// The `fork` start method: the child is a copy of the calling process made by `fork(2)`,
    /// like Python's `fork` start method. It is the cheapest way to start a process.
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
}

/// Forks the calling process.
pub(crate) fn fork(_permit: ForkPermit) -> io::Result<Forked> {
    // SAFETY: a ForkPermit exists only if the program called the `unsafe fn StartMethod::fork`
    // and so took on its contract: no other thread is in a critical section at this point.
    unsafe { proc::fork() }
}
