//! Queues between processes: [`Queue`], [`SimpleQueue`] and [`JoinableQueue`].
//!
//! A queue is multi-producer and multi-consumer across processes. Pass it to a child as (part
//! of) its argument, or through a [`Connection`](crate::Connection), and both processes use the
//! same queue. Items are any serde type.
//!
//! ```
//! let q = multiproc::Queue::<(u32, String)>::new();
//! q.put((1, "one".into())).unwrap();
//! q.put((2, "two".into())).unwrap();
//! assert_eq!(q.len(), 2);
//! assert_eq!(q.get().unwrap(), (1, "one".to_string()));
//! assert_eq!(q.try_get().unwrap().0, 2);
//! assert!(q.try_get().is_err());
//! ```
//!
//! # How it works
//!
//! Items live in shared memory (a memfd that every process holding the queue maps), in a
//! chain of segments that grows as needed and is reused as items are taken. `put` encodes the
//! item straight into that memory and returns: there is no feeder thread as in Python, so an
//! item put just before its process exits is never lost, and nothing needs flushing at exit.
//! `get` decodes the item in place. Waiting sleeps on a futex after a brief spin; with the
//! `tokio` feature, `get_async` and `put_async` wait without blocking the thread (see
//! "Async" on [`Queue`]).
//!
//! Unbounded queues (the default) never block `put` for want of a consumer; their memory grows
//! with the backlog, up to a reservation of 64 GiB of address space
//! ([`QueueBuilder::memory_limit`]). [`Queue::bounded`] gives backpressure instead.
//!
//! # When a process dies
//!
//! A process killed while it holds a queue's lock does not wedge the queue: the next process
//! that needs the lock notices the death (within 20 ms), takes the lock over and repairs the
//! queue from what is in it. What can be lost: a consumer killed *while it copies an item out*
//! loses nothing (the item stays for the next consumer); a consumer killed *after `get`
//! returned* had the item, and it dies with the process; a producer killed before `put`
//! returned may or may not have put its item. A consumer that took a [`JoinableQueue`] task and
//! died before `task_done` leaves that task unfinished, so `join` then waits until its deadline.
//!
//! Items may hold handles (a `Lock`, an `Event`, a `Connection`, an [`Fd`], another queue):
//! their descriptors travel beside the item, through a socket that every holder of the queue
//! shares, in item order. That socket holds the descriptors of a few hundred waiting items at
//! most: past that, a `put` of an item holding handles waits for consumers (or fails at its
//! deadline), even on an unbounded queue. Items without handles never touch it.

mod error;
mod joinable;
#[allow(unsafe_code)]
mod ring;
mod simple;
#[cfg(feature = "tokio")]
mod tokio;

pub use error::{
    GetError, GetTimeoutError, NotClosedError, PutError, PutTimeoutError, TaskDoneError,
    TryGetError, TryPutError,
};
pub use joinable::JoinableQueue;
pub use simple::SimpleQueue;

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::{self, DecodeError, EncodeError, Fd};
use crate::sys;
use crate::sys::fd::deadline_after;
use ring::{DEFAULT_MAP_LEN, DEFAULT_SEGMENT, PopError, PushError, Ring, RingConfig};

/// A FIFO queue of `T` shared between processes (Python's `multiprocessing.Queue`).
///
/// Clones are handles to the same queue, and so is the queue a child receives as its
/// argument. Every blocking operation has four forms, as in crossbeam-channel: `put`/`get`
/// wait as long as needed, `try_put`/`try_get` never wait, `put_timeout`/`get_timeout` and
/// `put_deadline`/`get_deadline` wait at most so long. A failed put hands its value back.
///
/// ```
/// # #[derive(serde::Serialize, serde::Deserialize)] struct _Unused;
/// use std::time::Duration;
///
/// let q = multiproc::Queue::<u32>::bounded(1);
/// q.put(1).unwrap();
/// let err = q.put_timeout(2, Duration::from_millis(10)).unwrap_err();
/// assert_eq!(err.into_inner(), 2);
/// assert!(q.is_full());
/// ```
pub struct Queue<T> {
    shared: Arc<Shared>,
    _items: PhantomData<fn(T) -> T>,
}

/// What every clone of a handle shares in this process.
#[derive(Debug)]
struct Shared {
    ring: Ring,
    closed: AtomicBool,
    /// Where the descriptors of items that hold handles travel, in item order: producers send
    /// on `tx` under the producer lock, consumers receive on `rx` under the consumer lock.
    side: Side,
}

/// The two ends of a queue's descriptor channel (a sequenced-packet socket pair).
#[derive(Debug)]
struct Side {
    tx: OwnedFd,
    rx: OwnedFd,
}

/// Which kind of queue a ring belongs to (checked when one is received).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Kind {
    Queue,
    Simple,
    Joinable,
}

/// Options for a queue, made by [`Queue::builder`].
#[must_use = "a builder does nothing until a queue is built"]
#[derive(Clone, Copy, Debug)]
pub struct QueueBuilder {
    maxsize: usize,
    segment: usize,
    memory: usize,
}

impl QueueBuilder {
    /// Bounds the queue to `maxsize` items: puts wait (or fail) while it holds that many.
    /// 0 means unbounded, the default.
    pub fn maxsize(mut self, maxsize: usize) -> Self {
        self.maxsize = maxsize;
        self
    }

    /// The most memory the queue may use, in bytes (default 64 GiB). It is reserved address
    /// space, not memory: only what items occupy is used. A put that would need more fails.
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory = bytes;
        self
    }

    /// The size of the blocks the queue grows by (default 256 KiB). Larger items get a block
    /// of their own.
    pub fn segment_size(mut self, bytes: usize) -> Self {
        self.segment = bytes;
        self
    }

    /// Makes a [`Queue`].
    pub fn build<T: Serialize + DeserializeOwned>(self) -> std::io::Result<Queue<T>> {
        self.ring(false).and_then(Queue::from_ring)
    }

    /// Makes a [`JoinableQueue`].
    pub fn build_joinable<T: Serialize + DeserializeOwned>(
        self,
    ) -> std::io::Result<JoinableQueue<T>> {
        self.ring(true)
            .and_then(Queue::from_ring)
            .map(JoinableQueue::from_queue)
    }

    /// Makes a [`SimpleQueue`] (which is never bounded: `maxsize` is ignored).
    pub fn build_simple<T: Serialize + DeserializeOwned>(self) -> std::io::Result<SimpleQueue<T>> {
        self.maxsize(0)
            .ring(false)
            .and_then(Queue::from_ring)
            .map(SimpleQueue::from_queue)
    }

    fn ring(self, joinable: bool) -> std::io::Result<Ring> {
        Ring::create(RingConfig {
            maxsize: self.maxsize as u64,
            joinable,
            segment: self.segment,
            map_len: self.memory,
        })
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// An unbounded queue.
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; [`Queue::builder`] reports that.
    pub fn new() -> Queue<T> {
        Queue::builder().build().expect("failed to create a queue")
    }

    /// A queue that holds at most `maxsize` items (Python's `Queue(maxsize)`); 0 is unbounded.
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; [`Queue::builder`] reports that.
    pub fn bounded(maxsize: usize) -> Queue<T> {
        Queue::builder()
            .maxsize(maxsize)
            .build()
            .expect("failed to create a queue")
    }
}

impl Queue<()> {
    /// Options for a queue: bound, memory limit, segment size.
    pub fn builder() -> QueueBuilder {
        QueueBuilder {
            maxsize: 0,
            segment: DEFAULT_SEGMENT,
            memory: DEFAULT_MAP_LEN,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Default for Queue<T> {
    fn default() -> Self {
        Queue::new()
    }
}

/// Why a put failed, before it is dressed as the operation's error.
enum PutFailure {
    Full,
    Closed,
    Encode(EncodeError),
    Io(std::io::Error),
}

/// Why a get failed, before it is dressed as the operation's error.
enum GetFailure {
    Empty,
    Closed,
    Decode(DecodeError),
    Corrupt(String),
}

thread_local! {
    /// Where items are encoded before they are copied into the queue.
    static ENCODE_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// An encode buffer larger than this is not kept for the next put.
const KEEP_ENCODE_BUF: usize = 4 << 20;

impl<T: Serialize + DeserializeOwned> Queue<T> {
    fn from_ring(ring: Ring) -> std::io::Result<Queue<T>> {
        let (tx, rx) = sys::fd::seqpacket_pair()?;
        Ok(Queue::from_parts(ring, Side { tx, rx }))
    }

    fn ring(&self) -> &Ring {
        &self.shared.ring
    }

    // ----- put -----

    /// Puts `value` at the back of the queue, waiting for room if the queue is bounded and
    /// full. An unbounded queue never waits.
    pub fn put(&self, value: T) -> Result<(), PutError<T>> {
        loop {
            return match self.put_inner(&value, None) {
                Ok(()) => Ok(()),
                // Without a deadline the ring waits for room; should it ever give up, retry.
                Err(PutFailure::Full) => continue,
                Err(PutFailure::Closed) => Err(PutError::Closed(value)),
                Err(PutFailure::Encode(error)) => Err(PutError::Encode { value, error }),
                Err(PutFailure::Io(error)) => Err(PutError::Io { value, error }),
            };
        }
    }

    /// Puts `value` only if there is room now (Python's `put_nowait`).
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, value: T) -> Result<(), TryPutError<T>> {
        self.put_inner(&value, Some(Instant::now()))
            .map_err(|f| match f {
                PutFailure::Full => TryPutError::Full(value),
                PutFailure::Closed => TryPutError::Closed(value),
                PutFailure::Encode(error) => TryPutError::Encode { value, error },
                PutFailure::Io(error) => TryPutError::Io { value, error },
            })
    }

    /// Puts `value`, waiting at most `timeout` for room.
    pub fn put_timeout(&self, value: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
        self.put_deadline(value, deadline_after(timeout))
    }

    /// Puts `value`, waiting until `deadline` at most for room.
    pub fn put_deadline(&self, value: T, deadline: Instant) -> Result<(), PutTimeoutError<T>> {
        self.put_inner(&value, Some(deadline)).map_err(|f| match f {
            PutFailure::Full => PutTimeoutError::Timeout(value),
            PutFailure::Closed => PutTimeoutError::Closed(value),
            PutFailure::Encode(error) => PutTimeoutError::Encode { value, error },
            PutFailure::Io(error) => PutTimeoutError::Io { value, error },
        })
    }

    fn put_inner(&self, value: &T, deadline: Option<Instant>) -> Result<(), PutFailure> {
        if self.is_closed() {
            return Err(PutFailure::Closed);
        }
        let mut buf = ENCODE_BUF.with(|b| b.take());
        buf.clear();
        buf.resize(WITH_FDS_HEADER, 0);
        let result = match codec::encode_into(value, &mut buf) {
            Ok(fds) if fds.is_empty() => {
                buf[WITH_FDS_HEADER - 1] = NO_FDS;
                self.ring().push(&buf[WITH_FDS_HEADER - 1..], deadline)
            }
            Ok(fds) if fds.len() > sys::fd::MAX_FDS_PER_MSG => {
                return Err(PutFailure::Encode(EncodeError {
                    type_name: std::any::type_name::<T>(),
                    reason: format!(
                        "an item can hold at most {} handles",
                        sys::fd::MAX_FDS_PER_MSG
                    ),
                }));
            }
            Ok(fds) => {
                let token = next_token();
                buf[0] = HAS_FDS;
                buf[1..9].copy_from_slice(&token.to_le_bytes());
                buf[9..13].copy_from_slice(&(fds.len() as u32).to_le_bytes());
                let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
                let side = self.shared.side.tx.as_fd();
                self.ring().push_with(&buf, deadline, || {
                    send_fds(side, token, &borrowed, deadline)
                })
            }
            Err(e) => return Err(PutFailure::Encode(e)),
        }
        .map_err(|e| match e {
            PushError::Full => PutFailure::Full,
            PushError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => PutFailure::Full,
            PushError::Io(e) => PutFailure::Io(e),
        });
        if buf.capacity() <= KEEP_ENCODE_BUF {
            ENCODE_BUF.with(|b| *b.borrow_mut() = buf);
        }
        result
    }

    // ----- get -----

    /// Takes the item at the front, waiting as long as it takes for one.
    pub fn get(&self) -> Result<T, GetError> {
        loop {
            return match self.get_inner(None) {
                Ok(v) => Ok(v),
                // Without a deadline the ring waits for an item; should it ever give up, retry.
                Err(GetFailure::Empty) => continue,
                Err(GetFailure::Closed) => Err(GetError::Closed),
                Err(GetFailure::Decode(e)) => Err(GetError::Decode(e)),
                Err(GetFailure::Corrupt(why)) => Err(GetError::Corrupt(why)),
            };
        }
    }

    /// Takes the item at the front if there is one now (Python's `get_nowait`).
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Result<T, TryGetError> {
        self.get_inner(Some(Instant::now())).map_err(|f| match f {
            GetFailure::Empty => TryGetError::Empty,
            GetFailure::Closed => TryGetError::Closed,
            GetFailure::Decode(e) => TryGetError::Decode(e),
            GetFailure::Corrupt(why) => TryGetError::Corrupt(why),
        })
    }

    /// Takes the item at the front, waiting at most `timeout` for one.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
        self.get_deadline(deadline_after(timeout))
    }

    /// Takes the item at the front, waiting until `deadline` at most for one.
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, GetTimeoutError> {
        self.get_inner(Some(deadline)).map_err(|f| match f {
            GetFailure::Empty => GetTimeoutError::Timeout,
            GetFailure::Closed => GetTimeoutError::Closed,
            GetFailure::Decode(e) => GetTimeoutError::Decode(e),
            GetFailure::Corrupt(why) => GetTimeoutError::Corrupt(why),
        })
    }

    fn get_inner(&self, deadline: Option<Instant>) -> Result<T, GetFailure> {
        if self.is_closed() {
            return Err(GetFailure::Closed);
        }
        let side = self.shared.side.rx.as_fd();
        match self
            .ring()
            .pop(deadline, |bytes| decode_item::<T>(bytes, side))
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(ItemError::Decode(e))) => Err(GetFailure::Decode(e)),
            Ok(Err(ItemError::Corrupt(why))) => Err(GetFailure::Corrupt(why)),
            Err(PopError::Empty) => Err(GetFailure::Empty),
            Err(PopError::Corrupt(why)) => Err(GetFailure::Corrupt(why)),
        }
    }

    // ----- state -----

    /// How many items the queue holds (Python's `qsize`). Other processes may change it at any
    /// moment, so it is a snapshot.
    #[doc(alias = "qsize")]
    pub fn len(&self) -> usize {
        self.ring().len() as usize
    }

    /// Whether the queue holds no item (a snapshot, like [`len`](Queue::len)).
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        self.ring().len() == 0
    }

    /// Whether a bounded queue holds as many items as it may (a snapshot).
    #[doc(alias = "full")]
    pub fn is_full(&self) -> bool {
        let max = self.ring().maxsize();
        max != 0 && self.ring().len() >= max
    }

    /// The bound given to [`bounded`](Queue::bounded), or `None` for an unbounded queue.
    #[doc(alias = "maxsize")]
    pub fn capacity(&self) -> Option<usize> {
        match self.ring().maxsize() {
            0 => None,
            n => Some(n as usize),
        }
    }

    /// Closes this handle (and its clones in this process): later puts and gets on it fail
    /// with `Closed`. Other processes' handles, and the items already put, are not affected.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
    }

    /// Whether [`close`](Queue::close) was called on this handle.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Python's `join_thread`, which waits for the feeder thread to flush what this process
    /// put. Every put here is already in shared memory when it returns, so there is nothing to
    /// wait for: this only checks, as Python does, that the queue was closed first.
    pub fn join_thread(&self) -> Result<(), NotClosedError> {
        if self.is_closed() {
            Ok(())
        } else {
            Err(NotClosedError)
        }
    }
}

/// The first byte of an item: whether descriptors travel beside it.
const NO_FDS: u8 = 0;
const HAS_FDS: u8 = 1;
/// An item with descriptors starts with HAS_FDS, a u64 token and a u32 descriptor count.
const WITH_FDS_HEADER: usize = 13;

/// A token naming one put's descriptors: this process's id and a counter.
fn next_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    (u64::from(std::process::id()) << 32) | (NEXT.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff)
}

/// Sends one put's descriptors on the queue's descriptor channel, waiting for room until
/// `deadline` (a full channel is a full queue for this put).
fn send_fds(
    side: BorrowedFd<'_>,
    token: u64,
    fds: &[BorrowedFd<'_>],
    deadline: Option<Instant>,
) -> std::io::Result<()> {
    let body = token.to_le_bytes();
    loop {
        match sys::fd::send_with_fds(side, &[std::io::IoSlice::new(&body)], fds) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let ready = sys::fd::poll(&[(side, sys::fd::Interest::Write)], deadline)?;
                if !ready[0] && deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(std::io::ErrorKind::TimedOut.into());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Why an item could not be taken out.
enum ItemError {
    Decode(DecodeError),
    Corrupt(String),
}

/// Decodes an item, receiving its descriptors from the channel if it has any. Descriptors of
/// puts that never published their item (their producer died in between) come first, and are
/// dropped.
fn decode_item<T: DeserializeOwned>(bytes: &[u8], side: BorrowedFd<'_>) -> Result<T, ItemError> {
    match bytes.first() {
        Some(&NO_FDS) => codec::decode::<T>(&bytes[1..], Vec::new()).map_err(ItemError::Decode),
        Some(&HAS_FDS) if bytes.len() >= WITH_FDS_HEADER => {
            let token = u64::from_le_bytes(bytes[1..9].try_into().expect("8 bytes"));
            loop {
                let mut body = [0u8; 8];
                let mut fds = Vec::new();
                match sys::fd::recv_with_fds(side, &mut body, &mut fds) {
                    Ok(8) if u64::from_le_bytes(body) == token => {
                        return codec::decode::<T>(&bytes[WITH_FDS_HEADER..], fds)
                            .map_err(ItemError::Decode);
                    }
                    // An orphan: its descriptors close as `fds` drops.
                    Ok(n) if n > 0 => continue,
                    Ok(_) => {
                        return Err(ItemError::Corrupt(
                            "the descriptor channel is closed".into(),
                        ));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(ItemError::Corrupt(format!(
                            "the descriptors of an item are missing: {e}"
                        )));
                    }
                }
            }
        }
        _ => Err(ItemError::Corrupt("an item without its header".into())),
    }
}

impl<T> Clone for Queue<T> {
    /// Another handle to the same queue, sharing this one's closed state.
    fn clone(&self) -> Self {
        Queue {
            shared: self.shared.clone(),
            _items: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.shared.ring.len())
            .field("maxsize", &self.shared.ring.maxsize())
            .field("closed", &self.shared.closed.load(Ordering::Relaxed))
            .finish()
    }
}

/// A borrowed descriptor that serializes out of band (see [`codec`]).
struct FdRef<'a>(BorrowedFd<'a>);

impl Serialize for FdRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        codec::serialize_fd(self.0, s)
    }
}

#[derive(Serialize)]
struct WireOut<'a> {
    fd: FdRef<'a>,
    side_tx: FdRef<'a>,
    side_rx: FdRef<'a>,
    map_len: u64,
    kind: Kind,
}

#[derive(Deserialize)]
struct WireIn {
    fd: Fd,
    side_tx: Fd,
    side_rx: Fd,
    map_len: u64,
    kind: Kind,
}

impl<T> Queue<T> {
    fn from_parts(ring: Ring, side: Side) -> Queue<T> {
        Queue {
            shared: Arc::new(Shared {
                ring,
                closed: AtomicBool::new(false),
                side,
            }),
            _items: PhantomData,
        }
    }

    fn serialize_as<S: Serializer>(&self, kind: Kind, s: S) -> Result<S::Ok, S::Error> {
        WireOut {
            fd: FdRef(self.shared.ring.fd()),
            side_tx: FdRef(self.shared.side.tx.as_fd()),
            side_rx: FdRef(self.shared.side.rx.as_fd()),
            map_len: self.shared.ring.map_len(),
            kind,
        }
        .serialize(s)
    }

    fn deserialize_as<'de, D: Deserializer<'de>>(kind: Kind, d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let w = WireIn::deserialize(d)?;
        if w.kind != kind {
            return Err(D::Error::custom(format!(
                "expected a {kind:?} queue, received a {:?} queue",
                w.kind
            )));
        }
        let ring = Ring::attach(w.fd.into(), w.map_len)
            .map_err(|e| D::Error::custom(format!("cannot map the queue: {e}")))?;
        let side = Side {
            tx: w.side_tx.into(),
            rx: w.side_rx.into(),
        };
        Ok(Queue::from_parts(ring, side))
    }
}

impl<T> Serialize for Queue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.serialize_as(Kind::Queue, s)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Queue::deserialize_as(Kind::Queue, d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qsize_counts_up_and_down() {
        let q = Queue::<u8>::new();
        let mut sizes = vec![q.len()];
        q.put(1).unwrap();
        sizes.push(q.len());
        q.put(2).unwrap();
        sizes.push(q.len());
        q.get().unwrap();
        sizes.push(q.len());
        q.get().unwrap();
        sizes.push(q.len());
        assert_eq!(sizes, [0, 1, 2, 1, 0]);
        assert!(q.is_empty());
    }

    #[test]
    fn unencodable_value_fails_at_put_and_queue_goes_on() {
        // More handles than one item can carry.
        let q = Queue::<Vec<Fd>>::new();
        let f = Fd::from(tempfile::tempfile().unwrap());
        let many: Vec<Fd> = (0..300).map(|_| f.try_clone().unwrap()).collect();
        let err = q.put(many).unwrap_err();
        assert!(matches!(err, PutError::Encode { .. }), "{err}");
        assert_eq!(err.into_inner().len(), 300);
        q.put(vec![f]).unwrap();
        assert_eq!(q.get().unwrap().len(), 1);
    }

    #[test]
    fn wrong_type_is_a_decode_error_and_consumes() {
        let q = Queue::<Vec<u8>>::new();
        q.put(vec![0xff, 0xfe]).unwrap();
        q.put(b"ok".to_vec()).unwrap();
        let as_string: Queue<String> = codec_roundtrip(&q);
        assert!(matches!(as_string.try_get(), Err(TryGetError::Decode(_))));
        assert_eq!(as_string.get().unwrap(), "ok");
    }

    fn codec_roundtrip<A: Serialize, B: DeserializeOwned>(a: &A) -> B {
        let e = codec::encode(a).unwrap();
        codec::decode(&e.bytes, e.fds).unwrap()
    }

    #[test]
    fn kinds_are_checked_when_received() {
        let q = Queue::<u8>::new();
        let e = codec::encode(&q).unwrap();
        assert!(codec::decode::<JoinableQueue<u8>>(&e.bytes, e.fds).is_err());
    }

    #[test]
    fn closed_handle_refuses_everything() {
        let q = Queue::<u8>::new();
        let other = codec_roundtrip::<_, Queue<u8>>(&q);
        assert!(matches!(q.join_thread(), Err(NotClosedError)));
        q.put(1).unwrap();
        q.close();
        q.join_thread().unwrap();
        assert!(matches!(q.put(2), Err(PutError::Closed(2))));
        assert!(matches!(q.try_get(), Err(TryGetError::Closed)));
        assert!(matches!(q.get(), Err(GetError::Closed)));
        // Another handle to the same queue is not closed, and the item is there.
        assert_eq!(other.get().unwrap(), 1);
    }
}
