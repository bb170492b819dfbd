//! Every system call multiproc makes, behind one set of crate-private names.
//!
//! This module and the shared-memory internals are the only places where `unsafe` lives. Each
//! `unsafe` block states the invariant it relies on. The rest of the crate sees safe functions
//! taking `BorrowedFd`/`OwnedFd`, never bare descriptors.
//!
//! Linux is the platform this module targets (pidfd, `clone(CLONE_PARENT)`, memfd, futex); other
//! Unix systems would provide the same names from their own files.

#[cfg(feature = "tokio")]
pub(crate) mod async_fd;
pub(crate) mod entry;
pub(crate) mod fd;
pub(crate) mod fork_method;
pub(crate) mod forkserver;
pub(crate) mod futex;
#[cfg(feature = "tokio")]
pub(crate) mod futex_waitv;
pub(crate) mod mman;
pub(crate) mod owner;
pub(crate) mod proc;
pub(crate) mod queue_ring;
pub(crate) mod queue_shm;
pub(crate) mod shm_tracker;
pub(crate) mod target;
