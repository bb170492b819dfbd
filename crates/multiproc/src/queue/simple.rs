//! [`SimpleQueue`]: the plain queue, with only put, get and empty.

use std::fmt;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{GetError, GetTimeoutError, Kind, PutError, Queue, TryGetError};

/// An unbounded queue with only `put`, `get` and `is_empty` (Python's
/// `multiprocessing.SimpleQueue`). It is a [`Queue`] underneath, with the same speed and the
/// same guarantees.
///
/// ```
/// let q = multiproc::SimpleQueue::<String>::new();
/// q.put("hello".into()).unwrap();
/// assert!(!q.is_empty());
/// assert_eq!(q.get().unwrap(), "hello");
/// ```
pub struct SimpleQueue<T> {
    pub(super) queue: Queue<T>,
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// An empty queue.
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; [`Queue::builder`] reports that.
    pub fn new() -> SimpleQueue<T> {
        Queue::builder()
            .build_simple()
            .expect("failed to create a queue")
    }

    pub(super) fn from_queue(queue: Queue<T>) -> SimpleQueue<T> {
        SimpleQueue { queue }
    }

    /// Puts `value` at the back; never waits.
    pub fn put(&self, value: T) -> Result<(), PutError<T>> {
        self.queue.put(value)
    }

    /// Takes the item at the front, waiting as long as it takes for one.
    pub fn get(&self) -> Result<T, GetError> {
        self.queue.get()
    }

    /// Takes the item at the front if there is one now.
    pub fn try_get(&self) -> Result<T, TryGetError> {
        self.queue.try_get()
    }

    /// Takes the item at the front, waiting at most `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
        self.queue.get_timeout(timeout)
    }

    /// Takes the item at the front, waiting until `deadline` at most.
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, GetTimeoutError> {
        self.queue.get_deadline(deadline)
    }

    /// Whether the queue holds no item (a snapshot).
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Closes this handle: later puts and gets on it fail with `Closed`.
    pub fn close(&self) {
        self.queue.close()
    }
}

impl<T: Serialize + DeserializeOwned> Default for SimpleQueue<T> {
    fn default() -> Self {
        SimpleQueue::new()
    }
}

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("queue", &self.queue)
            .finish()
    }
}

impl<T> Serialize for SimpleQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.queue.serialize_as(Kind::Simple, s)
    }
}

impl<'de, T> Deserialize<'de> for SimpleQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Queue::deserialize_as(Kind::Simple, d).map(|queue| SimpleQueue { queue })
    }
}
