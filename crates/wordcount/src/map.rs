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

    use std::fs;
    use std::time::{Duration, SystemTime};

    use crate::plan::{PlanOptions, plan_with};
    use crate::stamp::Stamp;

    fn planned(text: &str, chunk_size: u64) -> (tempfile::TempDir, Vec<Chunk>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.txt");
        fs::write(&path, text).expect("write");
        let options = PlanOptions {
            chunk_size,
            lossy: false,
        };
        let chunks = plan_with(&[&path], &options).expect("plan");
        (dir, chunks)
    }

    fn change_of(result: Result<Counts>) -> Change {
        match result {
            Err(Error::Changed { change, .. }) => change,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    const TEXT: &str = "one two three\nfour five six\nseven eight nine\n";

    #[test]
    fn a_file_changed_after_planning_is_not_counted() {
        let (_dir, chunks) = planned(TEXT, 10);
        assert_eq!(chunks.len(), 3);
        let path = &chunks[0].path;
        fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(20))
            .expect("truncate");
        for chunk in &chunks {
            assert_eq!(
                change_of(count_chunk(chunk)),
                Change::Resized { from: 45, to: 20 }
            );
        }

        let (_dir, chunks) = planned(TEXT, 1000);
        let path = &chunks[0].path;
        let f = fs::OpenOptions::new().write(true).open(path).expect("open");
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(7))
            .expect("set the modification time");
        assert_eq!(change_of(count_chunk(&chunks[0])), Change::Modified);

        let (dir, chunks) = planned(TEXT, 1000);
        let other = dir.path().join("other.txt");
        fs::write(&other, TEXT).expect("write");
        fs::rename(&other, &chunks[0].path).expect("rename");
        assert_eq!(change_of(count_chunk(&chunks[0])), Change::Replaced);
        fs::remove_file(&chunks[0].path).expect("remove");
        assert!(matches!(
            count_chunk(&chunks[0]),
            Err(Error::Io {
                action: IoAction::Open,
                ..
            })
        ));
    }

    /// A file that truncates itself after its first read: a change between two reads.
    struct TruncatedAfterFirstRead<'a> {
        file: CheckedFile<'a>,
        to: u64,
        reads: usize,
    }

    impl Read for TruncatedAfterFirstRead<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // Small reads, so that there is a second one.
            let n = buf.len().min(8);
            let got = self.file.read(&mut buf[..n])?;
            self.reads += 1;
            if self.reads == 1 {
                fs::OpenOptions::new()
                    .write(true)
                    .open(self.file.path())?
                    .set_len(self.to)?;
            }
            Ok(got)
        }
    }

    impl Input for TruncatedAfterFirstRead<'_> {
        fn check(&self) -> Result<()> {
            self.file.check()
        }
    }

    #[test]
    fn a_file_truncated_between_two_reads_is_not_counted() {
        for (chunk_size, to) in [(1000, 20), (1000, 0), (10, 20), (10, 5)] {
            let (_dir, chunks) = planned(TEXT, chunk_size);
            let chunk = &chunks[0];
            let mut input = TruncatedAfterFirstRead {
                file: CheckedFile::open(&chunk.path, chunk.planned).expect("open"),
                to,
                reads: 0,
            };
            let mut decoder = Decoder::new(false, 0, Tokenizer::new());
            let range = Range {
                start: 0,
                end: chunk.end,
                seen: input.file.expected_size(),
            };
            let mut counts = Counts::new();
            let read = pump(&mut input, range, &mut decoder, &mut counts, &chunk.path);
            // Either the reading itself fails, or the check after it.
            let outcome = read.and_then(|_| input.check()).map(|()| counts);
            assert_eq!(
                change_of(outcome),
                Change::Resized { from: 45, to },
                "chunks of {chunk_size}, cut to {to}"
            );
        }
    }

    #[test]
    fn a_file_that_grows_is_stopped_at_its_planned_size() {
        let (_dir, chunks) = planned(TEXT, 1000);
        let chunk = &chunks[0];
        let mut file = CheckedFile::open(&chunk.path, chunk.planned).expect("open");
        let mut big = fs::OpenOptions::new()
            .append(true)
            .open(&chunk.path)
            .expect("open");
        std::io::Write::write_all(&mut big, "more words\n".repeat(100_000).as_bytes())
            .expect("append");
        let mut decoder = Decoder::new(false, 0, Tokenizer::new());
        let range = Range {
            start: 0,
            end: None,
            seen: file.expected_size(),
        };
        let mut counts = Counts::new();
        let outcome =
            pump(&mut file, range, &mut decoder, &mut counts, &chunk.path).map(|_| counts);
        assert!(matches!(
            change_of(outcome),
            Change::Resized { from: 45, .. }
        ));
        // Stopped after one buffer, not at the end of the file.
        assert!(file.stream_position().expect("position") <= READ_BUFFER_SIZE as u64);
    }

    #[test]
    fn a_pseudo_file_is_read_past_its_size() {
        // stat gives /proc files size 0: a stamp that says so is no reason to stop.
        let path = std::path::Path::new("/proc/version");
        let stamp = Stamp::of(&fs::metadata(path).expect("stat /proc/version"));
        assert_eq!(stamp.size, 0);
        let chunk = Chunk {
            planned: Some(stamp),
            ..Chunk::whole(path)
        };
        let counts = count_chunk(&chunk).expect("a pseudo file is counted");
        assert!(counts.get("linux") >= 1, "{counts:?}");
        assert_eq!(counts, count_chunk(&Chunk::whole(path)).expect("read once"));
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
