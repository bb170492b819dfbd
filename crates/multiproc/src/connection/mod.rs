//! Connections: message framing over Unix sockets, byte-compatible with CPython's
//! `multiprocessing.connection`.
//!
//! A frame is a 4-byte big-endian signed length followed by that many bytes; a length of `-1`
//! is followed by an 8-byte big-endian unsigned length, for messages over 2 GiB. This is what
//! CPython's `Connection.send_bytes`/`recv_bytes` write and read, so a Python process at the
//! other end of a socket can exchange bytes messages with us.
//!
//! Typed messages ([`Connection::send`]/[`Connection::recv`]) are our own: the frame's body is
//! a 4-byte little-endian count of the descriptors that travel with the message, then the
//! serde bytes (see [`crate::codec`]). Descriptors ride as `SCM_RIGHTS` on the frame's first
//! byte.

#![forbid(unsafe_code)]

mod error;

pub use error::Error;

use std::collections::VecDeque;
use std::fmt;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec;
use crate::sys::fd::{self as sysfd, Interest};

/// The default largest frame a connection accepts: 4 GiB.
pub const DEFAULT_MAX_FRAME: u64 = 4 << 30;

/// Room reserved in front of a typed message for the frame header and the descriptor count.
const PREFIX: usize = 16;

/// The smallest read we ask the kernel for.
const READ_CHUNK: usize = 64 * 1024;

/// One end of a bidirectional message channel between processes.
///
/// All methods take `&self`: sends are serialised with one another and receives with one
/// another, so a connection may be shared between threads, and a message is never interleaved
/// with another.
pub struct Connection {
    fd: OwnedFd,
    readable: bool,
    writable: bool,
    max_frame: u64,
    rx: Mutex<Rx>,
    tx: Mutex<()>,
}

#[derive(Default)]
struct Rx {
    buf: Vec<u8>,
    start: usize,
    fds: VecDeque<OwnedFd>,
    eof: bool,
    broken: Option<String>,
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
            tx: Mutex::new(()),
        }
    }

    /// A connected pair, each end able to send and receive.
    #[cfg(test)]
    pub(crate) fn pair() -> std::io::Result<(Connection, Connection)> {
        let (a, b) = sysfd::socketpair()?;
        Ok((
            Connection::from_socket(a, true, true),
            Connection::from_socket(b, true, true),
        ))
    }

    /// Sets the largest frame this end accepts. A larger incoming frame fails with
    /// [`Error::FrameTooLarge`] and closes the connection, without allocating its claimed size.
    pub fn set_max_frame_size(&mut self, bytes: u64) {
        self.max_frame = bytes;
    }

    /// The largest frame this end accepts.
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

    // ----- typed messages -----

    /// Sends a serde value (with any handles it holds).
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Error> {
        self.send_deadline_inner(value, None, None)
    }

    /// Sends a serde value, failing with [`Error::Timeout`] if the peer does not take it by the
    /// deadline (only a large message can wait).
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

    /// Receives a serde value if one is ready now.
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
        let (body, fds) = self.recv_frame(deadline, watch, true)?;
        decode_typed(&body, fds)
    }

    // ----- bytes messages (CPython-compatible) -----

    /// Sends `buf` as one bytes message, readable by CPython's `Connection.recv_bytes()`.
    pub fn send_bytes(&self, buf: &[u8]) -> Result<(), Error> {
        self.send_bytes_deadline_inner(buf, None)
    }

    /// Sends `buf` as one bytes message, waiting until `deadline` at most.
    pub fn send_bytes_deadline(&self, buf: &[u8], deadline: Instant) -> Result<(), Error> {
        self.send_bytes_deadline_inner(buf, Some(deadline))
    }

    fn send_bytes_deadline_inner(
        &self,
        buf: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        self.check_writable()?;
        let mut header = [0u8; 12];
        let start = write_header(&mut header, buf.len() as u64);
        self.send_raw(&[&header[start..], buf], &[], deadline, None)
    }

    /// Receives one bytes message, blocking until one arrives or the peer closes.
    pub fn recv_bytes(&self) -> Result<Vec<u8>, Error> {
        self.recv_frame(None, None, false).map(|(b, _)| b)
    }

    /// Receives one bytes message if one is ready now.
    pub fn try_recv_bytes(&self) -> Result<Vec<u8>, Error> {
        self.recv_frame(Some(Instant::now()), None, false)
            .map(|(b, _)| b)
    }

    /// Receives one bytes message, waiting at most `timeout`.
    pub fn recv_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>, Error> {
        self.recv_frame(Some(sysfd::deadline_after(timeout)), None, false)
            .map(|(b, _)| b)
    }

    /// Receives one bytes message, waiting until `deadline` at most.
    pub fn recv_bytes_deadline(&self, deadline: Instant) -> Result<Vec<u8>, Error> {
        self.recv_frame(Some(deadline), None, false).map(|(b, _)| b)
    }

    /// Whether a message (or the end of the stream) can be received now, waiting at most
    /// `timeout` for one (`Duration::ZERO` checks without waiting).
    pub fn poll(&self, timeout: Duration) -> Result<bool, Error> {
        self.poll_deadline(sysfd::deadline_after(timeout))
    }

    /// Whether a message (or the end of the stream) can be received by `deadline`.
    pub fn poll_deadline(&self, deadline: Instant) -> Result<bool, Error> {
        self.check_readable()?;
        let mut rx = self.rx.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if rx.eof || rx.broken.is_some() || complete_frame_len(&rx, self.max_frame).is_some() {
                return Ok(true);
            }
            match self.fill(&mut rx, Some(deadline), None) {
                Ok(_) => {}
                Err(Error::Timeout) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    // ----- internals -----

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
        let _guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut sent = 0usize;
        let mut fds = fds;
        while sent < total {
            // Build the iovecs of what is left.
            let mut skip = sent;
            let mut iov = Vec::with_capacity(parts.len());
            for p in parts {
                if skip >= p.len() {
                    skip -= p.len();
                    continue;
                }
                iov.push(IoSlice::new(&p[skip..]));
                skip = 0;
            }
            match sysfd::send_with_fds(self.fd.as_fd(), &iov, fds) {
                Ok(n) => {
                    sent += n;
                    if n > 0 {
                        fds = &[];
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Woke::Watched = self.wait_for(Interest::Write, deadline, watch)? {
                        return Err(Error::PeerExited);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if is_disconnect(&e) => return Err(Error::Disconnected),
                Err(e) => return Err(Error::Io(e)),
            }
        }
        Ok(())
    }

    /// Receives one frame's body. With `typed`, the frame must carry the descriptor count.
    pub(crate) fn recv_frame(
        &self,
        deadline: Option<Instant>,
        watch: Option<BorrowedFd<'_>>,
        typed: bool,
    ) -> Result<(Vec<u8>, Vec<OwnedFd>), Error> {
        self.check_readable()?;
        let mut rx = self.rx.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(msg) = &rx.broken {
                return Err(Error::Broken(msg.clone()));
            }
            match parse_header(&rx.buf[rx.start..]) {
                Ok(Some((hlen, blen))) => {
                    if blen > self.max_frame {
                        let msg = format!(
                            "incoming frame of {blen} bytes exceeds the limit of {}",
                            self.max_frame
                        );
                        rx.broken = Some(msg);
                        rx.buf = Vec::new();
                        rx.start = 0;
                        let _ = shutdown(self.fd.as_fd());
                        return Err(Error::FrameTooLarge {
                            size: blen,
                            max: self.max_frame,
                        });
                    }
                    let blen = blen as usize;
                    let avail = rx.buf.len() - rx.start - hlen;
                    if avail >= blen {
                        let s = rx.start + hlen;
                        let body = rx.buf[s..s + blen].to_vec();
                        rx.start = s + blen;
                        if rx.start == rx.buf.len() {
                            rx.buf.clear();
                            rx.start = 0;
                        }
                        let fds = if typed {
                            if body.len() < 4 {
                                return Err(Error::Corrupt(
                                    "typed message shorter than its descriptor count".into(),
                                ));
                            }
                            let n =
                                u32::from_le_bytes(body[..4].try_into().expect("4 bytes")) as usize;
                            if rx.fds.len() < n {
                                return Err(Error::Corrupt(format!(
                                    "message announces {n} descriptors but {} arrived",
                                    rx.fds.len()
                                )));
                            }
                            rx.fds.drain(..n).collect()
                        } else {
                            Vec::new()
                        };
                        return Ok((body, fds));
                    }
                    // Make room for the whole frame in one allocation.
                    let need = rx.start + hlen + blen;
                    if rx.buf.capacity() < need {
                        let used = rx.buf.len() - rx.start;
                        if rx.start > 0 {
                            let start = rx.start;
                            rx.buf.drain(..start);
                            rx.start = 0;
                        }
                        let want = hlen + blen;
                        rx.buf.reserve(want.saturating_sub(used));
                    }
                }
                Ok(None) => {}
                Err(msg) => {
                    rx.broken = Some(msg.clone());
                    return Err(Error::Corrupt(msg));
                }
            }
            if rx.eof {
                return Err(if rx.buf.len() == rx.start {
                    Error::Disconnected
                } else {
                    Error::Truncated
                });
            }
            self.fill(&mut rx, deadline, watch)?;
        }
    }

    /// Reads whatever is available (waiting for something, up to `deadline`).
    fn fill(
        &self,
        rx: &mut Rx,
        deadline: Option<Instant>,
        watch: Option<BorrowedFd<'_>>,
    ) -> Result<(), Error> {
        let mut watched = false;
        loop {
            if rx.start > 0 && rx.start == rx.buf.len() {
                rx.buf.clear();
                rx.start = 0;
            }
            let len = rx.buf.len();
            let spare = (rx.buf.capacity() - len).max(READ_CHUNK);
            rx.buf.resize(len + spare, 0);
            let mut fds = Vec::new();
            let r = sysfd::recv_with_fds(self.fd.as_fd(), &mut rx.buf[len..], &mut fds);
            rx.fds.extend(fds);
            match r {
                Ok(0) => {
                    rx.buf.truncate(len);
                    rx.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    rx.buf.truncate(len + n);
                    return Ok(());
                }
                Err(e) => {
                    rx.buf.truncate(len);
                    match e.kind() {
                        std::io::ErrorKind::WouldBlock => {
                            if watched {
                                return Err(Error::PeerExited);
                            }
                            if let Woke::Watched = self.wait_for(Interest::Read, deadline, watch)? {
                                // The watched process ended: read what it left, once more.
                                watched = true;
                            }
                        }
                        std::io::ErrorKind::Interrupted => {}
                        _ if is_disconnect(&e) => {
                            rx.eof = true;
                            return Ok(());
                        }
                        _ => return Err(Error::Io(e)),
                    }
                }
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

    /// Whether a whole message is already buffered, so that receiving it needs no system call.
    pub(crate) fn frame_ready(&self) -> bool {
        let rx = self.rx.lock().unwrap_or_else(|e| e.into_inner());
        complete_frame_len(&rx, self.max_frame).is_some()
    }

    /// Whether unread bytes sit in this end's buffer.
    fn has_buffered(&self) -> bool {
        let rx = self.rx.lock().unwrap_or_else(|e| e.into_inner());
        rx.buf.len() > rx.start || !rx.fds.is_empty()
    }
}

/// Appends one complete typed frame for `value` to `out` (header, descriptor count, serde
/// bytes) and returns the descriptors that must travel with it. Several frames without
/// descriptors may be sent in one write.
pub(crate) fn frame_typed<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<Vec<OwnedFd>, Error> {
    let base = out.len();
    let (start, fds) = frame_typed_at(value, out)?;
    // Close the gap the header did not use.
    out.drain(base..start);
    Ok(fds)
}

/// Like [`frame_typed`], but leaves up to 12 unused bytes before the frame instead of moving
/// it: the frame starts at the returned offset.
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
    let start = base + write_header(&mut out[base..base + PREFIX - 4], body_len);
    Ok((start, fds))
}

/// Decodes a typed frame body (descriptor count, then serde bytes).
pub(crate) fn decode_typed<T: DeserializeOwned>(
    body: &[u8],
    fds: Vec<OwnedFd>,
) -> Result<T, Error> {
    Ok(codec::decode(&body[4..], fds)?)
}

/// Writes a CPython frame header for a body of `len` bytes at the end of `out` (12 bytes), and
/// returns where the header starts.
fn write_header(out: &mut [u8], len: u64) -> usize {
    let end = out.len();
    if len <= 0x7fff_ffff {
        out[end - 4..].copy_from_slice(&(len as i32).to_be_bytes());
        end - 4
    } else {
        out[end - 12..end - 8].copy_from_slice(&(-1i32).to_be_bytes());
        out[end - 8..].copy_from_slice(&len.to_be_bytes());
        end - 12
    }
}

/// Parses a frame header: `Ok(Some((header_len, body_len)))`, `Ok(None)` if more bytes are
/// needed, or an error for a header that no sender writes.
pub(crate) fn parse_header(buf: &[u8]) -> Result<Option<(usize, u64)>, String> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let n = i32::from_be_bytes(buf[..4].try_into().expect("4 bytes"));
    if n >= 0 {
        return Ok(Some((4, n as u64)));
    }
    if n != -1 {
        return Err(format!("corrupt frame header: negative length {n}"));
    }
    if buf.len() < 12 {
        return Ok(None);
    }
    Ok(Some((
        12,
        u64::from_be_bytes(buf[4..12].try_into().expect("8 bytes")),
    )))
}

fn complete_frame_len(rx: &Rx, max: u64) -> Option<usize> {
    match parse_header(&rx.buf[rx.start..]) {
        Ok(Some((h, b))) if b > max => Some(h),
        Ok(Some((h, b))) if rx.buf.len() - rx.start >= h + b as usize => Some(h + b as usize),
        Ok(_) => None,
        Err(_) => Some(0),
    }
}

fn is_disconnect(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN)
    )
}

fn shutdown(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    let s = std::os::unix::net::UnixStream::from(fd.try_clone_to_owned()?);
    s.shutdown(std::net::Shutdown::Both)
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
        let (a, b) = Connection::pair().unwrap();
        a.send(&("hi".to_string(), 5u64)).unwrap();
        a.send_bytes(b"raw").unwrap();
        assert_eq!(b.recv::<(String, u64)>().unwrap(), ("hi".to_string(), 5));
        assert_eq!(b.recv_bytes().unwrap(), b"raw");
    }

    #[test]
    fn header_matches_cpython() {
        let mut h = [0u8; 12];
        let s = write_header(&mut h, 5);
        assert_eq!(&h[s..], &[0, 0, 0, 5]);
        let s = write_header(&mut h, 0x8000_0000);
        assert_eq!(
            &h[s..],
            &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0]
        );
        assert_eq!(parse_header(&h[s..]).unwrap(), Some((12, 0x8000_0000)));
        assert!(parse_header(&[0xff, 0xff, 0xff, 0xfe]).is_err());
    }

    #[test]
    fn large_message_crosses_socket_buffer() {
        let (a, b) = Connection::pair().unwrap();
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
        let (a, b) = Connection::pair().unwrap();
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
        let (a, mut b) = Connection::pair().unwrap();
        b.set_max_frame_size(1024);
        // A header that claims 2 GiB, and nothing behind it.
        a.send_raw(&[&[0x7f, 0xff, 0xff, 0xff]], &[], None, None)
            .unwrap();
        assert!(matches!(b.recv_bytes(), Err(Error::FrameTooLarge { .. })));
        assert!(matches!(b.recv_bytes(), Err(Error::Broken(_))));
    }

    #[test]
    fn truncated_frame_is_an_error() {
        let (a, b) = Connection::pair().unwrap();
        a.send_raw(&[&[0, 0, 0, 10], b"abc"], &[], None, None)
            .unwrap();
        drop(a);
        assert!(matches!(b.recv_bytes(), Err(Error::Truncated)));
    }

    #[test]
    fn connection_travels_through_connection() {
        let (a, b) = Connection::pair().unwrap();
        let (c, d) = Connection::pair().unwrap();
        a.send(&c).unwrap();
        drop(c);
        let c2: Connection = b.recv().unwrap();
        c2.send(&42u32).unwrap();
        assert_eq!(d.recv::<u32>().unwrap(), 42);
    }
}
