//! [`QueueProxy`] and [`JoinableQueueProxy`]: queues kept in a manager.

use std::marker::PhantomData;
use std::ops::Deref;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::manager::ManagerError;
use crate::manager::client::{ObjRef, unexpected, wait_until};
use crate::manager::protocol::{Op, Reply, Wait};
use crate::manager::server::queue::QueueOp;

/// A FIFO queue in a manager (Python's `Manager().Queue()`), which processes on other machines
/// can reach too.
///
/// Blocking operations come in four forms: `put` blocks while the queue is full, `try_put`
/// never blocks, `put_timeout` and `put_deadline` give up at a time ([`ManagerError::Full`]);
/// the same for `get` ([`ManagerError::Empty`]). An item that could not be put is not given
/// back: it was encoded and sent.
///
/// An item is taken from the queue only once the getting process has it: if that process dies
/// during its `get`, or its call fails on the way back, the item goes back to the front of the
/// queue, for the next `get`. A `get` that cannot decode the item as `T` (a proxy of the wrong
/// type) fails with [`ManagerError::Decode`] only once the item is back there.
///
/// Between processes of one machine, [`multiproc::Queue`](crate::Queue) in shared memory is far
/// faster; this one lives in the manager, so it survives its users and crosses machines.
///
/// ```rust,standalone_crate
/// multiproc::init();
/// let manager = multiproc::Manager::start().unwrap();
/// let q = manager.queue::<String>().unwrap();
/// q.put("job".into()).unwrap();
/// assert_eq!(q.get().unwrap(), "job");
/// assert!(matches!(q.try_get(), Err(multiproc::manager::ManagerError::Empty)));
/// ```
pub struct QueueProxy<T> {
    obj: ObjRef,
    _type: PhantomData<fn() -> T>,
}

impl<T> QueueProxy<T> {
    pub(crate) fn from_ref(obj: ObjRef) -> Self {
        QueueProxy {
            obj,
            _type: PhantomData,
        }
    }
}

super::proxy_impls!(QueueProxy<T>);

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    fn put_inner(&self, item: T, wait: Wait) -> Result<(), ManagerError> {
        let v = self.obj.encode(&item)?;
        self.obj.unit(Op::Queue(QueueOp::Put {
            item: v.payload,
            wait,
        }))
    }

    fn get_inner(&self, wait: Wait) -> Result<T, ManagerError> {
        self.obj.value(Op::Queue(QueueOp::Get(wait)))
    }

    /// Adds `item`, waiting while the queue is full.
    pub fn put(&self, item: T) -> Result<(), ManagerError> {
        self.put_inner(item, Wait::Forever)
    }

    /// Adds `item` if there is room now, else [`ManagerError::Full`] (Python's `put_nowait`).
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, item: T) -> Result<(), ManagerError> {
        self.put_inner(item, Wait::Now)
    }

    /// Adds `item`, waiting at most `timeout` for room.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), ManagerError> {
        self.put_inner(item, Wait::For(timeout))
    }

    /// Adds `item`, waiting until `deadline` at most for room.
    pub fn put_deadline(&self, item: T, deadline: Instant) -> Result<(), ManagerError> {
        self.put_inner(item, wait_until(deadline))
    }

    /// Removes and returns the oldest item, waiting for one.
    pub fn get(&self) -> Result<T, ManagerError> {
        self.get_inner(Wait::Forever)
    }

    /// The oldest item if there is one now, else [`ManagerError::Empty`] (Python's
    /// `get_nowait`).
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Result<T, ManagerError> {
        self.get_inner(Wait::Now)
    }

    /// The oldest item, waiting at most `timeout` for one.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, ManagerError> {
        self.get_inner(Wait::For(timeout))
    }

    /// The oldest item, waiting until `deadline` at most for one.
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, ManagerError> {
        self.get_inner(wait_until(deadline))
    }

    /// How many items are in the queue.
    #[doc(alias = "qsize")]
    pub fn len(&self) -> Result<usize, ManagerError> {
        self.obj.count(Op::Queue(QueueOp::Len))
    }

    /// Whether the queue is empty.
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        self.len().map(|n| n == 0)
    }

    /// Whether the queue is full (never for an unbounded queue).
    #[doc(alias = "full")]
    pub fn is_full(&self) -> Result<bool, ManagerError> {
        let max = self.capacity()?;
        Ok(max > 0 && self.len()? >= max)
    }

    /// The most items the queue holds, 0 for no limit.
    #[doc(alias = "maxsize")]
    pub fn capacity(&self) -> Result<usize, ManagerError> {
        self.obj.count(Op::Queue(QueueOp::MaxSize))
    }
}

/// A [`QueueProxy`] whose consumers say when they are done with each item, so a producer can
/// wait until every item has been handled (Python's `Manager().JoinableQueue()`).
///
/// It dereferences to the [`QueueProxy`] for `put` and `get`.
pub struct JoinableQueueProxy<T> {
    queue: QueueProxy<T>,
}

impl<T> JoinableQueueProxy<T> {
    pub(crate) fn from_ref(obj: ObjRef) -> Self {
        JoinableQueueProxy {
            queue: QueueProxy::from_ref(obj),
        }
    }
}

impl<T> Deref for JoinableQueueProxy<T> {
    type Target = QueueProxy<T>;

    fn deref(&self) -> &QueueProxy<T> {
        &self.queue
    }
}

impl<T> JoinableQueueProxy<T> {
    /// The bound of each call through this proxy (see
    /// [Deadlines](crate::manager#deadlines)).
    pub fn timeout(&self) -> Duration {
        self.queue.timeout()
    }

    /// Sets the bound of each call through this proxy.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.queue.set_timeout(timeout);
    }

    /// This proxy with another bound for each call.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.set_timeout(timeout);
        self
    }
}

impl<T> Clone for JoinableQueueProxy<T> {
    fn clone(&self) -> Self {
        JoinableQueueProxy {
            queue: self.queue.clone(),
        }
    }
}

impl<T> std::fmt::Debug for JoinableQueueProxy<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.queue.obj.debug(f, "JoinableQueueProxy")
    }
}

impl<T> Serialize for JoinableQueueProxy<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.queue.serialize(s)
    }
}

impl<'de, T> serde::Deserialize<'de> for JoinableQueueProxy<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        QueueProxy::deserialize(d).map(|queue| JoinableQueueProxy { queue })
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueueProxy<T> {
    /// Says that an item got from the queue has been handled. Calling it more often than items
    /// were put is an error.
    pub fn task_done(&self) -> Result<(), ManagerError> {
        self.queue.obj.unit(Op::Queue(QueueOp::TaskDone))
    }

    fn join_inner(&self, wait: Wait) -> Result<bool, ManagerError> {
        self.queue
            .obj
            .call(Op::Queue(QueueOp::Join(wait)), |r| match r {
                Reply::Unit => Ok(true),
                Reply::Timeout => Ok(false),
                other => Err(unexpected(other)),
            })
    }

    /// Waits until every item put has been marked done with [`task_done`](Self::task_done).
    pub fn join(&self) -> Result<(), ManagerError> {
        self.join_inner(Wait::Forever).map(drop)
    }

    /// Whether every item put has been marked done, now.
    pub fn try_join(&self) -> Result<bool, ManagerError> {
        self.join_inner(Wait::Now)
    }

    /// Waits at most `timeout` for every item to be marked done; whether they were.
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool, ManagerError> {
        self.join_inner(Wait::For(timeout))
    }

    /// Waits until `deadline` at most for every item to be marked done; whether they were.
    pub fn join_deadline(&self, deadline: Instant) -> Result<bool, ManagerError> {
        self.join_inner(wait_until(deadline))
    }

    /// How many items were put and not yet marked done.
    pub fn unfinished(&self) -> Result<usize, ManagerError> {
        self.queue.obj.count(Op::Queue(QueueOp::Unfinished))
    }
}
