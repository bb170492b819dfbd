//! The `fork` start method.

use std::io;
use std::os::fd::OwnedFd;

use super::ForkPermit;
use crate::sys;
use crate::sys::proc::Forked;

/// Forks the caller; the child runs the bootstrap in its copy of memory.
pub(crate) fn launch(permit: ForkPermit) -> io::Result<(i32, OwnedFd)> {
    let (ours, theirs) = sys::fd::socketpair()?;
    match sys::fork_method::fork(permit)? {
        Forked::Child => {
            drop(ours);
            crate::child::run_forked(theirs)
        }
        Forked::Parent(pid) => Ok((pid, ours)),
    }
}
