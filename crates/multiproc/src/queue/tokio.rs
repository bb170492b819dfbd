//! Queues from async code (feature `tokio`): each step is a `try_` operation, and between
//! steps the task sleeps on the ring's sequence words through the futex waker (see
//! `crate::reactor::futex`), counted among the ring's sleepers exactly as a blocked thread is.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicU32, fence};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ring::{Awaited, Ring};
use super::{GetError, GetFailure, JoinableQueue, PutError, PutFailure, Queue, SimpleQueue};
use crate::reactor::futex::{self as futex_waker, Attempt, FutexFuture, FutexOp};
use crate::sys::futex;

/// Waiting until `ready()` holds for a ring: counts itself among the sleepers of the word
/// that announces it, then sleeps on that word.
struct RingWait<'a, F> {
    seq: &'a AtomicU32,
    sleepers: &'a AtomicU32,
    ready: F,
    announced: bool,
}

impl<'a, F: Fn() -> bool> RingWait<'a, F> {
    fn new(ring: &'a Ring, what: Awaited, ready: F) -> Self {
        let (seq, sleepers) = ring.wait_words(what);
        RingWait {
            seq,
            sleepers,
            ready,
            announced: false,
        }
    }
}

impl<F: Fn() -> bool> FutexOp for RingWait<'_, F> {
    type Output = ();

    fn attempt(&mut self) -> Attempt<()> {
        if !self.announced {
            self.announced = true;
            self.sleepers.fetch_add(1, SeqCst);
        }
        // As the ring's own waiters: counted first, then the sequence, then the condition, so
        // that a change after the look either changes the sequence (ending the sleep) or sees
        // the count and wakes.
        fence(SeqCst);
        let s = self.seq.load(SeqCst);
        if (self.ready)() {
            Attempt::Ready(())
        } else {
            Attempt::sleep(self.seq, s, None)
        }
    }

    fn finish(&mut self, completed: bool) {
        if !self.announced {
            return;
        }
        self.sleepers.fetch_sub(1, SeqCst);
        if !completed && self.sleepers.load(SeqCst) > 0 {
            // Items and room are announced to one sleeper at a time: if that was this task,
            // pass it on.
            self.seq.fetch_add(1, SeqCst);
            futex::wake(self.seq, 1);
        }
    }
}

/// How long a put waits before trying again when the ring has room but the channel that
/// carries items' handles is full (it empties as consumers take those items).
const HANDLES_FULL_PAUSE: Duration = Duration::from_millis(2);

/// # Async
///
/// With the `tokio` feature, `get_async` and `put_async` wait without blocking the thread:
/// the task sleeps on the queue's futex words through multiproc's futex waker thread, which
/// wakes it when an item (or room) comes, so any number of tasks wait at no thread's cost,
/// on any async runtime. A step itself is a `try_get`/`try_put`, which may wait a few
/// microseconds (at most a few milliseconds) for the queue's lock while another process
/// copies an item in or out.
///
/// **Cancellation.** `get_async` is cancel-safe: an item is taken only by the poll that
/// returns it. Dropping `put_async` before it completes drops the value, which was not put
/// (as with tokio's channels); once it completes, the item is in the queue.
///
/// ```rust,standalone_crate
/// fn produce(q: multiproc::Queue<u64>) {
///     for i in 0..1000 {
///         q.put(i).unwrap();
///     }
/// }
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() {
///     let q = multiproc::Queue::bounded(10);
///     let child = multiproc::spawn(produce, q.clone());
///     let mut sum = 0;
///     for _ in 0..1000 {
///         sum += q.get_async().await.unwrap();
///     }
///     assert_eq!(sum, 999 * 1000 / 2);
///     child.join_async().await.unwrap();
/// }
/// ```
impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// Takes the item at the front, waiting without blocking the thread until there is one:
    /// [`get`](Queue::get) for async code. Cancel-safe.
    pub async fn get_async(&self) -> Result<T, GetError> {
        loop {
            match self.get_inner(Some(Instant::now())) {
                Ok(v) => return Ok(v),
                Err(GetFailure::Empty) => {}
                Err(GetFailure::Closed) => return Err(GetError::Closed),
                Err(GetFailure::Decode(e)) => return Err(GetError::Decode(e)),
                Err(GetFailure::Corrupt(why)) => return Err(GetError::Corrupt(why)),
            }
            let ring = self.ring();
            FutexFuture::new(RingWait::new(ring, Awaited::Item, || ring.len() > 0)).await;
        }
    }

    /// Puts `value` at the back of the queue, waiting without blocking the thread for room if
    /// the queue is bounded and full: [`put`](Queue::put) for async code. An unbounded queue
    /// never waits. Dropping the future before it completes drops `value` unput.
    pub async fn put_async(&self, value: T) -> Result<(), PutError<T>> {
        loop {
            match self.put_inner(&value, Some(Instant::now())) {
                Ok(()) => return Ok(()),
                Err(PutFailure::Full) => {}
                Err(PutFailure::Closed) => return Err(PutError::Closed(value)),
                Err(PutFailure::Encode(error)) => return Err(PutError::Encode { value, error }),
                Err(PutFailure::Io(error)) => return Err(PutError::Io { value, error }),
            }
            let ring = self.ring();
            if self.is_full() {
                FutexFuture::new(RingWait::new(ring, Awaited::Room, || !self.is_full())).await;
            } else {
                // Room, but the channel of items' handles is full.
                futex_waker::sleep(HANDLES_FULL_PAUSE).await;
            }
        }
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// Waits without blocking the thread until every item put has been marked done with
    /// [`task_done`](JoinableQueue::task_done): [`join`](JoinableQueue::join) for async code.
    /// Cancellation loses nothing.
    pub async fn join_async(&self) {
        let ring = self.ring();
        FutexFuture::new(RingWait::new(ring, Awaited::AllDone, || {
            ring.unfinished() == 0
        }))
        .await;
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// Takes the item at the front, waiting without blocking the thread until there is one:
    /// [`get`](SimpleQueue::get) for async code. Cancel-safe. (A `SimpleQueue` is never
    /// bounded, so its `put` never waits: there is no `put_async`.)
    pub async fn get_async(&self) -> Result<T, GetError> {
        self.queue.get_async().await
    }
}
