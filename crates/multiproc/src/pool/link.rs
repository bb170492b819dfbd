//! The byte link between the pool and one worker: typed frames over a Unix stream socket pair
//! that only these two processes read, with descriptors passed beside the bytes.
//!
//! A frame is a little-endian `u32` body length, a little-endian `u32` count of the descriptors
//! that travel with it, then the body (see [`crate::codec`]). Descriptors ride (`SCM_RIGHTS`)
//! on the frame's first bytes, so they always arrive no later than the frame's bytes.
//!
//! The two halves are separate so that each can be driven its own way. The pool's scheduler
//! never blocks on a worker: a [`Writer`] keeps what the socket did not take and sends it when
//! the socket has room, and a [`Reader`] takes what has arrived. A worker blocks on both.
//! Reads take everything available at once (many frames per system call): this is sound
//! because nobody else reads this socket. (Processes forked from the pool hold copies of its
//! descriptors, but never read them.)

use std::collections::VecDeque;
use std::io::{self, ErrorKind, IoSlice};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{self, DecodeError, EncodeError};
use crate::sys;

/// A frame's header: body length and descriptor count.
const HEADER: usize = 8;

/// Bytes asked of the kernel per read when nothing says more is coming.
const READ_CHUNK: usize = 64 * 1024;

/// The most bytes reserved at once for a large frame: memory grows with what arrives.
const GROW_STEP: usize = 1 << 20;

/// How long a blocking read keeps asking before it sleeps: a reply often comes within
/// microseconds, and sleeping and being woken costs more than asking again a little while.
const SPIN: Duration = Duration::from_micros(20);

/// Pauses between two asks while spinning.
const SPIN_PAUSES: u32 = 32;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    /// The frame arrived whole but its body is not the expected type.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The stream makes no sense: the peer is not speaking this protocol.
    #[error("corrupt stream: {0}")]
    Corrupt(&'static str),
}

/// The sending half: frames not yet taken by the socket.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
    /// Bytes of `buf` already sent.
    sent: usize,
    /// Descriptors and the offset in `buf` of the byte they ride on, in order.
    fds: VecDeque<(usize, Vec<OwnedFd>)>,
}

impl Writer {
    /// Appends one frame holding `msg`. On an error nothing is appended.
    pub(crate) fn push<T: Serialize + ?Sized>(&mut self, msg: &T) -> Result<(), EncodeError> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; HEADER]);
        let fds = match codec::encode_into(msg, &mut self.buf) {
            Ok(fds) => fds,
            Err(e) => {
                self.buf.truncate(start);
                return Err(e);
            }
        };
        let body = self.buf.len() - start - HEADER;
        // Each descriptor batch needs a byte of its own to ride on (see `write`).
        let batches = fds.len().div_ceil(sys::fd::MAX_FDS_PER_MSG);
        let (Ok(len), Ok(count)) = (u32::try_from(body), u32::try_from(fds.len())) else {
            self.buf.truncate(start);
            return Err(too_large::<T>("a message larger than 4 GiB"));
        };
        if batches > HEADER + body {
            self.buf.truncate(start);
            return Err(too_large::<T>("too many descriptors in one message"));
        }
        self.buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
        self.buf[start + 4..start + 8].copy_from_slice(&count.to_le_bytes());
        let mut fds = fds.into_iter();
        for k in 0..batches {
            let batch: Vec<OwnedFd> = fds.by_ref().take(sys::fd::MAX_FDS_PER_MSG).collect();
            self.fds.push_back((start + k, batch));
        }
        Ok(())
    }

    /// Whether everything pushed has been sent.
    pub(crate) fn is_empty(&self) -> bool {
        self.sent == self.buf.len()
    }

    /// Bytes pushed and not yet sent.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// Sends what the socket takes. Without `block`, returns `Ok(false)` when the socket is
    /// full and something is left; with it, returns once everything is sent. `Ok(true)` means
    /// everything is sent.
    pub(crate) fn write(&mut self, sock: BorrowedFd<'_>, block: bool) -> io::Result<bool> {
        while self.sent < self.buf.len() {
            // One send carries at most one descriptor batch, on its first byte, and stops
            // before the next batch's byte.
            let carries = self.fds.front().is_some_and(|(at, _)| *at == self.sent);
            let next_batch = self
                .fds
                .iter()
                .map(|(at, _)| *at)
                .find(|at| *at > self.sent)
                .unwrap_or(self.buf.len());
            let fds: Vec<BorrowedFd<'_>> = match self.fds.front() {
                Some((_, fds)) if carries => fds.iter().map(AsFd::as_fd).collect(),
                _ => Vec::new(),
            };
            let part = [IoSlice::new(&self.buf[self.sent..next_batch])];
            match sys::fd::send_msg(sock, &part, &fds, block) {
                Ok(n) => {
                    if n > 0 && carries {
                        self.fds.pop_front();
                    }
                    self.sent += n;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock && !block => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        self.buf.clear();
        self.sent = 0;
        Ok(true)
    }
}

fn too_large<T: ?Sized>(reason: &str) -> EncodeError {
    EncodeError {
        type_name: std::any::type_name::<T>(),
        reason: reason.to_owned(),
    }
}

/// The receiving half: bytes and descriptors received and not yet taken as frames.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    buf: Vec<u8>,
    /// Bytes of `buf` already taken.
    start: usize,
    fds: VecDeque<OwnedFd>,
    eof: bool,
}

impl Reader {
    /// Reads what the socket has. Without `block`, returns `Ok(0)` at once if it has nothing;
    /// with it, waits for something (spinning briefly first). `Ok(0)` with
    /// [`at_eof`](Reader::at_eof) means the peer closed its end.
    pub(crate) fn fill(&mut self, sock: BorrowedFd<'_>, block: bool) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        if self.start > 0 && (self.start == self.buf.len() || self.start >= READ_CHUNK) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let want = match self.frame_len() {
            // The rest of a large frame, in steps: memory grows with what arrives.
            Some(total) if total > self.available() => {
                (total - self.available()).clamp(READ_CHUNK, GROW_STEP)
            }
            _ => READ_CHUNK,
        };
        self.buf.reserve(want);
        let mut fds = Vec::new();
        let mut spin_until: Option<Instant> = None;
        let result = loop {
            let in_kernel = block && spin_until.is_some_and(|s| Instant::now() >= s);
            match sys::fd::recv_append(sock, &mut self.buf, want, &mut fds, in_kernel) {
                Ok(0) => {
                    self.eof = true;
                    break Ok(0);
                }
                Ok(n) => break Ok(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if !block {
                        break Ok(0);
                    }
                    spin_until.get_or_insert_with(|| Instant::now() + SPIN);
                    for _ in 0..SPIN_PAUSES {
                        std::hint::spin_loop();
                    }
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    self.eof = true;
                    break Ok(0);
                }
                Err(e) => break Err(e),
            }
        };
        self.fds.extend(fds);
        result
    }

    /// Whether the peer closed its end (everything it sent has been read).
    pub(crate) fn at_eof(&self) -> bool {
        self.eof
    }

    fn available(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The length of the frame at the front (header included), if its header has arrived.
    fn frame_len(&self) -> Option<usize> {
        let head = self.buf.get(self.start..self.start + HEADER)?;
        let len = u32::from_le_bytes(head[..4].try_into().expect("four bytes"));
        Some(HEADER + len as usize)
    }

    /// Whether a whole frame has arrived.
    pub(crate) fn has_frame(&self) -> bool {
        self.frame_len().is_some_and(|n| n <= self.available())
    }

    /// Takes the next frame, if it has arrived whole.
    pub(crate) fn next<T: DeserializeOwned>(&mut self) -> Option<Result<T, LinkError>> {
        let total = self.frame_len()?;
        if total > self.available() {
            return None;
        }
        let head = &self.buf[self.start..self.start + HEADER];
        let count = u32::from_le_bytes(head[4..].try_into().expect("four bytes")) as usize;
        if count > self.fds.len() {
            // Descriptors travel on a frame's first bytes: they cannot come after its end.
            return Some(Err(LinkError::Corrupt("a frame's descriptors are missing")));
        }
        let fds: Vec<OwnedFd> = self.fds.drain(..count).collect();
        let body = &self.buf[self.start + HEADER..self.start + total];
        let value = codec::decode(body, fds).map_err(LinkError::from);
        self.start += total;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Bytes, Fd};
    use std::io::{Read, Seek, Write};

    fn pair() -> (OwnedFd, OwnedFd) {
        sys::fd::socketpair().unwrap()
    }

    #[test]
    fn many_frames_in_one_read() {
        let (a, b) = pair();
        let mut w = Writer::default();
        for i in 0..100u32 {
            w.push(&(i, format!("message {i}"))).unwrap();
        }
        assert!(w.write(a.as_fd(), false).unwrap());
        assert!(w.is_empty());
        let mut r = Reader::default();
        let got = read_n::<(u32, String)>(b.as_fd(), &mut r, 100);
        assert_eq!(got[99], (99, "message 99".to_owned()));
        assert!(!r.has_frame());
    }

    /// Reads frames of type `T` until `n` have come.
    fn read_n<T: DeserializeOwned>(sock: BorrowedFd<'_>, r: &mut Reader, n: usize) -> Vec<T> {
        let mut out = Vec::new();
        while out.len() < n {
            while let Some(m) = r.next::<T>() {
                out.push(m.unwrap());
            }
            if out.len() < n {
                assert!(r.fill(sock, true).unwrap() > 0, "end of stream");
            }
        }
        out
    }

    #[test]
    fn a_full_socket_keeps_the_rest_for_later() {
        let (a, b) = pair();
        let mut w = Writer::default();
        w.push(&Bytes(vec![7u8; 4 << 20])).unwrap();
        w.push(&Bytes(vec![1])).unwrap();
        // Nobody reads yet: the socket takes part of it and the writer does not block.
        assert!(!w.write(a.as_fd(), false).unwrap());
        assert!(w.pending() > 0);
        let reader = std::thread::spawn(move || {
            let mut r = Reader::default();
            read_n::<Bytes>(b.as_fd(), &mut r, 2)
                .into_iter()
                .map(|b| b.0.len())
                .collect::<Vec<_>>()
        });
        assert!(w.write(a.as_fd(), true).unwrap());
        assert_eq!(reader.join().unwrap(), [4 << 20, 1]);
    }

    #[test]
    fn descriptors_arrive_with_their_frame() {
        let (a, b) = pair();
        let mut w = Writer::default();
        let mut files = Vec::new();
        for i in 0..3u8 {
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(&[i]).unwrap();
            files.push(Fd::from(f));
        }
        w.push(&Vec::<Fd>::new()).unwrap();
        w.push(&files).unwrap();
        w.push(&Vec::<Fd>::new()).unwrap();
        w.push(&files[..1]).unwrap();
        assert!(w.write(a.as_fd(), true).unwrap());
        let mut r = Reader::default();
        let frames = read_n::<Vec<Fd>>(b.as_fd(), &mut r, 4);
        let firsts: Vec<Vec<u8>> = frames
            .into_iter()
            .map(|fds| {
                fds.into_iter()
                    .map(|fd| {
                        let mut f = std::fs::File::from(fd);
                        f.rewind().unwrap();
                        let mut byte = [0u8];
                        f.read_exact(&mut byte).unwrap();
                        byte[0]
                    })
                    .collect()
            })
            .collect();
        assert_eq!(firsts, [vec![], vec![0, 1, 2], vec![], vec![0]]);
    }

    #[test]
    fn end_of_stream_and_garbage() {
        let (a, b) = pair();
        let mut w = Writer::default();
        w.push(&5u64).unwrap();
        w.write(a.as_fd(), true).unwrap();
        drop(a);
        let mut r = Reader::default();
        r.fill(b.as_fd(), true).unwrap();
        assert_eq!(r.next::<u64>().unwrap().unwrap(), 5);
        assert_eq!(r.fill(b.as_fd(), true).unwrap(), 0);
        assert!(r.at_eof());

        // A header that claims descriptors that never came.
        let (a, b) = pair();
        sys::fd::send_msg(
            a.as_fd(),
            &[IoSlice::new(&[1, 0, 0, 0, 2, 0, 0, 0, 9])],
            &[],
            true,
        )
        .unwrap();
        let mut r = Reader::default();
        r.fill(b.as_fd(), true).unwrap();
        assert!(matches!(r.next::<u8>(), Some(Err(LinkError::Corrupt(_)))));
    }

    #[test]
    fn a_huge_header_does_not_reserve_its_claim() {
        let (a, b) = pair();
        // Claims 4 GiB - 1 and sends 8 bytes of it.
        sys::fd::send_msg(
            a.as_fd(),
            &[IoSlice::new(&[
                0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 2, 3, 4,
            ])],
            &[],
            true,
        )
        .unwrap();
        let mut r = Reader::default();
        r.fill(b.as_fd(), true).unwrap();
        assert!(r.next::<u8>().is_none());
        r.fill(b.as_fd(), false).unwrap();
        assert!(r.buf.capacity() <= 2 * GROW_STEP + READ_CHUNK);
    }
}
