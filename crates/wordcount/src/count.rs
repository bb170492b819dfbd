//! The map step: one chunk → word counts, read as a stream.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use crate::chunk::Chunk;
use crate::counts::Counts;
use crate::error::{Error, IoAction, Result};
use crate::tokenize::{Tokenizer, WordSink};

/// Size of the read buffer of [`count_chunk`]: the most memory a chunk's
/// text takes at any time, whatever the size of the chunk.
pub const READ_BUFFER_SIZE: usize = 256 << 10;

/// The map step: reads `chunk` and counts its words.
///
/// The byte range is read as a stream through a buffer of
/// [`READ_BUFFER_SIZE`] bytes, decoded as UTF-8 (strictly, or replacing
/// invalid sequences by U+FFFD when [`Chunk::lossy`] is set) and tokenized
/// with the chapter's rules ([`Tokenizer`]). Words are counted as they come
/// (map-side combining), so the result is bounded by the vocabulary.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be opened or read, and
/// [`Error::InvalidUtf8`] at the first invalid byte sequence unless the
/// chunk is lossy.
pub fn count_chunk(chunk: &Chunk) -> Result<Counts> {
    let mut counts = Counts::new();
    count_chunk_into(chunk, &mut counts)?;
    Ok(counts)
}

/// [`count_chunk`], adding into existing counts (lets a worker combine all of
/// its chunks in one map). On error, `counts` holds part of the chunk.
pub fn count_chunk_into(chunk: &Chunk, counts: &mut Counts) -> Result<()> {
    let path = &chunk.path;
    let mut file = File::open(path).map_err(|e| Error::io(path, IoAction::Open, &e))?;
    if chunk.start > 0 {
        file.seek(SeekFrom::Start(chunk.start))
            .map_err(|e| Error::io(path, IoAction::Read, &e))?;
    }
    let mut reader = StreamDecoder::new(chunk.lossy, chunk.start);
    reader.run(file, chunk.len(), counts).map_err(|e| match e {
        DecodeError::Io(e) => Error::io(path, IoAction::Read, &e),
        DecodeError::InvalidUtf8 { offset } => Error::InvalidUtf8 {
            path: path.clone(),
            offset,
        },
    })
}

/// Counts the words of a complete text (such as the embedded corpus).
pub fn count_text(text: &str) -> Counts {
    let mut counts = Counts::new();
    let mut tokenizer = Tokenizer::new();
    tokenizer.feed(text, &mut counts);
    tokenizer.finish(&mut counts);
    counts
}

/// Counts the words of bytes in memory, decoding them as [`count_chunk`]
/// does; an invalid sequence's offset is relative to `bytes`.
pub fn count_bytes(bytes: &[u8], lossy: bool) -> std::result::Result<Counts, DecodeError> {
    let mut counts = Counts::new();
    StreamDecoder::new(lossy, 0).run(bytes, Some(bytes.len() as u64), &mut counts)?;
    Ok(counts)
}

/// Why [`count_bytes`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// Invalid UTF-8 at this offset.
    #[error("invalid UTF-8 at byte offset {offset}")]
    InvalidUtf8 {
        /// Offset of the first byte of the invalid sequence.
        offset: u64,
    },
}

/// Reads bytes in bounded pieces, decodes them and feeds the tokenizer.
struct StreamDecoder {
    lossy: bool,
    /// Offset of the next byte to read, for error messages.
    offset: u64,
    tokenizer: Tokenizer,
}

impl StreamDecoder {
    fn new(lossy: bool, offset: u64) -> Self {
        StreamDecoder {
            lossy,
            offset,
            tokenizer: Tokenizer::new(),
        }
    }

    /// Reads up to `limit` bytes (all of them when `None`) from `input`.
    fn run<R: Read, S: WordSink>(
        &mut self,
        mut input: R,
        limit: Option<u64>,
        sink: &mut S,
    ) -> std::result::Result<(), DecodeError> {
        let mut buf = vec![0u8; READ_BUFFER_SIZE];
        let mut remaining = limit.unwrap_or(u64::MAX);
        // buf[..carry] holds the start of a character cut by the last read.
        let mut carry = 0;
        loop {
            let room = buf.len() - carry;
            let want = usize::try_from(remaining).map_or(room, |r| r.min(room));
            let got = if want == 0 {
                0
            } else {
                match input.read(&mut buf[carry..carry + want]) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            remaining -= got as u64;
            let filled = carry + got;
            if got == 0 {
                // End of input: a cut character left over is invalid.
                self.decode(&buf[..filled], sink)?;
                self.tokenizer.finish(sink);
                return Ok(());
            }
            let cut = filled - incomplete_tail(&buf[..filled]);
            self.decode(&buf[..cut], sink)?;
            buf.copy_within(cut..filled, 0);
            carry = filled - cut;
        }
    }

    /// Decodes and tokenizes bytes that end at a character boundary, or at
    /// the end of the input.
    fn decode<S: WordSink>(
        &mut self,
        bytes: &[u8],
        sink: &mut S,
    ) -> std::result::Result<(), DecodeError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.tokenizer.feed(text, sink),
            Err(e) if !self.lossy => {
                return Err(DecodeError::InvalidUtf8 {
                    offset: self.offset + e.valid_up_to() as u64,
                });
            }
            Err(_) => {
                // Same replacement policy as Python's errors='replace': one
                // U+FFFD per maximal invalid subsequence.
                for piece in bytes.utf8_chunks() {
                    self.tokenizer.feed(piece.valid(), sink);
                    if !piece.invalid().is_empty() {
                        self.tokenizer.feed("\u{fffd}", sink);
                    }
                }
            }
        }
        self.offset += bytes.len() as u64;
        Ok(())
    }
}

/// Length of the start of a multi-byte character at the end of `bytes` that
/// needs more bytes to be complete (0 when the last character is complete or
/// the tail is invalid anyway).
fn incomplete_tail(bytes: &[u8]) -> usize {
    let n = bytes.len();
    for k in 1..=n.min(3) {
        let b = bytes[n - k];
        if b & 0xc0 != 0x80 {
            let needed = match b {
                0xc2..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf4 => 4,
                _ => return 0,
            };
            return if needed > k { k } else { 0 };
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_tails() {
        assert_eq!(incomplete_tail(b""), 0);
        assert_eq!(incomplete_tail(b"ab"), 0);
        assert_eq!(incomplete_tail("é".as_bytes()), 0);
        assert_eq!(incomplete_tail(&"é".as_bytes()[..1]), 1);
        assert_eq!(incomplete_tail(&"中".as_bytes()[..2]), 2);
        assert_eq!(incomplete_tail(&"𝔸".as_bytes()[..3]), 3);
        assert_eq!(incomplete_tail(b"a\xff"), 0);
        assert_eq!(incomplete_tail(b"\x80\x80\x80"), 0);
    }

    #[test]
    fn strict_decoding_reports_the_offset() {
        match count_bytes(b"fine words\nbad \xff here", false) {
            Err(DecodeError::InvalidUtf8 { offset }) => assert_eq!(offset, 15),
            other => panic!("expected an error, got {other:?}"),
        }
        let counts = count_bytes(b"fine words\nbad \xff here", true).expect("lossy");
        assert_eq!(counts.get("fine"), 1);
        assert_eq!(counts.get("here"), 1);
        assert_eq!(counts.len(), 4);
        let counts = count_bytes(b"caf\xc3\xa9 caf\xff\xa9 x\xe2\x80", true).expect("lossy");
        assert_eq!(counts.into_sorted(), [("café".to_owned(), 1)]);
    }

    #[test]
    fn characters_cut_by_reads_are_joined() {
        // A reader that returns one byte at a time.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match (self.0.split_first(), buf.first_mut()) {
                    (Some((&b, rest)), Some(slot)) => {
                        *slot = b;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let text = "Ωμέγα ΟΔΟΣ 中文 naïve\r\n.. skip\r\nend";
        let mut counts = Counts::new();
        StreamDecoder::new(false, 0)
            .run(Trickle(text.as_bytes()), None, &mut counts)
            .expect("valid UTF-8");
        assert_eq!(counts, count_text(text));
        assert_eq!(counts.get("οδος"), 1);
        assert_eq!(counts.get("skip"), 0);
    }
}
