//! Awaiting a pool's results (feature `tokio`): an [`AsyncResult`] is a future.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{AsyncResult, PoolError};

/// # Async
///
/// With the `tokio` feature, an `AsyncResult` is awaited: `pool.apply_async(f, x)?.await`
/// and `pool.map_async(f, xs)?.await` give what `get` would, without blocking the thread
/// (the scheduler wakes the task when it stores the result). This needs no runtime feature
/// of tokio's: any executor polls it.
///
/// **Cancellation** never cancels the task (use [`cancel`](AsyncResult::cancel) for that):
/// dropping the future of `.await` drops the `AsyncResult`, and the task's result with it,
/// while dropping [`get_async`](AsyncResult::get_async) keeps the result for a later `get`.
///
/// ```rust,standalone_crate
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> Result<(), multiproc::PoolError> {
///     let pool = multiproc::Pool::new(2)?;
///     assert_eq!(pool.apply_async(square, 7)?.await?, 49);
///     assert_eq!(pool.map_async(square, 0..4)?.await?, [0, 1, 4, 9]);
///     Ok(())
/// }
/// ```
impl<T> AsyncResult<T> {
    /// Waits for the task, without blocking the thread, and takes its result: [`get`] for
    /// async code. Dropping the future leaves the result for a later `get` (or
    /// `get_async`); awaiting it again after a successful one gives [`PoolError::Taken`].
    ///
    /// [`get`]: AsyncResult::get
    pub fn get_async(&self) -> impl Future<Output = Result<T, PoolError>> + '_ {
        std::future::poll_fn(|cx| self.poll_take(cx))
    }
}

impl<T> IntoFuture for AsyncResult<T> {
    type Output = Result<T, PoolError>;
    type IntoFuture = AsyncResultFuture<T>;

    /// Awaits the result, consuming the `AsyncResult` (see "Async" on [`AsyncResult`]).
    fn into_future(self) -> AsyncResultFuture<T> {
        AsyncResultFuture { result: self }
    }
}

/// The future of awaiting an [`AsyncResult`] (`result.await`): the task's result, as
/// [`AsyncResult::get`] gives it. Dropping it drops the result; the task goes on.
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct AsyncResultFuture<T> {
    result: AsyncResult<T>,
}

impl<T> Future for AsyncResultFuture<T> {
    type Output = Result<T, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, PoolError>> {
        self.result.poll_take(cx)
    }
}
