//! [`JoinableQueue`]: a queue whose consumers report each task done, so a producer can wait
//! for all of them.

use std::fmt;
use std::ops::Deref;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Kind, Queue, TaskDoneError};
use crate::sys::fd::deadline_after;

/// A [`Queue`] that counts unfinished tasks (Python's `multiprocessing.JoinableQueue`).
///
/// Every put adds a task; a consumer calls [`task_done`](JoinableQueue::task_done) when it has
/// finished with an item it got, and [`join`](JoinableQueue::join) waits until every task put
/// so far is done. The count lives in the queue's shared memory, so all processes see it. All
/// of [`Queue`]'s methods are available through `Deref`.
///
/// ```
/// let tasks = multiproc::JoinableQueue::<u32>::new();
/// tasks.put(1).unwrap();
/// assert!(!tasks.try_join());
/// let n = tasks.get().unwrap();
/// tasks.task_done().unwrap();
/// assert!(tasks.try_join());
/// assert!(tasks.task_done().is_err()); // one more than was put
/// # let _ = n;
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// An unbounded joinable queue.
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; [`Queue::builder`] reports that.
    pub fn new() -> JoinableQueue<T> {
        Queue::builder()
            .build_joinable()
            .expect("failed to create a queue")
    }

    /// A joinable queue that holds at most `maxsize` items; 0 is unbounded.
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; [`Queue::builder`] reports that.
    pub fn bounded(maxsize: usize) -> JoinableQueue<T> {
        Queue::builder()
            .maxsize(maxsize)
            .build_joinable()
            .expect("failed to create a queue")
    }

    pub(super) fn from_queue(queue: Queue<T>) -> JoinableQueue<T> {
        JoinableQueue { queue }
    }

    /// Marks one task done. Calling it more times than items were put is an error, and
    /// changes nothing.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        if self.queue.ring().task_done() {
            Ok(())
        } else {
            Err(TaskDoneError)
        }
    }

    /// How many tasks were put and are not done yet.
    pub fn unfinished_tasks(&self) -> usize {
        self.queue.ring().unfinished() as usize
    }

    /// Waits until every task put so far is done.
    pub fn join(&self) {
        self.queue.ring().join(None);
    }

    /// Whether every task is done now.
    #[must_use = "a query with no effect"]
    pub fn try_join(&self) -> bool {
        self.unfinished_tasks() == 0
    }

    /// Waits at most `timeout` for every task to be done; `true` if they were.
    #[must_use = "false means some tasks are not done"]
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join_deadline(deadline_after(timeout))
    }

    /// Waits until `deadline` at most for every task to be done; `true` if they were.
    #[must_use = "false means some tasks are not done"]
    pub fn join_deadline(&self, deadline: Instant) -> bool {
        self.queue.ring().join(Some(deadline))
    }
}

impl<T: Serialize + DeserializeOwned> Default for JoinableQueue<T> {
    fn default() -> Self {
        JoinableQueue::new()
    }
}

impl<T> Deref for JoinableQueue<T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("queue", &self.queue)
            .field("unfinished", &self.queue.shared.ring.unfinished())
            .finish()
    }
}

impl<T> Serialize for JoinableQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.queue.serialize_as(Kind::Joinable, s)
    }
}

impl<'de, T> Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Queue::deserialize_as(Kind::Joinable, d).map(|queue| JoinableQueue { queue })
    }
}
