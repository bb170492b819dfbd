//! How the async API (the `tokio` feature) waits, without a blocked thread per waiting task.
//!
//! - **Descriptors** (a process's pidfd, a connection's socket) wait on the runtime's reactor:
//!   [`fd::until_done`] tries the operation without blocking, and if it would block, registers
//!   a duplicate of the descriptor with tokio (`AsyncFd`) and tries again at each readiness
//!   event. Nothing is read or written except by a complete attempt, so a future dropped
//!   between two attempts leaves the object as it was.
//! - **Futex words** in shared memory (events, locks, semaphores, queues) cannot be handed to
//!   a reactor. The [`futex`] waker threads wait on many words at once (`futex_waitv`) and turn
//!   a word's wake into wakes of the tasks waiting on it; see that module for why no wake is
//!   lost. Those futures need no runtime at all (any executor polls them).
//! - **In-process results** (a pool's [`AsyncResult`](crate::AsyncResult)) keep the task's
//!   `Waker` beside the result and wake it when the result is stored.

#![forbid(unsafe_code)]

pub(crate) mod fd;
pub(crate) mod futex;
