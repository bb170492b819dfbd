//! Every system call multiproc makes, behind one set of crate-private names.
//!
//! This module holds the platform layer only: system calls behind safe functions (and the
//! few `unsafe fn`s, such as `fork`, whose contract the caller must keep), no queue, lock or
//! tracker logic. With the shared-memory internals it is where `unsafe` lives: the crate
//! denies `unsafe_code`, and each module below that needs it says so. Each `unsafe` block
//! states the invariant it relies on. The rest of the crate sees safe functions taking
//! `BorrowedFd`/`OwnedFd`, never bare descriptors.
//!
//! Linux is the platform this module targets (pidfd, `clone(CLONE_PARENT)`, memfd, futex); other
//! Unix systems would provide the same names from their own files.

#[cfg(feature = "tokio")]
#[allow(unsafe_code)]
pub(crate) mod async_fd;
#[allow(unsafe_code)]
pub(crate) mod entry;
#[allow(unsafe_code)]
pub(crate) mod fd;
#[allow(unsafe_code)]
pub(crate) mod fork_method;
#[allow(unsafe_code)]
pub(crate) mod forkserver;
#[allow(unsafe_code)]
pub(crate) mod futex;
#[cfg(feature = "tokio")]
#[allow(unsafe_code)]
pub(crate) mod futex_waitv;
#[allow(unsafe_code)]
pub(crate) mod mman;
#[allow(unsafe_code)]
pub(crate) mod proc;
#[allow(unsafe_code)]
pub(crate) mod target;
#[allow(unsafe_code)]
pub(crate) mod task;
#[allow(unsafe_code)]
pub(crate) mod watcher;
