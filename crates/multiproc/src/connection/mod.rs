//! Connections: message framing over sockets, byte-compatible with CPython's
//! `multiprocessing.connection`.
//!
//! [`pipe`] makes a connected pair of [`Connection`]s; [`Listener`] and [`Client`] connect
//! unrelated programs over Unix sockets or TCP, with CPython's authkey handshake, so a Python
//! program at the other end can exchange bytes messages with ours. [`wait`] waits for any of
//! several connections, listeners and process sentinels.
//!
//! A frame is a 4-byte big-endian signed length followed by that many bytes; a length of `-1`
//! is followed by an 8-byte big-endian unsigned length, for messages over 2 GiB. This is what
//! CPython's `Connection.send_bytes`/`recv_bytes` write and read.
//!
//! Typed messages ([`Connection::send`]/[`Connection::recv`]) are our own: the frame's body is
//! a 4-byte little-endian count of the descriptors that travel with the message, then the
//! serde bytes (see [`crate::codec`]). Descriptors ride as `SCM_RIGHTS` on the frame's first
//! byte, so typed messages holding handles need a Unix socket.
//!
//! A receive reads exactly one message, and its memory grows with the bytes that arrive, up to
//! the connection's [frame limit](Connection::set_max_frame_size): a header that announces a
//! huge message commits nothing until the message really comes.
//!
//! ```
//! let (a, b) = multiproc::connection::pipe(true);
//! a.send(&("hello", 42u32)).unwrap();
//! assert_eq!(b.recv::<(String, u32)>().unwrap(), ("hello".to_string(), 42));
//! b.send_bytes(b"raw bytes").unwrap();
//! assert_eq!(a.recv_bytes().unwrap(), b"raw bytes");
//! ```

#![forbid(unsafe_code)]

mod address;
pub(crate) mod auth;
mod client;
mod error;
pub(crate) mod frame;
mod listener;
mod pipe;
mod stream;
#[cfg(feature = "tokio")]
mod tokio;
mod transfer;
mod typed;
mod wait;

pub use address::{Address, ParseAddressError};
pub use auth::{answer_challenge, deliver_challenge};
pub use client::Client;
pub use error::Error;
pub use listener::{Listener, ListenerBuilder, Unauthenticated};
pub use pipe::pipe;
pub use wait::{Waitable, wait, wait_deadline};

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::deadline::Deadline;
use crate::sys::fd as sysfd;
use frame::MAX_HEADER;
use stream::{FramedStream, Readers};

/// The default largest message a connection accepts: 4 GiB.
///
/// A receive's memory grows with the bytes that actually arrive, so the limit bounds what a
/// peer can make one receive hold by sending, not by announcing. Change it with
/// [`Connection::set_max_frame_size`] (or the `max_frame_size` of [`Listener`] and
/// [`Client`]): lower for a server that expects small messages from peers it does not trust,
/// higher for larger messages (data that large is usually better shared through
/// [`SharedMemory`](crate::SharedMemory)).
pub const DEFAULT_MAX_FRAME: u64 = 4 << 30;

/// One end of a bidirectional message channel between processes (Python's `Connection`).
///
/// All methods take `&self`: sends are serialised with one another and receives with one
/// another, so a connection may be shared between threads, and a message is never interleaved
/// with another. Dropping it closes it; [`close`](Connection::close) does the same and
/// reports an error.
///
/// Every receive has four forms, as in crossbeam-channel: `recv` blocks until a message
/// arrives or the peer closes, `try_recv` takes one only if it is already there,
/// `recv_timeout` and `recv_deadline` wait at most so long. Sends block only while the
/// socket's buffer is full.
///
/// A connection is not typed: a typed receive must ask for the type that was sent. The bytes
/// do not name their type, so a mismatch is usually an [`Error::Decode`] but can also be a
/// wrong value (an `i32` read as a `u64`). Give literals a type: `conn.send(&1u64)`.
///
/// # Sharing one end between processes
///
/// An end given to several processes (as an argument, by inheritance, or through another
/// connection) may be read by each of them in turn: a receive reads exactly one message and
/// nothing of the next, and [`poll`](Connection::poll) reads nothing, so a process that exits
/// between two receives takes no message of the others with it. Processes that may receive
/// *at the same time* must take turns, with a [`Lock`](crate::Lock) around each receive, as
/// in Python: two receives running at once would split a message between them. A receive
/// that times out in the middle of a message keeps the part it has, and the next receive on
/// the same `Connection` completes it.
pub struct Connection {
    stream: FramedStream,
    readable: bool,
    writable: bool,
    max_frame: u64,
}

impl Connection {
    /// Wraps a connected stream socket that other processes may come to read too (see
    /// [`Readers::Shared`]).
    pub(crate) fn from_socket(fd: OwnedFd, readable: bool, writable: bool) -> Connection {
        Connection::with_readers(fd, Readers::Shared, readable, writable)
    }

    /// Wraps one end of a private duplex channel: only the holder of this `Connection` (in
    /// one process at a time) ever receives from it, so receives may read ahead (see
    /// [`Readers::Single`]). Sending it to another process hands the reading over: the sender
    /// must not receive from its copy afterwards.
    pub(crate) fn private(fd: OwnedFd) -> Connection {
        Connection::with_readers(fd, Readers::Single, true, true)
    }

    /// Makes this end a private channel, as [`private`](Connection::private) makes one: for
    /// connections that the library alone holds once they are set up (a manager client's link
    /// and the server's end of it), so that their receives may read ahead.
    pub(crate) fn into_private(mut self) -> Connection {
        self.stream.set_single_reader();
        self
    }

    fn with_readers(fd: OwnedFd, readers: Readers, readable: bool, writable: bool) -> Connection {
        Connection {
            stream: FramedStream::new(fd, readers),
            readable,
            writable,
            max_frame: DEFAULT_MAX_FRAME,
        }
    }

    /// Sets the largest message this end accepts. A larger incoming message fails with
    /// [`Error::FrameTooLarge`] as soon as its header arrives, and closes the connection,
    /// without allocating its claimed size.
    pub fn set_max_frame_size(&mut self, bytes: u64) {
        self.max_frame = bytes;
    }

    /// The largest message this end accepts ([`DEFAULT_MAX_FRAME`] unless set).
    pub fn max_frame_size(&self) -> u64 {
        self.max_frame
    }

    /// Whether this end may receive.
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether this end may send.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Another handle to this end (a duplicate of its socket), to give to another process or
    /// thread, as Python passes one `Connection` in the arguments of several processes. See
    /// "Sharing one end between processes" above for how several readers take turns.
    ///
    /// The clone starts with this end's frame limit. An end that holds part of a message (a
    /// receive timed out in the middle of it) cannot be cloned.
    pub fn try_clone(&self) -> std::io::Result<Connection> {
        if self.stream.readers() == Readers::Single {
            // A private channel's receives read ahead: a second reader could miss messages.
            return Err(std::io::Error::other("a private channel has one reader"));
        }
        if self.stream.has_buffered() {
            return Err(std::io::Error::other(
                "cannot clone a connection that holds part of a message",
            ));
        }
        let fd = self.as_fd().try_clone_to_owned()?;
        let mut clone = Connection::from_socket(fd, self.readable, self.writable);
        clone.max_frame = self.max_frame;
        Ok(clone)
    }

    /// Closes this end, reporting what the operating system says. The peer then sees
    /// [`Error::Disconnected`] once it has read what was sent. Dropping does the same, silently.
    pub fn close(self) -> Result<(), Error> {
        sysfd::close(self.stream.into_fd()).map_err(Error::Io)
    }

    // ----- typed messages -----

    /// Sends a serde value (with any handles it holds), blocking while the socket is full.
    ///
    /// A value that cannot be encoded is an [`Error::Encode`], and nothing is sent.
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Error> {
        self.send_inner(value, Deadline::NEVER, None)
    }

    /// Sends a serde value only if the socket takes it without waiting; else
    /// [`Error::Timeout`]. (A message larger than the socket's buffer is cut off part way:
    /// see [`send_deadline`](Connection::send_deadline).)
    pub fn try_send<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Error> {
        self.send_inner(value, Deadline::now(), None)
    }

    /// Sends a serde value, waiting at most `timeout` for room in the socket.
    pub fn send_timeout<T: Serialize + ?Sized>(
        &self,
        value: &T,
        timeout: Duration,
    ) -> Result<(), Error> {
        self.send_inner(value, Deadline::after(timeout), None)
    }

    /// Sends a serde value, waiting until `deadline` at most for room in the socket.
    ///
    /// If the deadline passes before any byte is sent, the result is [`Error::Timeout`] and
    /// the connection stays usable. If it passes in the middle of the message, the peer could
    /// never make sense of what follows: the result is [`Error::Broken`], and so are later sends.
    pub fn send_deadline<T: Serialize + ?Sized>(
        &self,
        value: &T,
        deadline: Instant,
    ) -> Result<(), Error> {
        self.send_inner(value, Deadline::at(deadline), None)
    }

    /// Sends a serde value by `deadline`, giving up with [`Error::PeerExited`] if `watch` (a
    /// process's pidfd) becomes readable first.
    pub(crate) fn send_inner<T: Serialize + ?Sized>(
        &self,
        value: &T,
        deadline: Deadline,
        watch: Option<BorrowedFd<'_>>,
    ) -> Result<(), Error> {
        self.check_writable()?;
        let mut buf = Vec::with_capacity(128);
        let (start, fds) = typed::frame_typed_at(value, &mut buf)?;
        let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
        self.stream
            .send(&[&buf[start..]], &borrowed, deadline, watch)
    }

    /// Receives a serde value, blocking until one arrives or the peer closes.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.recv_inner(Deadline::NEVER, None)
    }

    /// Receives a serde value if one is ready now; else [`Error::Timeout`].
    pub fn try_recv<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.recv_inner(Deadline::now(), None)
    }

    /// Receives a serde value, waiting at most `timeout`.
    pub fn recv_timeout<T: DeserializeOwned>(&self, timeout: Duration) -> Result<T, Error> {
        self.recv_inner(Deadline::after(timeout), None)
    }

    /// Receives a serde value, waiting until `deadline` at most.
    pub fn recv_deadline<T: DeserializeOwned>(&self, deadline: Instant) -> Result<T, Error> {
        self.recv_inner(Deadline::at(deadline), None)
    }

    /// Receives a serde value by `deadline`, giving up with [`Error::PeerExited`] if `watch` (a
    /// process's pidfd) becomes readable first and nothing more is there.
    pub(crate) fn recv_inner<T: DeserializeOwned>(
        &self,
        deadline: Deadline,
        watch: Option<BorrowedFd<'_>>,
    ) -> Result<T, Error> {
        self.check_readable()?;
        self.stream.recv_typed(self.max_frame, deadline, watch)
    }

    // ----- bytes messages (CPython-compatible) -----

    /// Sends `buf` as one bytes message, readable by CPython's `Connection.recv_bytes()`.
    pub fn send_bytes(&self, buf: &[u8]) -> Result<(), Error> {
        self.send_bytes_inner(buf, Deadline::NEVER)
    }

    /// Sends `buf[offset..offset + size]` (to the end without `size`) as one bytes message,
    /// with Python's rules: a range outside `buf` is [`Error::OutOfRange`] and sends nothing.
    pub fn send_bytes_range(
        &self,
        buf: &[u8],
        offset: usize,
        size: Option<usize>,
    ) -> Result<(), Error> {
        let end = size.map_or(Some(buf.len()), |size| offset.checked_add(size));
        match end.and_then(|end| buf.get(offset..end)) {
            Some(part) => self.send_bytes(part),
            None => Err(Error::OutOfRange {
                offset,
                size,
                len: buf.len(),
            }),
        }
    }

    /// Sends `buf` as one bytes message only if the socket takes it without waiting.
    pub fn try_send_bytes(&self, buf: &[u8]) -> Result<(), Error> {
        self.send_bytes_inner(buf, Deadline::now())
    }

    /// Sends `buf` as one bytes message, waiting at most `timeout` for room in the socket.
    pub fn send_bytes_timeout(&self, buf: &[u8], timeout: Duration) -> Result<(), Error> {
        self.send_bytes_inner(buf, Deadline::after(timeout))
    }

    /// Sends `buf` as one bytes message, waiting until `deadline` at most (see
    /// [`send_deadline`](Connection::send_deadline) for a deadline that passes mid-message).
    pub fn send_bytes_deadline(&self, buf: &[u8], deadline: Instant) -> Result<(), Error> {
        self.send_bytes_inner(buf, Deadline::at(deadline))
    }

    pub(crate) fn send_bytes_inner(&self, buf: &[u8], deadline: Deadline) -> Result<(), Error> {
        self.check_writable()?;
        let mut header = [0u8; MAX_HEADER];
        let start = frame::write_header(&mut header, buf.len() as u64);
        self.stream
            .send(&[&header[start..], buf], &[], deadline, None)
    }

    /// Receives one bytes message, blocking until one arrives or the peer closes.
    pub fn recv_bytes(&self) -> Result<Vec<u8>, Error> {
        self.recv_bytes_inner(Deadline::NEVER, self.max_frame)
    }

    /// Receives one bytes message if one is ready now; else [`Error::Timeout`].
    pub fn try_recv_bytes(&self) -> Result<Vec<u8>, Error> {
        self.recv_bytes_inner(Deadline::now(), self.max_frame)
    }

    /// Receives one bytes message, waiting at most `timeout`.
    pub fn recv_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>, Error> {
        self.recv_bytes_inner(Deadline::after(timeout), self.max_frame)
    }

    /// Receives one bytes message, waiting until `deadline` at most.
    pub fn recv_bytes_deadline(&self, deadline: Instant) -> Result<Vec<u8>, Error> {
        self.recv_bytes_inner(Deadline::at(deadline), self.max_frame)
    }

    /// Receives one bytes message by `deadline`, refusing one over `max` bytes (the
    /// handshake's limit is lower than the connection's).
    pub(crate) fn recv_bytes_inner(&self, deadline: Deadline, max: u64) -> Result<Vec<u8>, Error> {
        self.check_readable()?;
        self.stream.recv_bytes(max.min(self.max_frame), deadline)
    }

    /// Receives one bytes message into `buf[offset..]` and returns its length (Python's
    /// `recv_bytes_into`).
    ///
    /// An `offset` past the end of `buf` is [`Error::OutOfRange`], and nothing is received. A
    /// message longer than `buf.len() - offset` is consumed and returned whole in
    /// [`Error::BufferTooShort`].
    pub fn recv_bytes_into(&self, buf: &mut [u8], offset: usize) -> Result<usize, Error> {
        self.recv_bytes_into_inner(buf, offset, Deadline::NEVER)
    }

    /// [`recv_bytes_into`](Connection::recv_bytes_into) if a message is ready now; else
    /// [`Error::Timeout`].
    pub fn try_recv_bytes_into(&self, buf: &mut [u8], offset: usize) -> Result<usize, Error> {
        self.recv_bytes_into_inner(buf, offset, Deadline::now())
    }

    /// [`recv_bytes_into`](Connection::recv_bytes_into), waiting at most `timeout`.
    pub fn recv_bytes_into_timeout(
        &self,
        buf: &mut [u8],
        offset: usize,
        timeout: Duration,
    ) -> Result<usize, Error> {
        self.recv_bytes_into_inner(buf, offset, Deadline::after(timeout))
    }

    /// [`recv_bytes_into`](Connection::recv_bytes_into), waiting until `deadline` at most.
    pub fn recv_bytes_into_deadline(
        &self,
        buf: &mut [u8],
        offset: usize,
        deadline: Instant,
    ) -> Result<usize, Error> {
        self.recv_bytes_into_inner(buf, offset, Deadline::at(deadline))
    }

    fn recv_bytes_into_inner(
        &self,
        buf: &mut [u8],
        offset: usize,
        deadline: Deadline,
    ) -> Result<usize, Error> {
        let Some(dest) = buf.get_mut(offset..) else {
            return Err(Error::OutOfRange {
                offset,
                size: None,
                len: buf.len(),
            });
        };
        self.check_readable()?;
        self.stream.recv_bytes_into(dest, self.max_frame, deadline)
    }

    /// Whether a message (or the end of the stream) can be received now, waiting at most
    /// `timeout` for one (`Duration::ZERO` checks without waiting).
    ///
    /// A message counts once it has arrived whole, or once its first 64 KiB have (one larger
    /// than the socket's buffer cannot arrive whole before it is read). Nothing is read: a
    /// process that polls and exits takes nothing with it, and another process sharing this
    /// end may still take the message first.
    pub fn poll(&self, timeout: Duration) -> Result<bool, Error> {
        self.poll_inner(Deadline::after(timeout))
    }

    /// Whether a message (or the end of the stream) can be received by `deadline`.
    pub fn poll_deadline(&self, deadline: Instant) -> Result<bool, Error> {
        self.poll_inner(Deadline::at(deadline))
    }

    fn poll_inner(&self, deadline: Deadline) -> Result<bool, Error> {
        self.check_readable()?;
        self.stream.poll(self.max_frame, deadline)
    }

    /// Whether a receive would find a message (or the end) now, without waiting for the
    /// receive lock: another thread inside a receive counts as not ready.
    pub(crate) fn ready_now(&self) -> bool {
        self.readable && self.stream.ready_now(self.max_frame)
    }

    /// Writes `parts` in full as raw stream bytes, descriptors on the first byte (tests write
    /// malformed frames with it); see [`send_inner`](Self::send_inner) for `deadline` and
    /// `watch`.
    #[cfg(test)]
    pub(crate) fn send_raw(
        &self,
        parts: &[&[u8]],
        fds: &[BorrowedFd<'_>],
        deadline: Deadline,
        watch: Option<BorrowedFd<'_>>,
    ) -> Result<(), Error> {
        self.stream.send(parts, fds, deadline, watch)
    }

    fn check_writable(&self) -> Result<(), Error> {
        if self.writable {
            Ok(())
        } else {
            Err(Error::NotWritable)
        }
    }

    fn check_readable(&self) -> Result<(), Error> {
        if self.readable {
            Ok(())
        } else {
            Err(Error::NotReadable)
        }
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.as_fd().as_raw_fd())
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_roundtrip_and_bytes() {
        let (a, b) = Connection::pair(true).unwrap();
        a.send(&("hi".to_string(), 5u64)).unwrap();
        a.send_bytes(b"raw").unwrap();
        assert_eq!(b.recv::<(String, u64)>().unwrap(), ("hi".to_string(), 5));
        assert_eq!(b.recv_bytes().unwrap(), b"raw");
    }

    #[test]
    fn large_message_crosses_socket_buffer() {
        let (a, b) = Connection::pair(true).unwrap();
        let big = vec![7u8; 8 << 20];
        let t = std::thread::spawn(move || {
            a.send_bytes(&big).unwrap();
            a
        });
        assert_eq!(b.recv_bytes().unwrap().len(), 8 << 20);
        drop(t.join().unwrap());
        assert!(matches!(b.recv_bytes(), Err(Error::Disconnected)));
    }

    #[test]
    fn timeout_and_disconnect() {
        let (a, b) = Connection::pair(true).unwrap();
        let t0 = Instant::now();
        assert!(matches!(
            b.recv_bytes_timeout(Duration::from_millis(50)),
            Err(Error::Timeout)
        ));
        assert!(t0.elapsed() >= Duration::from_millis(50));
        assert!(!b.poll(Duration::ZERO).unwrap());
        drop(a);
        assert!(b.poll(Duration::ZERO).unwrap());
        assert!(matches!(b.recv::<u8>(), Err(Error::Disconnected)));
    }

    #[test]
    fn oversized_frame_is_refused_without_allocating() {
        let (a, mut b) = Connection::pair(true).unwrap();
        b.set_max_frame_size(1024);
        // A header that claims 2 GiB, and nothing behind it.
        a.send_raw(&[&[0x7f, 0xff, 0xff, 0xff]], &[], Deadline::NEVER, None)
            .unwrap();
        assert!(matches!(b.recv_bytes(), Err(Error::FrameTooLarge { .. })));
        assert!(matches!(b.recv_bytes(), Err(Error::Broken(_))));
    }

    #[test]
    fn truncated_frame_is_an_error() {
        let (a, b) = Connection::pair(true).unwrap();
        a.send_raw(&[&[0, 0, 0, 10], b"abc"], &[], Deadline::NEVER, None)
            .unwrap();
        drop(a);
        assert!(matches!(b.recv_bytes(), Err(Error::Truncated)));
    }

    #[test]
    fn connection_travels_through_connection() {
        let (a, b) = Connection::pair(true).unwrap();
        let (c, d) = Connection::pair(true).unwrap();
        a.send(&c).unwrap();
        drop(c);
        let c2: Connection = b.recv().unwrap();
        c2.send(&42u32).unwrap();
        assert_eq!(d.recv::<u32>().unwrap(), 42);
    }

    #[test]
    fn recv_bytes_into_follows_python_offsets() {
        let (a, b) = Connection::pair(true).unwrap();
        a.send_bytes(b"hello").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(b.recv_bytes_into(&mut buf, 2).unwrap(), 5);
        assert_eq!(&buf, b"\0\0hello\0");
        assert!(matches!(
            b.recv_bytes_into(&mut buf, 9),
            Err(Error::OutOfRange {
                offset: 9,
                len: 8,
                ..
            })
        ));
        a.send_bytes(b"too long for it").unwrap();
        match b.recv_bytes_into(&mut buf, 4) {
            Err(Error::BufferTooShort(msg)) => assert_eq!(msg, b"too long for it"),
            other => panic!("{other:?}"),
        }
        // The long message was consumed; the connection goes on.
        a.send_bytes(b"ok").unwrap();
        a.send_bytes(b"").unwrap();
        assert!(
            matches!(b.recv_bytes_into(&mut buf, 8), Err(Error::BufferTooShort(m)) if m == b"ok")
        );
        assert_eq!(b.recv_bytes_into(&mut buf, 8).unwrap(), 0);
    }

    #[test]
    fn send_bytes_range_checks_like_python() {
        let (a, b) = Connection::pair(true).unwrap();
        a.send_bytes_range(b"abcdef", 1, Some(3)).unwrap();
        a.send_bytes_range(b"abcdef", 4, None).unwrap();
        assert_eq!(b.recv_bytes().unwrap(), b"bcd");
        assert_eq!(b.recv_bytes().unwrap(), b"ef");
        assert!(matches!(
            a.send_bytes_range(b"abc", 4, None),
            Err(Error::OutOfRange { .. })
        ));
        assert!(matches!(
            a.send_bytes_range(b"abc", 1, Some(3)),
            Err(Error::OutOfRange { .. })
        ));
        assert!(matches!(
            a.send_bytes_range(b"abc", 1, Some(usize::MAX)),
            Err(Error::OutOfRange { .. })
        ));
    }

    #[test]
    fn large_message_into_buffer_and_timeout_resumes() {
        let (a, b) = Connection::pair(true).unwrap();
        let big: Vec<u8> = (0..3u32 << 20).map(|i| i as u8).collect();
        // Half of it, then a pause: the receive times out and a later one gets it whole.
        let mut header = [0u8; MAX_HEADER];
        let s = frame::write_header(&mut header, big.len() as u64);
        let half = big.len() / 2;
        let t = std::thread::spawn({
            let big = big.clone();
            move || {
                a.send_raw(&[&header[s..], &big[..half]], &[], Deadline::NEVER, None)
                    .unwrap();
                std::thread::sleep(Duration::from_millis(300));
                a.send_raw(&[&big[half..]], &[], Deadline::NEVER, None)
                    .unwrap();
                a
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        assert!(matches!(
            b.recv_bytes_timeout(Duration::from_millis(50)),
            Err(Error::Timeout)
        ));
        let mut buf = vec![0u8; 4 << 20];
        let n = b
            .recv_bytes_into_timeout(&mut buf, 1, Duration::from_secs(10))
            .unwrap();
        assert_eq!(n, big.len());
        assert!(buf[1..=n] == big[..]);
        drop(t.join().unwrap());
    }

    #[test]
    fn unreadable_and_unwritable_ends() {
        let (r, w) = Connection::pair(false).unwrap();
        assert!(matches!(r.send_bytes(b"x"), Err(Error::NotWritable)));
        assert!(matches!(w.recv_bytes(), Err(Error::NotReadable)));
        w.send_bytes(b"x").unwrap();
        w.close().unwrap();
        assert_eq!(r.recv_bytes().unwrap(), b"x");
        assert!(matches!(r.recv_bytes(), Err(Error::Disconnected)));
    }

    #[test]
    fn send_to_closed_peer_is_disconnected() {
        let (a, b) = Connection::pair(true).unwrap();
        drop(b);
        assert!(matches!(a.send(&1u8), Err(Error::Disconnected)));
    }
}
