//! The wire format: CPython's frame header, and the [`Decoder`] that cuts a received byte
//! stream into frames.
//!
//! A frame is a 4-byte big-endian signed length and that many bytes. A length of `-1` is
//! followed by an 8-byte big-endian unsigned length, for bodies over `i32::MAX` bytes. Any other
//! negative length is corrupt.
//!
//! The decoder's memory grows with the bytes actually received, never with what a header
//! announces: a frame's buffer starts at [`EAGER`] bytes at most and at most doubles with each
//! read, so a peer that announces 4 GiB and sends 12 bytes costs a megabyte, not 4 GiB. A header
//! that claims more than the connection's limit is refused outright.
//!
//! How much to read next is the reader's choice ([`Decoder::missing`]): a stream that other
//! processes may also read is read exactly frame by frame, so that no process ever holds bytes
//! of a message it does not return; a stream with a single reader may read ahead.

use std::collections::VecDeque;
use std::ops::Range;
use std::os::fd::OwnedFd;

use super::Error;

/// The longest header: `-1` and a u64.
pub(crate) const MAX_HEADER: usize = 12;

/// How much a frame's buffer may hold before any of its body has arrived; past this, the buffer
/// grows by at most what it already holds with each read.
pub(crate) const EAGER: usize = 1 << 20;

/// The smallest buffer allocated, so that small frames of varied sizes do not each reallocate.
const MIN_BUFFER: usize = 4096;

/// A buffer larger than this is given back once it is empty.
const KEEP_BUFFER: usize = 4 << 20;

/// Writes a header for a body of `len` bytes at the end of `out`, and returns where it starts.
///
/// `out` must hold at least [`MAX_HEADER`] bytes.
pub(crate) fn write_header(out: &mut [u8], len: u64) -> usize {
    let end = out.len();
    if len <= i32::MAX as u64 {
        out[end - 4..].copy_from_slice(&(len as i32).to_be_bytes());
        end - 4
    } else {
        out[end - 12..end - 8].copy_from_slice(&(-1i32).to_be_bytes());
        out[end - 8..].copy_from_slice(&len.to_be_bytes());
        end - 12
    }
}

/// Parses a header: `Ok(Some((header_len, body_len)))`, `Ok(None)` if more bytes are needed, or
/// an error for a header that no sender writes.
pub(crate) fn parse_header(buf: &[u8]) -> Result<Option<(usize, u64)>, String> {
    let Some(first) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let n = i32::from_be_bytes(*first);
    if n >= 0 {
        return Ok(Some((4, n as u64)));
    }
    if n != -1 {
        return Err(format!("negative frame length {n}"));
    }
    match buf[4..].first_chunk::<8>() {
        Some(len) => Ok(Some((12, u64::from_be_bytes(*len)))),
        None => Ok(None),
    }
}

/// How many bytes the frame that starts `buf` still needs: the rest of its header, or the rest
/// of its body (0 once it is whole). A corrupt header needs nothing more: it is refused as soon
/// as it is looked at.
pub(crate) fn missing(buf: &[u8]) -> u64 {
    match parse_header(buf) {
        Ok(Some((header, body))) => (header as u64 + body).saturating_sub(buf.len() as u64),
        Ok(None) if buf.len() >= 4 => (MAX_HEADER - buf.len()) as u64,
        Ok(None) => (4 - buf.len()) as u64,
        Err(_) => 0,
    }
}

/// What the decoder holds at its front.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// A whole frame; its body is at this range of [`Decoder::bytes`].
    Frame(Range<usize>),
    /// A header announcing a body of `body` bytes, of which `have` are buffered.
    Partial {
        /// The header's length.
        header: usize,
        /// The body's announced length.
        body: usize,
        /// How many body bytes are buffered.
        have: usize,
    },
    /// Not even a whole header.
    Nothing,
}

/// Bytes and descriptors received but not consumed yet.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    /// Received bytes; the unconsumed ones are `buf[start..]`. Only ever appended to, through
    /// [`receive_into`](Decoder::receive_into) or [`feed`](Decoder::feed).
    buf: Vec<u8>,
    start: usize,
    fds: VecDeque<OwnedFd>,
    eof: bool,
    broken: Option<String>,
}

impl Decoder {
    /// Looks at the front of the stream. An oversized or corrupt header breaks the decoder for
    /// good (the caller should close the socket): later calls fail with [`Error::Broken`].
    pub(crate) fn next(&mut self, max_frame: u64) -> Result<Next, Error> {
        if let Some(why) = &self.broken {
            return Err(Error::Broken(why.clone()));
        }
        let (header, body) = match parse_header(self.pending()) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(Next::Nothing),
            Err(why) => {
                self.break_with(why.clone());
                return Err(Error::Corrupt(why));
            }
        };
        if body > max_frame {
            self.break_with(format!(
                "incoming frame of {body} bytes exceeds the limit of {max_frame}"
            ));
            return Err(Error::FrameTooLarge {
                size: body,
                max: max_frame,
            });
        }
        let body = usize::try_from(body).map_err(|_| Error::FrameTooLarge {
            size: body,
            max: usize::MAX as u64,
        })?;
        let have = self.pending().len() - header;
        if have >= body {
            let s = self.start + header;
            Ok(Next::Frame(s..s + body))
        } else {
            Ok(Next::Partial { header, body, have })
        }
    }

    /// The next frame if it is whole, else why not: end of stream (`Disconnected` or
    /// `Truncated`) or `Ok(None)` when more bytes are needed.
    pub(crate) fn next_frame(&mut self, max_frame: u64) -> Result<Option<Range<usize>>, Error> {
        match self.next(max_frame)? {
            Next::Frame(r) => Ok(Some(r)),
            Next::Partial { .. } | Next::Nothing => {
                self.end_of_stream()?;
                Ok(None)
            }
        }
    }

    /// Whether a whole frame, the end of the stream or an error is waiting.
    pub(crate) fn ready(&mut self, max_frame: u64) -> bool {
        self.eof
            || !matches!(
                self.next(max_frame),
                Ok(Next::Partial { .. } | Next::Nothing)
            )
    }

    /// At the end of the stream, the error that ends the receive: `Disconnected` between
    /// frames, `Truncated` inside one.
    pub(crate) fn end_of_stream(&self) -> Result<(), Error> {
        match (self.eof, self.pending().is_empty()) {
            (true, true) => Err(Error::Disconnected),
            (true, false) => Err(Error::Truncated),
            _ => Ok(()),
        }
    }

    fn break_with(&mut self, why: String) {
        self.broken = Some(why);
        self.buf = Vec::new();
        self.start = 0;
        self.fds.clear();
    }

    /// Whether an earlier error broke the stream.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// The buffered bytes `range` (from [`Next::Frame`]).
    pub(crate) fn bytes(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// The unconsumed bytes.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// How many bytes the frame at the front still needs (see [`missing`]).
    pub(crate) fn missing(&self) -> usize {
        usize::try_from(missing(self.pending())).unwrap_or(usize::MAX)
    }

    /// Marks everything before `end` (an index into the buffer) as consumed.
    pub(crate) fn consume_to(&mut self, end: usize) {
        debug_assert!(end >= self.start && end <= self.buf.len());
        self.start = end;
        if self.start == self.buf.len() {
            self.start = 0;
            if self.buf.capacity() > KEEP_BUFFER {
                self.buf = Vec::new();
            } else {
                self.buf.clear();
            }
        }
    }

    /// Drops every unconsumed byte (they were copied elsewhere).
    pub(crate) fn discard_pending(&mut self) {
        self.consume_to(self.buf.len());
    }

    /// Takes the `n` descriptors that came with the frame just consumed.
    pub(crate) fn take_fds(&mut self, n: usize) -> Result<Vec<OwnedFd>, Error> {
        if self.fds.len() < n {
            return Err(Error::Corrupt(format!(
                "message announces {n} descriptors but {} arrived",
                self.fds.len()
            )));
        }
        Ok(self.fds.drain(..n).collect())
    }

    /// Whether anything (bytes or descriptors) is buffered.
    pub(crate) fn has_buffered(&self) -> bool {
        !self.pending().is_empty() || !self.fds.is_empty()
    }

    /// Whether the stream has ended.
    pub(crate) fn at_eof(&self) -> bool {
        self.eof
    }

    /// Makes room to receive up to `want` more bytes and returns how many may be received now:
    /// `want`, but no more than [`EAGER`] or what is already held, whichever is larger, so that
    /// the buffer at most doubles with each read.
    pub(crate) fn make_room(&mut self, want: usize) -> usize {
        if self.start == self.buf.len() {
            self.start = 0;
            self.buf.clear();
        }
        let n = want.min(EAGER.max(self.pending().len()));
        if self.buf.capacity() - self.buf.len() < n {
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let target = (self.buf.len() + n).max(MIN_BUFFER);
            self.buf.reserve_exact(target - self.buf.len());
        }
        n
    }

    /// The buffer, for a receive to append up to [`make_room`](Self::make_room)'s count to.
    pub(crate) fn receive_into(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// The bytes the buffer holds room for (to check the growth rule).
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Records descriptors that arrived with received bytes.
    pub(crate) fn add_fds(&mut self, fds: Vec<OwnedFd>) {
        self.fds.extend(fds);
    }

    /// Records the end of the stream.
    pub(crate) fn set_eof(&mut self) {
        self.eof = true;
    }

    /// Appends `data` as if received (for bytes put back after a failed direct read, tests and
    /// fuzzing).
    pub(crate) fn feed(&mut self, data: &[u8]) {
        if self.start == self.buf.len() {
            self.start = 0;
            self.buf.clear();
        }
        self.buf.extend_from_slice(data);
    }
}

/// Feeds arbitrary bytes to a decoder as reads of a size chosen by the first byte, the way
/// both kinds of reader do (exact reads, and read-ahead), and takes every frame it yields,
/// decoding each as a typed message. Whatever the input, the decoder reports errors and never
/// panics, its memory stays within the growth rule, and an exact reader never holds a byte past
/// the frame at its front (the fuzz target and the property tests).
pub(crate) fn exercise(data: &[u8]) {
    const MAX: u64 = 1 << 16;
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    let step = usize::from(cut >> 1).max(1);
    let exact = cut & 1 == 0;
    let mut d = Decoder::default();
    let mut input = data;
    loop {
        while let Ok(Some(body)) = d.next_frame(MAX) {
            let _ = super::typed::decode::<(u32, String, Vec<u8>)>(&mut d, body);
        }
        if d.is_broken() || d.at_eof() {
            break;
        }
        if input.is_empty() {
            d.set_eof();
            continue;
        }
        let want = if exact {
            d.missing()
        } else {
            d.missing().max(step)
        };
        let n = d.make_room(want).min(step).min(input.len());
        assert!(d.capacity() - d.buf.len() >= n);
        let held = d.pending().len();
        d.receive_into().extend_from_slice(&input[..n]);
        input = &input[n..];
        assert!(
            d.capacity() <= (2 * held + EAGER).max(MIN_BUFFER),
            "a buffer of {} for {held} bytes held",
            d.capacity()
        );
        if exact {
            // Never a byte past the frame in front.
            let held = d.pending();
            match parse_header(held) {
                Ok(Some((header, body))) => assert!(held.len() as u64 <= header as u64 + body),
                _ => assert!(held.len() <= MAX_HEADER),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_cpython() {
        let mut h = [0u8; MAX_HEADER];
        let s = write_header(&mut h, 5);
        assert_eq!(&h[s..], &[0, 0, 0, 5]);
        let s = write_header(&mut h, 0x8000_0000);
        assert_eq!(
            &h[s..],
            &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0]
        );
        assert_eq!(parse_header(&h[s..]).unwrap(), Some((12, 0x8000_0000)));
        assert!(parse_header(&[0xff, 0xff, 0xff, 0xfe]).is_err());
        assert_eq!(parse_header(&[0xff, 0xff, 0xff, 0xff, 0]).unwrap(), None);
    }

    #[test]
    fn frames_split_across_reads() {
        let mut d = Decoder::default();
        d.feed(&[0, 0, 0]);
        assert_eq!(d.next_frame(100).unwrap(), None);
        d.feed(&[3, b'a', b'b']);
        assert_eq!(d.next_frame(100).unwrap(), None);
        d.feed(&[b'c', 0, 0, 0, 0]);
        let r = d.next_frame(100).unwrap().unwrap();
        assert_eq!(d.bytes(r.clone()), b"abc");
        d.consume_to(r.end);
        let r = d.next_frame(100).unwrap().unwrap();
        assert!(r.is_empty());
        d.consume_to(r.end);
        assert!(!d.has_buffered());
        d.set_eof();
        assert!(matches!(d.next_frame(100), Err(Error::Disconnected)));
    }

    #[test]
    fn oversized_header_breaks_without_reserving() {
        let mut d = Decoder::default();
        d.feed(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(
            d.next_frame(1024),
            Err(Error::FrameTooLarge {
                size: 0x7fff_ffff,
                max: 1024
            })
        ));
        assert!(d.buf.capacity() < 1 << 20);
        assert!(matches!(d.next_frame(1024), Err(Error::Broken(_))));
    }

    #[test]
    fn memory_grows_with_the_bytes_not_the_header() {
        let mut d = Decoder::default();
        // A 4 GiB frame, and the bytes that really come, read as an exact reader would.
        d.feed(&(-1i32).to_be_bytes());
        d.feed(&(4u64 << 30).to_be_bytes());
        assert!(matches!(
            d.next(u64::MAX),
            Ok(Next::Partial { have: 0, .. })
        ));
        let mut received = 0usize;
        for _ in 0..5 {
            let want = d.missing();
            assert_eq!(want as u64, (4 << 30) - received as u64);
            let n = d.make_room(want);
            assert!(n <= EAGER.max(received + MAX_HEADER));
            let buf = d.receive_into();
            buf.resize(buf.len() + n, 7);
            received += n;
            assert!(d.capacity() <= 2 * (received + MAX_HEADER) + MIN_BUFFER);
        }
        // Five reads: 1 MiB, then doubling.
        assert_eq!(received + MAX_HEADER, 16 * (EAGER + MAX_HEADER));
        d.set_eof();
        assert!(matches!(d.next_frame(u64::MAX), Err(Error::Truncated)));
    }

    #[test]
    fn missing_counts_header_then_body() {
        assert_eq!(missing(&[]), 4);
        assert_eq!(missing(&[0, 0]), 2);
        assert_eq!(missing(&[0, 0, 0, 3]), 3);
        assert_eq!(missing(&[0, 0, 0, 3, 1, 2, 3]), 0);
        assert_eq!(missing(&[0xff, 0xff, 0xff, 0xff]), 8);
        assert_eq!(
            missing(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 9]),
            9
        );
        assert_eq!(missing(&[0xff, 0xff, 0xff, 0xfe]), 0);
    }

    #[test]
    fn truncated_at_eof() {
        let mut d = Decoder::default();
        d.feed(&[0, 0, 0, 9, 1]);
        d.set_eof();
        assert!(matches!(d.next_frame(100), Err(Error::Truncated)));
    }

    use proptest::collection::vec;
    use proptest::prelude::*;

    /// A stream of frames holding `msgs`, some headers in the long (`-1`) form.
    fn stream(msgs: &[Vec<u8>], long: &[bool]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            if long.get(i).copied().unwrap_or(false) {
                out.extend_from_slice(&(-1i32).to_be_bytes());
                out.extend_from_slice(&(m.len() as u64).to_be_bytes());
            } else {
                let mut h = [0u8; MAX_HEADER];
                let s = write_header(&mut h, m.len() as u64);
                out.extend_from_slice(&h[s..]);
            }
            out.extend_from_slice(m);
        }
        out
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..4096)) {
            exercise(&data);
        }

        #[test]
        fn frames_come_back_whatever_the_reads(
            msgs in vec(vec(any::<u8>(), 0..600), 0..16),
            long in vec(any::<bool>(), 16),
            cut in 1usize..97,
        ) {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for chunk in stream(&msgs, &long).chunks(cut) {
                d.feed(chunk);
                while let Some(r) = d.next_frame(1 << 20).unwrap() {
                    got.push(d.bytes(r.clone()).to_vec());
                    d.consume_to(r.end);
                }
            }
            d.set_eof();
            prop_assert!(matches!(d.next_frame(1 << 20), Err(Error::Disconnected)));
            prop_assert_eq!(got, msgs);
        }

        #[test]
        fn a_cut_stream_ends_in_an_error_not_a_panic(
            msgs in vec(vec(any::<u8>(), 0..200), 1..8),
            keep in any::<prop::sample::Index>(),
        ) {
            let full = stream(&msgs, &[]);
            let kept = keep.index(full.len());
            let mut d = Decoder::default();
            d.feed(&full[..kept]);
            d.set_eof();
            let mut n = 0;
            let end = loop {
                match d.next_frame(1 << 20) {
                    Ok(Some(r)) => {
                        prop_assert_eq!(d.bytes(r.clone()), &msgs[n][..]);
                        d.consume_to(r.end);
                        n += 1;
                    }
                    Ok(None) => unreachable!("at end of stream the decoder always decides"),
                    Err(e) => break e,
                }
            };
            prop_assert!(matches!(end, Error::Truncated | Error::Disconnected));
            prop_assert!(n < msgs.len());
        }

        #[test]
        fn oversized_frames_are_refused_before_allocation(len in 1025u64..u64::MAX) {
            let mut d = Decoder::default();
            d.feed(&(-1i32).to_be_bytes());
            d.feed(&len.to_be_bytes());
            let refused = matches!(d.next_frame(1024), Err(Error::FrameTooLarge { .. }));
            prop_assert!(refused);
            prop_assert!(d.capacity() <= MIN_BUFFER);
        }
    }
}
