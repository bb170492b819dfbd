//! [`FramedStream`]: frames over a stream socket, the engine under [`Connection`](super::Connection).
//!
//! Sends write a whole frame (header and body, descriptors on its first byte) with as few
//! system calls as the kernel allows. Receives take one frame, and what they read depends on
//! who else may read the socket ([`Readers`]):
//!
//! - **Shared** (every connection a user can hold): the socket may be read by other processes
//!   too, now or later (a connection given to a child, inherited, or sent through another
//!   connection). A receive reads the header exactly, then exactly the body, so no process ever
//!   holds a byte of a message it did not return: a reader that exits between two messages
//!   loses nothing for the others (DESIGN.md decision 14, CPython's behaviour).
//! - **Single** (private channels of the library, such as a pool's worker channels): one
//!   process reads, so a receive may read ahead and keep the next messages for later, which
//!   saves system calls when many small messages arrive at once.
//!
//! Either way, memory grows with the bytes that arrive (see [`super::frame`]), bounded
//! by the connection's frame limit. A receive waits by spinning briefly (a reply often comes
//! within microseconds), then in `poll`, until its [`Deadline`].

use std::io::{self, ErrorKind, IoSlice};
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
#[cfg(feature = "tokio")]
use std::sync::TryLockError;
#[cfg(feature = "tokio")]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::Error;
use super::frame::{self, Decoder, EAGER, MAX_HEADER, Next};
use super::typed;
use crate::deadline::Deadline;
use crate::sys::fd::{self as sysfd, Interest};

/// How long a receive keeps asking before it sleeps until data arrives.
const RECV_SPIN: Duration = Duration::from_micros(20);

/// Pauses between two asks while spinning.
const SPIN_PAUSES: u32 = 32;

/// How much a single reader asks the kernel for at least, to read ahead.
const READ_CHUNK: usize = 64 * 1024;

/// Bodies at least this large go straight into their destination, not through the buffer of
/// a single reader. (A shared reader always receives bytes bodies straight into their
/// destination, since it never buffers more than one frame anyway.)
const DIRECT_MIN: usize = 128 * 1024;

/// On a shared socket, a message counts as ready once this much of it has arrived, even if
/// not all: one larger than the socket's buffer never arrives whole before it is read.
const READY_PART: usize = 64 * 1024;

/// How long a shared `poll` sleeps while part of a message has arrived and the rest has not,
/// at first and at most.
pub(super) const PARTIAL_PAUSE: (Duration, Duration) =
    (Duration::from_micros(50), Duration::from_millis(5));

/// Who reads a socket, which decides how much a receive may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Readers {
    /// Other processes may read it too: read exactly one frame.
    Shared,
    /// Only this end, in this process, ever reads it: read ahead.
    Single,
}

/// Frames over one stream socket (see the module docs).
pub(crate) struct FramedStream {
    fd: OwnedFd,
    readers: Readers,
    rx: Mutex<Decoder>,
    tx: Mutex<Tx>,
}

/// The sending side's state.
#[derive(Default)]
struct Tx {
    /// Why the outgoing stream is unusable: a send stopped in the middle of a frame.
    broken: Option<String>,
    /// The rest of a frame that an async send started (see [`FramedStream::send_now`]).
    tail: Option<Box<Tail>>,
}

/// A frame partly written by an async send: the peer waits for the rest.
struct Tail {
    bytes: Vec<u8>,
    sent: usize,
    /// Names the tail, so that the async send that wrote it knows it (unique in the process).
    #[cfg(feature = "tokio")]
    ticket: u64,
}

/// One frame of an async send (see [`FramedStream::send_now`]).
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// The whole frame (header and body), from byte `start` on.
    bytes: Vec<u8>,
    start: usize,
    /// The descriptors that ride on its first byte.
    fds: Vec<OwnedFd>,
    /// Set once part of it is out and the rest waits in the stream's tail.
    ticket: Option<u64>,
}

#[cfg(feature = "tokio")]
impl Outgoing {
    /// The frame `bytes[start..]`, with `fds` on its first byte.
    pub(crate) fn new(bytes: Vec<u8>, start: usize, fds: Vec<OwnedFd>) -> Outgoing {
        Outgoing {
            bytes,
            start,
            fds,
            ticket: None,
        }
    }
}

/// How far a step of an async send or receive got.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub(crate) enum Progress {
    /// The frame is out.
    Sent,
    /// The socket has no room (or nothing to read): wait for the reactor.
    WouldBlock,
    /// Another thread of this process is sending (or receiving) on this end.
    Busy,
}

/// Why a step of an async receive got no message.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub(crate) enum NowError {
    /// Another thread of this process is receiving on this end.
    Busy,
    /// The receive failed.
    Failed(Error),
}

/// A wait that passed its deadline as "not done yet".
#[cfg(feature = "tokio")]
fn now(result: Result<(), Error>) -> Result<bool, Error> {
    match result {
        Ok(()) => Ok(true),
        Err(Error::Timeout) => Ok(false),
        Err(e) => Err(e),
    }
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

/// The frame at the front of the stream, as a receive takes it.
enum Front {
    /// Whole, at this range of the buffer.
    Whole(Range<usize>),
    /// Its header is known: `have` of its `body` bytes are buffered after a `header`-byte header,
    /// and the rest should be received straight into the destination.
    Direct {
        header: usize,
        body: usize,
        have: usize,
    },
}

impl FramedStream {
    /// Frames over the connected stream socket `fd`, read by `readers`.
    pub(crate) fn new(fd: OwnedFd, readers: Readers) -> FramedStream {
        FramedStream {
            fd,
            readers,
            rx: Mutex::default(),
            tx: Mutex::default(),
        }
    }

    /// Who reads the socket.
    pub(crate) fn readers(&self) -> Readers {
        self.readers
    }

    /// From now on only this end, in this process, reads the socket: receives may read ahead.
    /// (What is buffered, at most part of one frame, stays.)
    pub(crate) fn set_single_reader(&mut self) {
        self.readers = Readers::Single;
    }

    /// The socket.
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
    }

    // ----- sending -----

    /// Writes `parts` in full, descriptors on the first byte, waiting for room until
    /// `deadline`, or until `watch` (a process's pidfd) becomes readable.
    ///
    /// A wait that ends before any byte went out is [`Error::Timeout`] (or
    /// [`Error::PeerExited`]) and the stream stays usable; one that ends in the middle of the
    /// frame breaks the sending side for good, since the peer could not parse what follows.
    ///
    /// The rest of a frame that an async send started and did not finish (its future was
    /// dropped) goes out first; a wait that ends during it sends nothing of `parts`.
    pub(crate) fn send(
        &self,
        parts: &[&[u8]],
        fds: &[BorrowedFd<'_>],
        deadline: Deadline,
        watch: Option<BorrowedFd<'_>>,
    ) -> Result<(), Error> {
        let mut tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(why) = &tx.broken {
            return Err(Error::Broken(why.clone()));
        }
        if let Some(mut tail) = tx.tail.take()
            && let Err(e) = self.write_all(&[&tail.bytes], &[], &mut tail.sent, deadline, watch)
        {
            if !matches!(e, Error::Disconnected) {
                tx.tail = Some(tail);
            }
            return Err(e);
        }
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut sent = 0usize;
        let Err(failure) = self.write_all(parts, fds, &mut sent, deadline, watch) else {
            return Ok(());
        };
        if sent > 0 && !matches!(failure, Error::Disconnected) {
            // Part of a frame is out: nothing sent after it could be parsed.
            let why = format!("a send stopped after {sent} of {total} bytes ({failure})");
            tx.broken = Some(why);
            let _ = sysfd::shutdown(self.fd.as_fd());
        }
        Err(failure)
    }

    /// Writes `parts` from byte `*sent` on (descriptors go with the first byte, if `*sent` is
    /// 0), counting what goes out in `*sent`, waiting for room until `deadline` or `watch`.
    fn write_all(
        &self,
        parts: &[&[u8]],
        fds: &[BorrowedFd<'_>],
        sent: &mut usize,
        deadline: Deadline,
        watch: Option<BorrowedFd<'_>>,
    ) -> Result<(), Error> {
        let block = deadline.is_never() && watch.is_none();
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut fds = if *sent == 0 { fds } else { &[] };
        let mut iov = Vec::with_capacity(parts.len());
        while *sent < total {
            // The iovecs of what is left.
            let mut skip = *sent;
            iov.clear();
            for p in parts {
                if skip >= p.len() {
                    skip -= p.len();
                    continue;
                }
                iov.push(IoSlice::new(&p[skip..]));
                skip = 0;
            }
            match sysfd::send_msg(self.fd.as_fd(), &iov, fds, block) {
                Ok(n) => {
                    *sent += n;
                    if n > 0 {
                        fds = &[];
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    match self.wait_for(Interest::Write, deadline, watch)? {
                        Woke::Ready => {}
                        Woke::Watched => return Err(Error::PeerExited),
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_disconnect(&e) => return Err(Error::Disconnected),
                Err(e) => return Err(Error::Io(e)),
            }
        }
        Ok(())
    }

    /// Sends as much of `frame` as the socket takes now, without waiting for room or for a
    /// send of another thread (the async send's step).
    ///
    /// A frame is never interleaved with another: once part of it is out, the rest stays with
    /// the stream (the *tail*), and every send, async or not, finishes a tail before it writes
    /// anything else. So a frame that is started always goes out whole, even if the future
    /// that started it is dropped, as soon as any later send on this end runs.
    #[cfg(feature = "tokio")]
    pub(crate) fn send_now(&self, frame: &mut Outgoing) -> Result<Progress, Error> {
        let mut tx = match self.tx.try_lock() {
            Ok(tx) => tx,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return Ok(Progress::Busy),
        };
        if let Some(why) = &tx.broken {
            return Err(Error::Broken(why.clone()));
        }
        let tx = &mut *tx;
        if let Some(tail) = &mut tx.tail {
            let mine = frame.ticket == Some(tail.ticket);
            let done =
                now(self.write_all(&[&tail.bytes], &[], &mut tail.sent, Deadline::now(), None));
            match done {
                Ok(true) => tx.tail = None,
                Ok(false) => return Ok(Progress::WouldBlock),
                Err(e) => {
                    tx.tail = None;
                    return Err(e);
                }
            }
            if mine {
                return Ok(Progress::Sent);
            }
        } else if frame.ticket.is_some() {
            // Another send finished it.
            return Ok(Progress::Sent);
        }
        let fds: Vec<BorrowedFd<'_>> = frame.fds.iter().map(|f| f.as_fd()).collect();
        let mut sent = 0;
        let bytes = &frame.bytes[frame.start..];
        match now(self.write_all(&[bytes], &fds, &mut sent, Deadline::now(), None))? {
            true => Ok(Progress::Sent),
            false if sent == 0 => Ok(Progress::WouldBlock),
            false => {
                static TICKETS: AtomicU64 = AtomicU64::new(0);
                let ticket = TICKETS.fetch_add(1, Ordering::Relaxed);
                // The bytes before `start` count as sent.
                tx.tail = Some(Box::new(Tail {
                    bytes: std::mem::take(&mut frame.bytes),
                    sent: frame.start + sent,
                    ticket,
                }));
                frame.ticket = Some(ticket);
                // They went out with the first byte.
                frame.fds.clear();
                Ok(Progress::WouldBlock)
            }
        }
    }

    // ----- receiving -----

    /// Receives one typed message (frames over `max` bytes are refused).
    pub(crate) fn recv_typed<T: DeserializeOwned>(
        &self,
        max: u64,
        deadline: Deadline,
        watch: Option<BorrowedFd<'_>>,
    ) -> Result<T, Error> {
        let mut rx = self.lock_rx();
        match self.front(&mut rx, max, deadline, watch, |_| false)? {
            Front::Whole(body) => typed::decode(&mut rx, body),
            Front::Direct { .. } => unreachable!("typed messages are decoded from the buffer"),
        }
    }

    /// Receives one bytes message.
    pub(crate) fn recv_bytes(&self, max: u64, deadline: Deadline) -> Result<Vec<u8>, Error> {
        let mut rx = self.lock_rx();
        let (header, body, have) = match self.front(&mut rx, max, deadline, None, |_| true)? {
            Front::Whole(body) => {
                let msg = rx.bytes(body.clone()).to_vec();
                rx.consume_to(body.end);
                return Ok(msg);
            }
            Front::Direct { header, body, have } => (header, body, have),
        };
        // Receive the rest straight into the message, which grows with what arrives.
        let mut msg = Vec::with_capacity(body.min(EAGER.max(have)));
        msg.extend_from_slice(&rx.pending()[header..header + have]);
        rx.discard_pending();
        let fd = self.fd.as_fd();
        let result = self.read_direct(&mut rx, body - have, deadline, |fds, block| {
            let left = body - msg.len();
            if msg.capacity() == msg.len() {
                msg.reserve_exact(left.min(EAGER.max(msg.len())));
            }
            let room = left.min(msg.capacity() - msg.len());
            sysfd::recv_append(fd, &mut msg, room, fds, block)
        });
        match result {
            Ok(()) => Ok(msg),
            Err(e) => Err(put_back(&mut rx, body, &msg, e)),
        }
    }

    /// Receives one bytes message into `dest` and returns its length; a longer message is
    /// consumed and returned in [`Error::BufferTooShort`].
    pub(crate) fn recv_bytes_into(
        &self,
        dest: &mut [u8],
        max: u64,
        deadline: Deadline,
    ) -> Result<usize, Error> {
        let room = dest.len();
        let mut rx = self.lock_rx();
        let (header, body, have) =
            match self.front(&mut rx, max, deadline, None, |body| body <= room)? {
                Front::Whole(body) => {
                    let n = body.len();
                    let result = if n <= room {
                        dest[..n].copy_from_slice(rx.bytes(body.clone()));
                        Ok(n)
                    } else {
                        Err(Error::BufferTooShort(rx.bytes(body.clone()).to_vec()))
                    };
                    rx.consume_to(body.end);
                    return result;
                }
                Front::Direct { header, body, have } => (header, body, have),
            };
        let dest = &mut dest[..body];
        dest[..have].copy_from_slice(&rx.pending()[header..header + have]);
        rx.discard_pending();
        let fd = self.fd.as_fd();
        let mut got = have;
        let result = self.read_direct(&mut rx, body - have, deadline, |fds, block| {
            let n = sysfd::recv_blocking(fd, &mut dest[got..], fds, block)?;
            got += n;
            Ok(n)
        });
        match result {
            Ok(()) => Ok(body),
            Err(e) => Err(put_back(&mut rx, body, &dest[..got], e)),
        }
    }

    /// Receives one typed message if it has arrived whole, without waiting, not even for
    /// another thread's receive on this end (the async receive's step): `Ok(None)` if the
    /// message is not all there (what has arrived is kept for the next receive), `Err(Busy)`
    /// in the other's case.
    #[cfg(feature = "tokio")]
    pub(crate) fn recv_typed_now<T: DeserializeOwned>(
        &self,
        max: u64,
    ) -> Result<Option<T>, NowError> {
        let mut rx = self.try_lock_rx().ok_or(NowError::Busy)?;
        match self.front(&mut rx, max, Deadline::now(), None, |_| false) {
            Ok(Front::Whole(body)) => typed::decode(&mut rx, body)
                .map(Some)
                .map_err(NowError::Failed),
            Ok(Front::Direct { .. }) => unreachable!("typed messages are decoded from the buffer"),
            Err(Error::Timeout) => Ok(None),
            Err(e) => Err(NowError::Failed(e)),
        }
    }

    /// [`recv_typed_now`](Self::recv_typed_now) for a bytes message. The message gathers in
    /// this end's buffer as it arrives (a receive that waits reads a long one straight into
    /// its destination instead; an async receive cannot hold that destination between two
    /// steps).
    #[cfg(feature = "tokio")]
    pub(crate) fn recv_bytes_now(&self, max: u64) -> Result<Option<Vec<u8>>, NowError> {
        let mut rx = self.try_lock_rx().ok_or(NowError::Busy)?;
        match self.front(&mut rx, max, Deadline::now(), None, |_| false) {
            Ok(Front::Whole(body)) => {
                let msg = rx.bytes(body.clone()).to_vec();
                rx.consume_to(body.end);
                Ok(Some(msg))
            }
            Ok(Front::Direct { .. }) => unreachable!("no direct receive was accepted"),
            Err(Error::Timeout) => Ok(None),
            Err(e) => Err(NowError::Failed(e)),
        }
    }

    /// Waits until the front frame is whole in the buffer, or, if `direct` accepts its body
    /// length, until its header is known (then the caller receives the body itself).
    fn front(
        &self,
        rx: &mut Decoder,
        max: u64,
        deadline: Deadline,
        watch: Option<BorrowedFd<'_>>,
        direct: impl Fn(usize) -> bool,
    ) -> Result<Front, Error> {
        loop {
            match self.next(rx, max)? {
                Next::Frame(body) => return Ok(Front::Whole(body)),
                Next::Partial { header, body, have }
                    if !rx.at_eof()
                        && direct(body)
                        && (self.readers == Readers::Shared || body >= DIRECT_MIN) =>
                {
                    return Ok(Front::Direct { header, body, have });
                }
                Next::Partial { .. } | Next::Nothing => {
                    rx.end_of_stream()?;
                    self.fill(rx, deadline, watch)?;
                }
            }
        }
    }

    /// Whether a message (or the end of the stream) can be received now, waiting for one until
    /// `deadline`. On a shared socket nothing is read: a message counts once it has arrived
    /// whole, or its first [`READY_PART`] bytes have.
    pub(crate) fn poll(&self, max: u64, deadline: Deadline) -> Result<bool, Error> {
        let mut rx = self.lock_rx();
        match self.readers {
            Readers::Single => loop {
                if rx.ready(max) {
                    return Ok(true);
                }
                match self.fill(&mut rx, deadline, None) {
                    Ok(()) => {}
                    Err(Error::Timeout) => return Ok(false),
                    Err(e) => return Err(e),
                }
            },
            Readers::Shared => {
                let mut pause = PARTIAL_PAUSE.0;
                loop {
                    if self.peek_ready(&rx, max) {
                        return Ok(true);
                    }
                    if deadline.has_passed() {
                        return Ok(false);
                    }
                    let readable =
                        sysfd::poll(&[(self.fd.as_fd(), Interest::Read)], deadline.instant())
                            .map_err(Error::Io)?[0];
                    if readable && !self.peek_ready(&rx, max) {
                        // Part of a message is here and the rest is on its way: a readable
                        // socket would wake poll at once, so sleep a little instead.
                        let left = deadline.remaining().unwrap_or(pause);
                        std::thread::sleep(pause.min(left));
                        pause = (pause * 2).min(PARTIAL_PAUSE.1);
                    }
                }
            }
        }
    }

    /// Whether a receive would find a message (or the end) now, without waiting for the
    /// receive lock: another thread inside a receive counts as not ready.
    pub(crate) fn ready_now(&self, max: u64) -> bool {
        let Ok(mut rx) = self.rx.try_lock() else {
            return false;
        };
        match self.readers {
            Readers::Shared => self.peek_ready(&rx, max),
            Readers::Single => {
                if rx.ready(max) {
                    return true;
                }
                match self.fill(&mut rx, Deadline::now(), None) {
                    Ok(()) => rx.ready(max),
                    Err(Error::Timeout) => false,
                    Err(_) => true,
                }
            }
        }
    }

    /// Whether this end holds part of a message: unread bytes or descriptors in its buffer,
    /// or the unsent rest of a frame that an async send started.
    pub(crate) fn has_buffered(&self) -> bool {
        self.lock_rx().has_buffered()
            || self
                .tx
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .tail
                .is_some()
    }

    /// On a shared socket, whether the front message has arrived (see [`poll`](Self::poll)),
    /// or the stream has ended or failed (the receive reports that). Reads nothing.
    fn peek_ready(&self, rx: &Decoder, max: u64) -> bool {
        if rx.at_eof() || rx.is_broken() {
            return true;
        }
        let fd = self.fd.as_fd();
        // Any failure here is for the receive to report.
        let Ok(queued) = sysfd::bytes_queued(fd) else {
            return true;
        };
        // The header: what an interrupted receive kept, then what is queued.
        let held = rx.pending();
        let mut head = [0u8; MAX_HEADER];
        let mut known = held.len().min(MAX_HEADER);
        head[..known].copy_from_slice(&held[..known]);
        if known < MAX_HEADER {
            match sysfd::peek(fd, &mut head[known..]) {
                Ok(0) => return true,
                Ok(n) => known += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return true,
            }
        }
        let arrived = match frame::parse_header(&head[..known]) {
            Err(_) => true,
            Ok(None) => false,
            Ok(Some((_, body))) if body > max => true,
            Ok(Some((header, body))) => {
                (held.len() + queued) as u64 >= header as u64 + body || queued >= READY_PART
            }
        };
        // A message cut short by the end of the stream is ready too: as an error.
        arrived || (known > 0 && sysfd::peer_closed(fd).unwrap_or(true))
    }

    // ----- internals -----

    fn lock_rx(&self) -> MutexGuard<'_, Decoder> {
        self.rx.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The receive lock if no other thread holds it.
    #[cfg(feature = "tokio")]
    fn try_lock_rx(&self) -> Option<MutexGuard<'_, Decoder>> {
        match self.rx.try_lock() {
            Ok(rx) => Some(rx),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// [`Decoder::next`], closing the socket when the decoder refuses the stream.
    fn next(&self, rx: &mut Decoder, max: u64) -> Result<Next, Error> {
        rx.next(max).inspect_err(|e| {
            if matches!(e, Error::FrameTooLarge { .. } | Error::Corrupt(_)) {
                let _ = sysfd::shutdown(self.fd.as_fd());
            }
        })
    }

    /// Receives more of the stream into the decoder, waiting for something until `deadline`:
    /// exactly what the front frame lacks on a shared socket, at least [`READ_CHUNK`] for a
    /// single reader; never more than the growth rule allows.
    fn fill(
        &self,
        rx: &mut Decoder,
        deadline: Deadline,
        watch: Option<BorrowedFd<'_>>,
    ) -> Result<(), Error> {
        let want = match self.readers {
            Readers::Shared => rx.missing(),
            Readers::Single => rx.missing().max(READ_CHUNK),
        };
        debug_assert!(want > 0, "fill called with a whole frame buffered");
        let room = rx.make_room(want);
        let fd = self.fd.as_fd();
        let mut fds = Vec::new();
        let result = self.read_some(deadline, watch, &mut fds, |fds, block| {
            sysfd::recv_append(fd, rx.receive_into(), room, fds, block)
        });
        rx.add_fds(fds);
        match result {
            Ok(_) => Ok(()),
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
        deadline: Deadline,
        mut read: impl FnMut(&mut Vec<OwnedFd>, bool) -> io::Result<usize>,
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
        deadline: Deadline,
        watch: Option<BorrowedFd<'_>>,
        fds: &mut Vec<OwnedFd>,
        mut read: impl FnMut(&mut Vec<OwnedFd>, bool) -> io::Result<usize>,
    ) -> Result<usize, ReadFailure> {
        let block = deadline.is_never() && watch.is_none();
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
                        deadline.instant().map_or(s, |d| d.min(s))
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
        deadline: Deadline,
        watch: Option<BorrowedFd<'_>>,
    ) -> Result<Woke, Error> {
        let mut set = vec![(self.fd.as_fd(), interest)];
        if let Some(w) = watch {
            set.push((w, Interest::Read));
        }
        let ready = sysfd::poll(&set, deadline.instant()).map_err(Error::Io)?;
        if ready[0] {
            Ok(Woke::Ready)
        } else if ready.get(1).copied().unwrap_or(false) {
            Ok(Woke::Watched)
        } else if deadline.has_passed() {
            Err(Error::Timeout)
        } else {
            Ok(Woke::Ready)
        }
    }
}

impl AsFd for FramedStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
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

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN)
    )
}
