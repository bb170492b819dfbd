//! The map step: one chunk of a file → its word counts, read through a
//! bounded buffer and checked against the plan.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use crate::counts::Counts;
use crate::decode::{DecodeError, Decoder, incomplete_tail};
use crate::error::{Error, IoAction, Result};
use crate::long_word::LongWord;
use crate::plan::Chunk;
use crate::stamp::{Change, CheckedFile};
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
/// (map-side combining), so the result is bounded by the vocabulary. A chunk
/// without an end is read to the end of the file, whatever its size.
///
/// A planned chunk ([`Chunk::planned`]) is read only from the file the plan
/// saw, unchanged: it is checked when opened, when the reading goes past the
/// planned size, and at the end (the open file, and the file its path names
/// then). An unplanned regular file must not change while it is read.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be opened or read,
/// [`Error::Changed`] when it changed, and [`Error::InvalidUtf8`] at the
/// first invalid byte sequence unless the chunk is lossy.
pub fn count_chunk(chunk: &Chunk) -> Result<Counts> {
    let mut counts = Counts::new();
    count_chunk_into(chunk, &mut counts)?;
    Ok(counts)
}

/// [`count_chunk`], adding into existing counts (lets a worker combine all of
/// its chunks in one map). On error, `counts` holds part of the chunk.
pub fn count_chunk_into(chunk: &Chunk, counts: &mut Counts) -> Result<()> {
    read_chunk(chunk, counts, None).map(drop)
}

/// [`count_chunk_into`], setting aside the words longer than
/// `set_aside_above` bytes of a planned chunk (see [`crate::long_word`]);
/// returns them.
pub(crate) fn read_chunk(
    chunk: &Chunk,
    counts: &mut Counts,
    set_aside_above: Option<usize>,
) -> Result<Vec<LongWord>> {
    let path = &chunk.path;
    let mut file = CheckedFile::open(path, chunk.planned)?;
    if chunk.start > 0 {
        file.seek(SeekFrom::Start(chunk.start))
            .map_err(|e| Error::io(path, IoAction::Read, &e))?;
    }
    let mut tokenizer = Tokenizer::new();
    if let (Some(limit), Some(_)) = (set_aside_above, chunk.planned) {
        tokenizer.set_aside_above(limit);
    }
    let mut decoder = Decoder::new(chunk.lossy, chunk.start, tokenizer);
    let range = Range {
        start: chunk.start,
        end: chunk.end,
        seen: file.expected_size(),
    };
    let total = pump(&mut file, range, &mut decoder, counts, path)?;
    let set_aside = decoder.finish(counts);
    file.check()?;
    if let Some(end) = chunk.end
        && chunk.start + total < end
    {
        return Err(Error::Changed {
            path: path.clone(),
            change: Change::EndedEarly {
                at: chunk.start + total,
                expected: end,
            },
        });
    }
    Ok(set_aside)
}

/// Counts the words of a complete text (such as the embedded corpus).
pub fn count_text(text: &str) -> Counts {
    let mut counts = Counts::new();
    let mut tokenizer = Tokenizer::new();
    tokenizer.feed(text, &mut counts);
    tokenizer.finish(&mut counts);
    counts
}

/// What [`pump`] reads: bytes, and a check that they still come from the file as it was.
trait Input: Read {
    fn check(&self) -> Result<()>;
}

impl Input for CheckedFile<'_> {
    fn check(&self) -> Result<()> {
        CheckedFile::check(self)
    }
}

/// The bytes [`pump`] reads.
#[derive(Debug, Clone, Copy)]
struct Range {
    /// Offset of the first (where the input is).
    start: u64,
    /// Offset just past the last; `None`: to the end of the input.
    end: Option<u64>,
    /// The input's size when it was first seen, if it is a file.
    seen: Option<u64>,
}

/// Reads `range` of `input` through a buffer of [`READ_BUFFER_SIZE`] bytes
/// into `decoder`, and returns the number of bytes read (fewer than the range
/// when the input ends first).
///
/// Reading to the end goes past the size first seen only in a file that grew
/// (a change) or in one whose size is not its content's (a pseudo file,
/// which stays as it was): the input is checked the first time, so a file
/// that keeps growing is an error at once rather than a read without end.
fn pump<I: Input, S: WordSink>(
    input: &mut I,
    range: Range,
    decoder: &mut Decoder,
    sink: &mut S,
    path: &Path,
) -> Result<u64> {
    let mut buf = vec![0u8; READ_BUFFER_SIZE];
    let mut remaining = range
        .end
        .map_or(u64::MAX, |end| end.saturating_sub(range.start));
    let past_seen = range.seen.map(|size| size.saturating_sub(range.start));
    let mut checked_past = false;
    let mut total = 0u64;
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
                Err(e) => return Err(Error::io(path, IoAction::Read, &e)),
            }
        };
        remaining -= got as u64;
        total += got as u64;
        if range.end.is_none() && !checked_past && past_seen.is_some_and(|seen| total > seen) {
            checked_past = true;
            input.check()?;
        }
        let filled = carry + got;
        // At the end of the input, a cut character left over is invalid.
        let cut = if got == 0 {
            filled
        } else {
            filled - incomplete_tail(&buf[..filled])
        };
        if let Err(DecodeError::InvalidUtf8 { offset }) = decoder.decode(&buf[..cut], sink) {
            // Bytes that are not UTF-8 may be those of a file being rewritten.
            input.check()?;
            return Err(Error::InvalidUtf8 {
                path: path.to_owned(),
                offset,
            });
        }
        if got == 0 {
            return Ok(total);
        }
        buf.copy_within(cut..filled, 0);
        carry = filled - cut;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes in memory, one at a time: every character is cut by reads.
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

    impl Input for Trickle<'_> {
        fn check(&self) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn characters_cut_by_reads_are_joined() {
        let text = "Ωμέγα ΟΔΟΣ 中文 naïve\r\n.. skip\r\nend";
        let mut counts = Counts::new();
        let mut decoder = Decoder::new(false, 0, Tokenizer::new());
        let range = Range {
            start: 0,
            end: None,
            seen: None,
        };
        let total = pump(
            &mut Trickle(text.as_bytes()),
            range,
            &mut decoder,
            &mut counts,
            Path::new("trickle"),
        )
        .expect("valid UTF-8");
        decoder.finish(&mut counts);
        assert_eq!(total, text.len() as u64);
        assert_eq!(counts, count_text(text));
        assert_eq!(counts.get("οδος"), 1);
        assert_eq!(counts.get("skip"), 0);
    }
}
