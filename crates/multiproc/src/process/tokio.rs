//! Awaiting a child from async code (feature `tokio`): its pidfd, and the socket on which it
//! reports its result, on the runtime's reactor.

use std::io;
use std::os::fd::AsFd;
use std::time::Instant;

use serde::de::DeserializeOwned;

use super::child::{Child, exitcode};
use super::{Handle, ProcessError};
use crate::reactor::fd::{Direction, Try, until_done};
use crate::sys::proc::WaitStatus;

impl Child {
    /// Waits until the child has ended and is reaped, collecting what it sends meanwhile (so
    /// that it never blocks on a full socket), without blocking the thread.
    pub(crate) async fn wait_async(&self) -> io::Result<WaitStatus> {
        let fds = [self.pidfd.as_fd(), self.conn.as_fd()];
        until_done(&fds, Direction::Read, || {
            match self.wait(Some(Instant::now())) {
                Ok(Some(status)) => Try::Done(Ok(status)),
                Ok(None) => Try::WouldBlock,
                Err(e) => Try::Done(Err(e)),
            }
        })
        .await?
    }
}

impl<R: DeserializeOwned> Handle<R> {
    /// Waits for the child to end, without blocking the thread, and returns what its target
    /// returned: [`join`](Handle::join) for async code.
    ///
    /// The child's pidfd and the socket on which it reports its result wait on the tokio
    /// runtime's reactor, so a `current_thread` runtime can await any number of children at
    /// once. It needs a tokio runtime with IO enabled (`#[tokio::main]` and
    /// `#[tokio::test]` have one).
    ///
    /// **Cancellation.** The future owns the handle. Dropping it before the child ends (a
    /// `tokio::time::timeout`, a `select!` branch not taken) drops the handle, which detaches
    /// the child, exactly as dropping a [`Handle`] does: it keeps running, its return value is
    /// discarded, and it is reaped as soon as it ends, never left a zombie. To wait with a
    /// bound and keep the handle, await [`wait_async`](Handle::wait_async) under the timeout,
    /// then `join_async`.
    ///
    /// ```rust,standalone_crate
    /// fn double(x: u32) -> u32 {
    ///     x * 2
    /// }
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     let handles: Vec<_> = (0..3).map(|i| multiproc::spawn(double, i)).collect();
    ///     let mut doubled = Vec::new();
    ///     for h in handles {
    ///         doubled.push(h.join_async().await.unwrap());
    ///     }
    ///     assert_eq!(doubled, [0, 2, 4]);
    /// }
    /// ```
    pub async fn join_async(self) -> Result<R, ProcessError> {
        self.child.wait_async().await?;
        self.join()
    }

    /// Waits for the child to end, without blocking the thread, and returns its exit code,
    /// keeping the handle ([`wait`](Handle::wait) for async code). The return value stays
    /// available to [`join`](Handle::join) or [`join_async`](Handle::join_async).
    ///
    /// **Cancellation** loses nothing: dropping the future leaves the handle as it was.
    ///
    /// ```rust,standalone_crate
    /// use std::time::Duration;
    ///
    /// fn nap(ms: u64) -> u64 {
    ///     std::thread::sleep(Duration::from_millis(ms));
    ///     ms
    /// }
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     let h = multiproc::spawn(nap, 200);
    ///     // Too short: the child goes on, and the handle is still ours.
    ///     let waited = tokio::time::timeout(Duration::from_millis(10), h.wait_async()).await;
    ///     assert!(waited.is_err());
    ///     assert_eq!(h.wait_async().await.unwrap(), 0);
    ///     assert_eq!(h.join_async().await.unwrap(), 200);
    /// }
    /// ```
    pub async fn wait_async(&self) -> io::Result<i32> {
        self.child.wait_async().await.map(exitcode)
    }
}
