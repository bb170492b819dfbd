//! Planning: input paths → chunks of work, byte ranges aligned to lines.
//!
//! The plan trusts `stat` for two things only: which paths are directories, and where a large
//! regular file may be cut. It never trusts a size to say where a file ends: the last chunk of
//! every file is read to the end of the file, so a file whose content is longer than its size
//! says (files under `/proc` give 0, those under `/sys` 4096) is counted whole. Each chunk of a
//! regular file carries the [`Stamp`] the plan saw, which its reader checks (see
//! [`crate::stamp`]).

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoAction, Result};
use crate::stamp::Stamp;

/// Default target size of a chunk: 4 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 4 << 20;

/// One unit of map work: a byte range of a file.
///
/// A chunk starts at the beginning of a line and ends at the end of one (just
/// after a `\n`, or after a `\r` not followed by `\n`), so every chunk can be
/// tokenized on its own and the counts of the chunks of a file add up to the
/// counts of the whole file. It carries everything the map step needs, so it
/// can be sent as is to another thread, process or machine (the path must
/// name the same file there).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Chunk {
    /// The file to read.
    #[serde(with = "crate::path_bytes")]
    pub path: PathBuf,
    /// Offset of the first byte.
    pub start: u64,
    /// Offset just past the last byte; `None` reads to the end of the file,
    /// whatever its size (the last chunk of every file, and inputs that are
    /// not planned).
    pub end: Option<u64>,
    /// The file as the plan saw it. The reader of a planned chunk checks that
    /// it opened that very file, unchanged, and that it still is after
    /// reading; any difference is [`Error::Changed`]. `None` for an input read
    /// once as it comes: a pipe, a device, or a file that `stat` called empty
    /// (as it calls every file under `/proc`), which is never cut.
    pub planned: Option<Stamp>,
    /// Replace invalid UTF-8 by U+FFFD (as Python's `errors='replace'`)
    /// instead of failing.
    pub lossy: bool,
}

impl Chunk {
    /// The whole of `path`, read once to its end, unplanned.
    pub fn whole(path: impl Into<PathBuf>) -> Self {
        Chunk {
            path: path.into(),
            start: 0,
            end: None,
            planned: None,
            lossy: false,
        }
    }

    /// Number of bytes in the chunk, when known: for the last chunk of a
    /// file, as far as the planned size.
    pub fn len(&self) -> Option<u64> {
        self.end
            .or(self.planned.map(|s| s.size))
            .map(|end| end.saturating_sub(self.start))
    }

    /// Whether the chunk is known to hold no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Whether it is an input read once as it comes, with nothing planned
    /// (see [`planned`](Chunk::planned)).
    pub fn reads_once(&self) -> bool {
        self.planned.is_none()
    }
}

/// How [`plan_with`] cuts inputs into chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// Target chunk size in bytes: files larger than this are split at the
    /// first line boundary at or after each multiple of it (so a chunk is at
    /// least this large, plus the rest of its last line). At least 1.
    pub chunk_size: u64,
    /// Sets [`Chunk::lossy`] on every chunk.
    pub lossy: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            lossy: false,
        }
    }
}

/// [`plan_with`] with the default options.
pub fn plan<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<Chunk>> {
    plan_with(paths, &PlanOptions::default())
}

/// Cuts the inputs into chunks.
///
/// Each path may be a file or a directory. Directories are walked
/// recursively, entries sorted by name, so the plan is deterministic; inside
/// them, symbolic links to files are followed, symbolic links to directories
/// are not (no cycles), and special files (pipes, sockets, devices) are
/// skipped. A path given explicitly that is neither a regular file nor a
/// directory (such as a pipe) becomes one unplanned chunk read to its end,
/// and so does a regular file that `stat` calls empty (it may be a pseudo
/// file, whose content `stat` does not measure). Other files are planned:
/// stamped, and cut at line ends when larger than the chunk size.
///
/// Fails on the first path that cannot be read or listed, before any
/// counting is done.
pub fn plan_with<P: AsRef<Path>>(paths: &[P], options: &PlanOptions) -> Result<Vec<Chunk>> {
    let mut inputs = Vec::new();
    for path in paths {
        collect(path.as_ref(), &mut inputs)?;
    }
    let chunk_size = options.chunk_size.max(1);
    let mut chunks = Vec::new();
    for input in inputs {
        match input {
            Input::Once(path) => chunks.push(Chunk {
                lossy: options.lossy,
                ..Chunk::whole(path)
            }),
            Input::File(path, stamp) => {
                split(&path, stamp, chunk_size, options.lossy, &mut chunks)?;
            }
        }
    }
    Ok(chunks)
}

enum Input {
    /// A regular file that `stat` gives a size, as stamped.
    File(PathBuf, Stamp),
    /// Anything else that can be read: read once, to its end.
    Once(PathBuf),
}

/// A regular file as an input.
fn file(path: PathBuf, meta: &fs::Metadata) -> Input {
    if meta.len() == 0 {
        Input::Once(path)
    } else {
        Input::File(path, Stamp::of(meta))
    }
}

fn collect(path: &Path, out: &mut Vec<Input>) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| Error::io(path, IoAction::Stat, &e))?;
    if meta.is_dir() {
        walk(path, out)
    } else if meta.is_file() {
        out.push(file(path.to_owned(), &meta));
        Ok(())
    } else {
        out.push(Input::Once(path.to_owned()));
        Ok(())
    }
}

fn walk(dir: &Path, out: &mut Vec<Input>) -> Result<()> {
    let list_err = |e: io::Error| Error::io(dir, IoAction::ListDirectory, &e);
    let mut entries = fs::read_dir(dir)
        .map_err(list_err)?
        .collect::<io::Result<Vec<_>>>()
        .map_err(list_err)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let stat_err = |e: io::Error| Error::io(&path, IoAction::Stat, &e);
        let file_type = entry.file_type().map_err(stat_err)?;
        if file_type.is_dir() {
            walk(&path, out)?;
        } else if file_type.is_file() {
            let meta = entry.metadata().map_err(stat_err)?;
            out.push(file(path, &meta));
        } else if file_type.is_symlink() {
            let meta = fs::metadata(&path).map_err(stat_err)?;
            if meta.is_file() {
                out.push(file(path, &meta));
            }
        }
    }
    Ok(())
}

/// Cuts a planned file: at line ends after each multiple of `chunk_size`, the last chunk open
/// to the end of the file.
fn split(
    path: &Path,
    stamp: Stamp,
    chunk_size: u64,
    lossy: bool,
    out: &mut Vec<Chunk>,
) -> Result<()> {
    let mut push = |start, end, stamp| {
        out.push(Chunk {
            path: path.to_owned(),
            start,
            end,
            planned: Some(stamp),
            lossy,
        });
    };
    if stamp.size <= chunk_size {
        push(0, None, stamp);
        return Ok(());
    }
    let mut file = File::open(path).map_err(|e| Error::io(path, IoAction::Open, &e))?;
    // The open file is the one the chunks are cut from: its stamp is the plan's.
    let stamp = Stamp::of(
        &file
            .metadata()
            .map_err(|e| Error::io(path, IoAction::Check, &e))?,
    );
    let mut start = 0;
    loop {
        let target = start + chunk_size;
        let end = if target < stamp.size {
            next_line_boundary(&mut file, target)
                .map_err(|e| Error::io(path, IoAction::Read, &e))?
                .filter(|&end| end < stamp.size)
        } else {
            None
        };
        push(start, end, stamp);
        match end {
            Some(end) => start = end,
            None => return Ok(()),
        }
    }
}

/// The first line boundary at or after `target` (with `0 < target`): the
/// offset just after a `\n`, or just after a `\r` that is not followed by
/// `\n`; `None` when the file ends first.
fn next_line_boundary(file: &mut File, target: u64) -> io::Result<Option<u64>> {
    let mut buf = vec![0u8; 64 << 10];
    // Start one byte early: a `\n` just before `target` makes `target` itself
    // a boundary.
    let mut pos = target - 1;
    file.seek(SeekFrom::Start(pos))?;
    let mut after_cr = false;
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(None);
        }
        let bytes = &buf[..n];
        if after_cr && bytes[0] != b'\n' {
            return Ok(Some(pos));
        }
        if let Some(k) = find_line_end(bytes) {
            let here = pos + k as u64;
            if bytes[k] == b'\n' {
                return Ok(Some(here + 1));
            }
            match bytes.get(k + 1) {
                Some(b'\n') => return Ok(Some(here + 2)),
                Some(_) => return Ok(Some(here + 1)),
                // A `\r` at the end of the buffer: the next byte decides.
                None => after_cr = true,
            }
        } else {
            after_cr = false;
        }
        pos += n as u64;
    }
}

/// The index of the first `\n` or `\r` of `bytes`, eight bytes at a time (a file of long
/// lines is scanned here, by the planning process, before any counting starts).
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Nonzero when a byte of `x` is `b` (exact for the lowest such byte).
    let has = |x: u64, b: u8| {
        let y = x ^ (ONES * u64::from(b));
        y.wrapping_sub(ONES) & !y & HIGHS
    };
    let is_end = |&b: &u8| b == b'\n' || b == b'\r';
    let mut words = bytes.chunks_exact(8);
    for (k, word) in (&mut words).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let x = u64::from_le_bytes(w);
        if has(x, b'\n') | has(x, b'\r') != 0 {
            return word.iter().position(is_end).map(|i| 8 * k + i);
        }
    }
    let done = bytes.len() - words.remainder().len();
    words.remainder().iter().position(is_end).map(|i| done + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cuts(content: &[u8], chunk_size: u64) -> Vec<(u64, u64)> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.txt");
        fs::write(&path, content).expect("write");
        let options = PlanOptions {
            chunk_size,
            lossy: false,
        };
        plan_with(&[&path], &options)
            .expect("plan")
            .iter()
            .map(|c| {
                let end = c.end.unwrap_or(content.len() as u64);
                assert!(c.planned.is_some_and(|s| s.size == content.len() as u64));
                (c.start, end)
            })
            .collect()
    }

    #[test]
    fn line_ends_are_found_anywhere() {
        for len in 0..40 {
            for at in 0..=len {
                for end in [b'\n', b'\r'] {
                    let mut bytes = vec![b'x'; len];
                    // Bytes that differ from a line end by one bit, before it.
                    for (i, b) in bytes.iter_mut().enumerate().take(at) {
                        *b = [0x0b, 0x0c, 0x8a, 0x8d, 0x00, 0xff][i % 6];
                    }
                    if at < len {
                        bytes[at] = end;
                    }
                    let expect = bytes.iter().position(|&b| b == b'\n' || b == b'\r');
                    assert_eq!(find_line_end(&bytes), expect, "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn splits_after_line_ends_only() {
        assert_eq!(cuts(b"ab\ncd\nef\n", 1), [(0, 3), (3, 6), (6, 9)]);
        assert_eq!(cuts(b"ab\ncd\nef\n", 3), [(0, 3), (3, 6), (6, 9)]);
        assert_eq!(cuts(b"ab\ncd\nef\n", 4), [(0, 6), (6, 9)]);
        assert_eq!(cuts(b"ab\r\ncd\r\n", 3), [(0, 4), (4, 8)]);
        assert_eq!(cuts(b"ab\rcd\ref", 2), [(0, 3), (3, 6), (6, 8)]);
        assert_eq!(cuts(b"abcdef", 2), [(0, 6)]);
        assert_eq!(cuts(b"\n\n\n", 1), [(0, 1), (1, 2), (2, 3)]);
        assert_eq!(cuts(b"abc", 0), [(0, 3)]);
    }

    #[test]
    fn the_last_chunk_reads_to_the_end_and_empty_files_are_read_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.txt");
        fs::write(&path, "ab\ncd\nef\n").expect("write");
        let options = PlanOptions {
            chunk_size: 4,
            lossy: true,
        };
        let chunks = plan_with(&[&path], &options).expect("plan");
        let ends: Vec<_> = chunks.iter().map(|c| (c.start, c.end)).collect();
        assert_eq!(ends, [(0, Some(6)), (6, None)]);
        assert_eq!(chunks[1].len(), Some(3));
        assert!(chunks.iter().all(|c| c.lossy && !c.reads_once()));

        let empty = dir.path().join("empty.txt");
        fs::write(&empty, "").expect("write");
        let chunks = plan_with(&[&empty], &options).expect("plan");
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].reads_once() && chunks[0].lossy);
        assert_eq!(
            (chunks[0].start, chunks[0].end, chunks[0].len()),
            (0, None, None)
        );
    }

    #[test]
    fn never_splits_a_crlf_or_a_character() {
        let text = "αβγ\r\nδ\r\n\r\nεζη\rθ\n".repeat(7);
        for size in 1..12 {
            let chunks = cuts(text.as_bytes(), size);
            let mut at = 0;
            for (start, end) in chunks {
                assert_eq!(start, at);
                assert!(end > start);
                let end = end as usize;
                assert!(text.is_char_boundary(end));
                assert!(
                    end == text.len()
                        || !text[..end].ends_with('\r')
                        || !text[end..].starts_with('\n')
                );
                assert!(text[..end].ends_with(['\n', '\r']));
                at = end as u64;
            }
            assert_eq!(at, text.len() as u64);
        }
    }

    #[test]
    fn walks_directories_sorted_and_reports_missing_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::create_dir_all(root.join("b/sub")).expect("mkdir");
        fs::write(root.join("b/sub/z.txt"), "z\n").expect("write");
        fs::write(root.join("b/a.txt"), "a\n").expect("write");
        fs::write(root.join("c.txt"), "c\n").expect("write");
        fs::write(root.join("a.txt"), "x\n").expect("write");
        let chunks = plan(&[root]).expect("plan");
        let names: Vec<_> = chunks
            .iter()
            .map(|c| c.path.strip_prefix(root).expect("prefix").to_owned())
            .collect();
        let expect: Vec<PathBuf> = ["a.txt", "b/a.txt", "b/sub/z.txt", "c.txt"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(names, expect);

        let missing = root.join("nope");
        let err = plan(&[&missing]).expect_err("missing path");
        assert_eq!(err.path(), missing);
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
