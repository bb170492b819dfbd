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
mod wait;

pub use address::{Address, ParseAddressError};
pub use client::Client;
pub use error::Error;
pub use listener::{Listener, ListenerBuilder};
pub use pipe::pipe;
pub use wait::{Waitable, wait, wait_deadline};

use std::fmt;
use std::io::{ErrorKind, IoSlice};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec;
use crate::sys::fd::{self as sysfd, Interest};
use frame::{Decoder, MAX_HEADER, Next};

/// The default largest frame a connection accepts: 4 GiB.
pub const DEFAULT_MAX_FRAME: u64 = 4 << 30;

/// Room reserved in front of a typed message for the frame header and the descriptor count.
const PREFIX: usize = MAX_HEADER + 4;

/// How long a receive keeps asking before it sleeps until data arrives.
const RECV_SPIN: Duration = Duration::from_micros(20);

/// Pauses between two asks while spinning.
const SPIN_PAUSES: u32 = 32;

/// Bodies at least this large are received straight into their destination, not through the
/// connection's buffer.
const DIRECT_MIN: usize = 128 * 1024;

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
pub struct Connection {
    fd: OwnedFd,
    readable: bool,
    writable: bool,
    max_frame: u64,
    rx: Mutex<Decoder>,
    tx: Mutex<Tx>,
}

/// The sending side's state.
#[derive(Default)]
struct Tx {
    /// Why the outgoing stream is unusable: a send stopped in the middle of a frame.
    broken: Option<String>,
}

/// Why a read produced no bytes.
enum ReadFailure {
    /// The stream ended.
    Eof,
    /// Anything else.
    Error(Error),
}

/// What a blocking wait ended on.
enum Woke {
    Ready,
    Watched,
}

impl Connection {
    /// Wraps a connected stream socket.
    pub(crate) fn from_socket(fd: OwnedFd, readable: bool, writable: bool) -> Connection {
        Connection {
            fd,
            readable,
            writable,
            max_frame: DEFAULT_MAX_FRAME,
            rx: Mutex::default(),
            tx: Mutex::default(),
        }
    }

    /// Sets the largest frame this end accepts. A larger incoming frame fails with
    /// [`Error::FrameTooLarge`] and closes the connection, without allocating its claimed size.
    pub fn set_max_frame_size(&mut self, bytes: u64) {
        self.max_frame = bytes;
    }

    /// The largest frame this end accepts ([`DEFAULT_MAX_FRAME`] unless set).
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

    /// Closes this end, reporting what the operating system says. The peer then sees
    /// [`Error::Disconnected`] once it has read what was sent. Dropping does the same, silently.
    pub fn close(self) -> Result<(), Error> {
        let Connection { fd, .. } = self;
        sysfd::close(fd).map_err(Error::Io)
    }

    // ----- typed messages -----

    /// Sends a serde value (with any handles it holds), blocking while the socket is full.
    ///
    /// A value that cannot be encoded is an [`Error::Encode`], and nothing is sent.
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Error> {
        self.send_deadline_inner(value, None, None)
    }

    /// Sends a serde value only if the socket takes it without waiting; else
    /// [`Error::Timeout`]. (A message larger than the socket's buffer is cut off part way:
    /// see [`send_deadline`](Connection::send_deadline).)
    pub fn try_send<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Error> {
        self.send_deadline_inner(value, Some(Instant::now()), None)
    }

    /// Sends a serde value, waiting at most `timeout` for room in the socket.
    pub fn send_timeout<T: Serialize + ?Sized>(
        &self,
        value: &T,
        timeout: Duration,
    ) -> Result<(), Error> {
        self.send_deadline_inner(value, Some(sysfd::deadline_after(timeout)), None)
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
        self.send_deadline_inner(value, Some(deadline), None)
    }

    pub(crate) fn send_deadline_inner<T: Serialize + ?Sized>(
        &self,
        value: &T,
        deadline: Option<Instant>,
        watch: Option<BorrowedFd<'_>>,
    ) -> Result<(), Error> {
        self.check_writable()?;
        let mut buf = Vec::with_capacity(128);
        let (start, fds) = frame_typed_at(value, &mut buf)?;
        let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
        self.send_raw(&[&buf[start..]], &borrowed, deadline, watch)
    }

    /// Receives a serde value, blocking until one arrives or the peer closes.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.recv_inner(None, None)
    }

    /// Receives a serde value if one is ready now; else [`Error::Timeout`].
    pub fn try_recv<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.recv_inner(Some(Instant::now()), None)
    }

    /// Receives a serde value, waiting at most `timeout`.
    pub fn recv_timeout<T: DeserializeOwned>(&self, timeout: Duration) -> Result<T, Error> {
        self.recv_inner(Some(sysfd::deadline_after(timeout)), None)
    }

    /// Receives a serde value, waiting until `deadline` at most.
    pub fn recv_deadline<T: DeserializeOwned>(&self, deadline: Instant) -> Result<T, Error> {
        self.recv_inner(Some(deadline), None)
    }

    pub(crate) fn recv_inner<T: DeserializeOwned>(
        &self,
        deadline: Option<Instant>,
        watch: Option<BorrowedFd<'_>>,
    ) -> Result<T, Error> {
        self.check_readable()?;
        let mut rx = self.lock_rx();
        loop {
            if let Some(body) = self.next_frame(&mut rx)? {
                return decode_typed(&mut rx, body);
            }
            self.fill(&mut rx, deadline, watch)?;
        }
    }

    // ----- bytes messages (CPython-compatible) -----

    /// Sends `buf` as one bytes message, readable by CPython's `Connection.recv_bytes()`.
    pub fn send_bytes(&self, buf: &[u8]) -> Result<(), Error> {
        self.send_bytes_inner(buf, None)
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
        self.send_bytes_inner(buf, Some(Instant::now()))
    }

    /// Sends `buf` as one bytes message, waiting at most `timeout` for room in the socket.
    pub fn send_bytes_timeout(&self, buf: &[u8], timeout: Duration) -> Result<(), Error> {
        self.send_bytes_inner(buf, Some(sysfd::deadline_after(timeout)))
    }

    /// Sends `buf` as one bytes message, waiting until `deadline` at most (see
    /// [`send_deadline`](Connection::send_deadline) for a deadline that passes mid-message).
    pub fn send_bytes_deadline(&self, buf: &[u8], deadline: Instant) -> Result<(), Error> {
        self.send_bytes_inner(buf, Some(deadline))
    }

    fn send_bytes_inner(&self, buf: &[u8], deadline: Option<Instant>) -> Result<(), Error> {
        self.check_writable()?;
        let mut header = [0u8; MAX_HEADER];
        let start = frame::write_header(&mut header, buf.len() as u64);
        self.send_raw(&[&header[start..], buf], &[], deadline, None)
    }

    /// Receives one bytes message, blocking until one arrives or the peer closes.
    pub fn recv_bytes(&self) -> Result<Vec<u8>, Error> {
        self.recv_bytes_inner(None)
    }

    /// Receives one bytes message if one is ready now; else [`Error::Timeout`].
    pub fn try_recv_bytes(&self) -> Result<Vec<u8>, Error> {
        self.recv_bytes_inner(Some(Instant::now()))
    }

    /// Receives one bytes message, waiting at most `timeout`.
    pub fn recv_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>, Error> {
        self.recv_bytes_inner(Some(sysfd::deadline_after(timeout)))
    }

    /// Receives one bytes message, waiting until `deadline` at most.
    pub fn recv_bytes_deadline(&self, deadline: Instant) -> Result<Vec<u8>, Error> {
        self.recv_bytes_inner(Some(deadline))
    }

    fn recv_bytes_inner(&self, deadline: Option<Instant>) -> Result<Vec<u8>, Error> {
        self.check_readable()?;
        let mut rx = self.lock_rx();
        loop {
            match self.next(&mut rx)? {
                Next::Frame(body) => {
                    let msg = rx.bytes(body.clone()).to_vec();
                    rx.consume_to(body.end);
                    return Ok(msg);
                }
                Next::Partial { header, body, have } if body >= DIRECT_MIN && !rx.at_eof() => {
                    // Receive the rest straight into the message.
                    let mut msg = Vec::with_capacity(body);
                    msg.extend_from_slice(&rx.pending()[header..header + have]);
                    rx.discard_pending();
                    let fd = self.fd.as_fd();
                    let result = self.read_direct(&mut rx, body - have, deadline, |fds, block| {
                        let left = body - msg.len();
                        sysfd::recv_append(fd, &mut msg, left, fds, block)
                    });
                    return match result {
                        Ok(()) => Ok(msg),
                        Err(e) => Err(put_back(&mut rx, body, &msg, e)),
                    };
                }
                Next::Partial { .. } | Next::Nothing => {
                    if self.next_frame(&mut rx)?.is_none() {
                        self.fill(&mut rx, deadline, None)?;
                    }
                }
            }
        }
    }

    /// Receives one bytes message into `buf[offset..]` and returns its length (Python's
    /// `recv_bytes_into`).
    ///
    /// An `offset` past the end of `buf` is [`Error::OutOfRange`], and nothing is received. A
    /// message longer than `buf.len() - offset` is consumed and returned whole in
    /// [`Error::BufferTooShort`].
    pub fn recv_bytes_into(&self, buf: &mut [u8], offset: usize) -> Result<usize, Error> {
        self.recv_bytes_into_inner(buf, offset, None)
    }

    /// [`recv_bytes_into`](Connection::recv_bytes_into) if a message is ready now; else
    /// [`Error::Timeout`].
    pub fn try_recv_bytes_into(&self, buf: &mut [u8], offset: usize) -> Result<usize, Error> {
        self.recv_bytes_into_inner(buf, offset, Some(Instant::now()))
    }

    /// [`recv_bytes_into`](Connection::recv_bytes_into), waiting at most `timeout`.
    pub fn recv_bytes_into_timeout(
        &self,
        buf: &mut [u8],
        offset: usize,
        timeout: Duration,
    ) -> Result<usize, Error> {
        self.recv_bytes_into_inner(buf, offset, Some(sysfd::deadline_after(timeout)))
    }

    /// [`recv_bytes_into`](Connection::recv_bytes_into), waiting until `deadline` at most.
    pub fn recv_bytes_into_deadline(
        &self,
        buf: &mut [u8],
        offset: usize,
        deadline: Instant,
    ) -> Result<usize, Error> {
        self.recv_bytes_into_inner(buf, offset, Some(deadline))
    }

    fn recv_bytes_into_inner(
        &self,
        buf: &mut [u8],
        offset: usize,
        deadline: Option<Instant>,
    ) -> Result<usize, Error> {
        if offset > buf.len() {
            return Err(Error::OutOfRange {
                offset,
                size: None,
                len: buf.len(),
            });
        }
        self.check_readable()?;
        let room = buf.len() - offset;
        let mut rx = self.lock_rx();
        loop {
            match self.next(&mut rx)? {
                Next::Frame(body) => {
                    let n = body.len();
                    let result = if n <= room {
                        buf[offset..offset + n].copy_from_slice(rx.bytes(body.clone()));
                        Ok(n)
                    } else {
                        Err(Error::BufferTooShort(rx.bytes(body.clone()).to_vec()))
                    };
                    rx.consume_to(body.end);
                    return result;
                }
                Next::Partial { header, body, have }
                    if body >= DIRECT_MIN && body <= room && !rx.at_eof() =>
                {
                    let dest = &mut buf[offset..offset + body];
                    dest[..have].copy_from_slice(&rx.pending()[header..header + have]);
                    rx.discard_pending();
                    let fd = self.fd.as_fd();
                    let mut got = have;
                    let result = self.read_direct(&mut rx, body - have, deadline, |fds, block| {
                        let n = sysfd::recv_blocking(fd, &mut dest[got..], fds, block)?;
                        got += n;
                        Ok(n)
                    });
                    return match result {
                        Ok(()) => Ok(body),
                        Err(e) => Err(put_back(&mut rx, body, &dest[..got], e)),
                    };
                }
                Next::Partial { .. } | Next::Nothing => {
                    if self.next_frame(&mut rx)?.is_none() {
                        self.fill(&mut rx, deadline, None)?;
                    }
                }
            }
        }
    }

    /// Whether a message (or the end of the stream) can be received now, waiting at most
    /// `timeout` for one (`Duration::ZERO` checks without waiting).
    pub fn poll(&self, timeout: Duration) -> Result<bool, Error> {
        self.poll_deadline(sysfd::deadline_after(timeout))
    }

    /// Whether a message (or the end of the stream) can be received by `deadline`.
    pub fn poll_deadline(&self, deadline: Instant) -> Result<bool, Error> {
        self.check_readable()?;
        let mut rx = self.lock_rx();
        loop {
            if rx.ready(self.max_frame) {
                return Ok(true);
            }
            match self.fill(&mut rx, Some(deadline), None) {
                Ok(_) => {}
                Err(Error::Timeout) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether a receive would find a message (or the end) now, without waiting for the
    /// receive lock: another thread inside a receive counts as not ready.
    pub(crate) fn ready_now(&self) -> bool {
        if !self.readable {
            return false;
        }
        let Ok(mut rx) = self.rx.try_lock() else {
            return false;
        };
        if rx.ready(self.max_frame) {
            return true;
        }
        match self.fill(&mut rx, Some(Instant::now()), None) {
            Ok(()) => rx.ready(self.max_frame),
            Err(Error::Timeout) => false,
            Err(_) => true,
        }
    }

    // ----- internals -----

    fn lock_rx(&self) -> std::sync::MutexGuard<'_, Decoder> {
        self.rx.lock().unwrap_or_else(|e| e.into_inner())
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

    /// Writes `parts` in full, descriptors on the first byte.
    pub(crate) fn send_raw(
        &self,
        parts: &[&[u8]],
        fds: &[BorrowedFd<'_>],
        deadline: Option<Instant>,
        watch: Option<BorrowedFd<'_>>,
    ) -> Result<(), Error> {
        let mut tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(why) = &tx.broken {
            return Err(Error::Broken(why.clone()));
        }
        let block = deadline.is_none() && watch.is_none();
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut sent = 0usize;
        let mut fds = fds;
        let mut iov = Vec::with_capacity(parts.len());
        while sent < total {
            // The iovecs of what is left.
            let mut skip = sent;
            iov.clear();
            for p in parts {
                if skip >= p.len() {
                    skip -= p.len();
                    continue;
                }
                iov.push(IoSlice::new(&p[skip..]));
                skip = 0;
            }
            let failure = match sysfd::send_msg(self.fd.as_fd(), &iov, fds, block) {
                Ok(n) => {
                    sent += n;
                    if n > 0 {
                        fds = &[];
                    }
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    match self.wait_for(Interest::Write, deadline, watch) {
                        Ok(Woke::Ready) => continue,
                        Ok(Woke::Watched) => Error::PeerExited,
                        Err(e) => e,
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if is_disconnect(&e) => Error::Disconnected,
                Err(e) => Error::Io(e),
            };
            if sent > 0 && !matches!(failure, Error::Disconnected) {
                // Part of a frame is out: nothing sent after it could be parsed.
                let why = format!("a send stopped after {sent} of {total} bytes ({failure})");
                tx.broken = Some(why);
                let _ = sysfd::shutdown(self.fd.as_fd());
            }
            return Err(failure);
        }
        Ok(())
    }

    /// [`Decoder::next`], closing the socket when the decoder refuses the stream.
    fn next(&self, rx: &mut Decoder) -> Result<Next, Error> {
        rx.next(self.max_frame).inspect_err(|e| self.refused(e))
    }

    /// [`Decoder::next_frame`], closing the socket when the decoder refuses the stream.
    fn next_frame(&self, rx: &mut Decoder) -> Result<Option<Range<usize>>, Error> {
        rx.next_frame(self.max_frame)
            .inspect_err(|e| self.refused(e))
    }

    fn refused(&self, e: &Error) {
        if matches!(e, Error::FrameTooLarge { .. } | Error::Corrupt(_)) {
            let _ = sysfd::shutdown(self.fd.as_fd());
        }
    }

    /// Reads whatever is available into the decoder, waiting for something until `deadline`.
    fn fill(
        &self,
        rx: &mut Decoder,
        deadline: Option<Instant>,
        watch: Option<BorrowedFd<'_>>,
    ) -> Result<(), Error> {
        let fd = self.fd.as_fd();
        let mut fds = Vec::new();
        let result = self.read_some(deadline, watch, &mut fds, |fds, block| {
            sysfd::recv_blocking(fd, rx.spare(), fds, block)
        });
        rx.add_fds(fds);
        match result {
            Ok(n) => {
                rx.filled(n);
                Ok(())
            }
            Err(ReadFailure::Eof) => {
                rx.set_eof();
                Ok(())
            }
            Err(ReadFailure::Error(e)) => Err(e),
        }
    }

    /// Reads `remaining` bytes through `read` (which puts them where they belong), collecting
    /// the descriptors that come with them into the decoder.
    fn read_direct(
        &self,
        rx: &mut Decoder,
        mut remaining: usize,
        deadline: Option<Instant>,
        mut read: impl FnMut(&mut Vec<OwnedFd>, bool) -> std::io::Result<usize>,
    ) -> Result<(), Error> {
        while remaining > 0 {
            let mut fds = Vec::new();
            let result = self.read_some(deadline, None, &mut fds, &mut read);
            rx.add_fds(fds);
            match result {
                Ok(n) => remaining -= n,
                Err(ReadFailure::Eof) => {
                    rx.set_eof();
                    return Err(Error::Truncated);
                }
                Err(ReadFailure::Error(e)) => return Err(e),
            }
        }
        Ok(())
    }

    /// One successful read through `read`, waiting with poll while the socket has nothing.
    /// Descriptors that arrive are added to `fds`.
    fn read_some(
        &self,
        deadline: Option<Instant>,
        watch: Option<BorrowedFd<'_>>,
        fds: &mut Vec<OwnedFd>,
        mut read: impl FnMut(&mut Vec<OwnedFd>, bool) -> std::io::Result<usize>,
    ) -> Result<usize, ReadFailure> {
        let block = deadline.is_none() && watch.is_none();
        let mut watched = false;
        let mut spin_until: Option<Instant> = None;
        loop {
            let in_kernel = block && spin_until.is_some_and(|s| Instant::now() >= s);
            match read(fds, in_kernel) {
                Ok(0) => return Err(ReadFailure::Eof),
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if watched {
                        return Err(ReadFailure::Error(Error::PeerExited));
                    }
                    // A reply often comes within microseconds; going to sleep and being woken
                    // costs more than asking again for a little while.
                    let now = Instant::now();
                    let until = *spin_until.get_or_insert_with(|| {
                        let s = now + RECV_SPIN;
                        deadline.map_or(s, |d| d.min(s))
                    });
                    if now < until {
                        for _ in 0..SPIN_PAUSES {
                            std::hint::spin_loop();
                        }
                        continue;
                    }
                    if block {
                        continue;
                    }
                    match self.wait_for(Interest::Read, deadline, watch) {
                        Ok(Woke::Ready) => {}
                        // The watched process ended: read what it left, once more.
                        Ok(Woke::Watched) => watched = true,
                        Err(e) => return Err(ReadFailure::Error(e)),
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_disconnect(&e) => return Err(ReadFailure::Eof),
                Err(e) => return Err(ReadFailure::Error(Error::Io(e))),
            }
        }
    }

    fn wait_for(
        &self,
        interest: Interest,
        deadline: Option<Instant>,
        watch: Option<BorrowedFd<'_>>,
    ) -> Result<Woke, Error> {
        let mut set = vec![(self.fd.as_fd(), interest)];
        if let Some(w) = watch {
            set.push((w, Interest::Read));
        }
        let ready = sysfd::poll(&set, deadline).map_err(Error::Io)?;
        if ready[0] {
            Ok(Woke::Ready)
        } else if ready.get(1).copied().unwrap_or(false) {
            Ok(Woke::Watched)
        } else if deadline.is_some_and(|d| Instant::now() >= d) {
            Err(Error::Timeout)
        } else {
            Ok(Woke::Ready)
        }
    }

    /// Whether unread bytes sit in this end's buffer.
    fn has_buffered(&self) -> bool {
        self.lock_rx().has_buffered()
    }
}

/// Appends one complete typed frame for `value` to `out` (header, descriptor count, serde
/// bytes), leaving up to 12 unused bytes before it: the frame starts at the returned offset.
/// Also returns the descriptors that must travel with it.
fn frame_typed_at<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(usize, Vec<OwnedFd>), Error> {
    let base = out.len();
    out.resize(base + PREFIX, 0);
    let fds = match codec::encode_into(value, out) {
        Ok(fds) => fds,
        Err(e) => {
            out.truncate(base);
            return Err(e.into());
        }
    };
    if fds.len() > sysfd::MAX_FDS_PER_MSG {
        out.truncate(base);
        return Err(Error::TooManyHandles(fds.len()));
    }
    out[base + PREFIX - 4..base + PREFIX].copy_from_slice(&(fds.len() as u32).to_le_bytes());
    let body_len = (out.len() - base - PREFIX + 4) as u64;
    let start = base + frame::write_header(&mut out[base..base + PREFIX - 4], body_len);
    Ok((start, fds))
}

/// Decodes the typed frame at `body` (descriptor count, then serde bytes) and consumes it.
fn decode_typed<T: DeserializeOwned>(rx: &mut Decoder, body: Range<usize>) -> Result<T, Error> {
    let result = match rx.bytes(body.clone()).first_chunk::<4>() {
        None => Err(Error::Corrupt(
            "typed message shorter than its descriptor count".into(),
        )),
        Some(count) => {
            let n = u32::from_le_bytes(*count) as usize;
            rx.take_fds(n)
                .and_then(|fds| Ok(codec::decode(rx.bytes(body.start + 4..body.end), fds)?))
        }
    };
    rx.consume_to(body.end);
    result
}

/// Puts a partly received frame (`received` of a body of `body` bytes) back in front of the
/// decoder after `error` interrupted a direct read, so that a later receive resumes it.
fn put_back(rx: &mut Decoder, body: usize, received: &[u8], error: Error) -> Error {
    if !matches!(error, Error::Truncated) {
        let mut header = [0u8; MAX_HEADER];
        let start = frame::write_header(&mut header, body as u64);
        rx.feed(&header[start..]);
        rx.feed(received);
    }
    error
}

fn is_disconnect(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN)
    )
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.fd.as_raw_fd())
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Wire {
    fd: codec::Fd,
    readable: bool,
    writable: bool,
    max_frame: u64,
}

impl Serialize for Connection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        if self.has_buffered() {
            return Err(S::Error::custom(
                "cannot send a connection that holds unread messages",
            ));
        }
        let fd = self.fd.try_clone().map_err(S::Error::custom)?;
        Wire {
            fd: fd.into(),
            readable: self.readable,
            writable: self.writable,
            max_frame: self.max_frame,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        let mut c = Connection::from_socket(w.fd.into(), w.readable, w.writable);
        c.max_frame = w.max_frame;
        Ok(c)
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
        a.send_raw(&[&[0x7f, 0xff, 0xff, 0xff]], &[], None, None)
            .unwrap();
        assert!(matches!(b.recv_bytes(), Err(Error::FrameTooLarge { .. })));
        assert!(matches!(b.recv_bytes(), Err(Error::Broken(_))));
    }

    #[test]
    fn truncated_frame_is_an_error() {
        let (a, b) = Connection::pair(true).unwrap();
        a.send_raw(&[&[0, 0, 0, 10], b"abc"], &[], None, None)
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
                a.send_raw(&[&header[s..], &big[..half]], &[], None, None)
                    .unwrap();
                std::thread::sleep(Duration::from_millis(300));
                a.send_raw(&[&big[half..]], &[], None, None).unwrap();
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
