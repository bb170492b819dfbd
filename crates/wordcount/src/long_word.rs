//! Words too long to send between processes: set aside by the workers, read back by the driver.
//!
//! A word of hundreds of megabytes (a file with no separators in it) would otherwise be held
//! by the worker that reads it, encoded into a message, received, decoded and merged: several
//! copies at once across the processes. Instead, a worker that meets a word longer than
//! [`SET_ASIDE_ABOVE`] bytes keeps only where it lies in its file and a checksum of its bytes
//! (a [`LongWord`]), which is all it sends. The driver, which has to hold the word to print it,
//! reads it back from the file once, checks it against the checksum and the file's
//! [`Stamp`](crate::Stamp), and lowercases it in place: one copy, in one process.
//!
//! Only planned chunks of regular files set words aside (they can be read again, and their
//! stamp says whether they changed); inputs read once, such as pipes, are counted by the
//! driver itself and never cross a process boundary.

use std::io::{self, Read, Seek, SeekFrom};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoAction, Result};
use crate::plan::Chunk;
use crate::stamp::{Change, CheckedFile};
use crate::unicode;

/// Words longer than this many bytes are set aside by workers: 1 MiB.
pub(crate) const SET_ASIDE_ABOVE: usize = 1 << 20;

/// Where a word set aside lies in its file, and what its bytes were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LongWord {
    /// Offset of its first byte.
    pub(crate) start: u64,
    /// Offset just past its last byte.
    pub(crate) end: u64,
    /// [`Checksum`] of its bytes as read.
    pub(crate) checksum: u64,
}

/// A fast 64-bit checksum of a byte stream, fed in pieces of any size. It tells a word read
/// again from a file from the one first read; it is no defence against a forger (the file's
/// stamp is checked as well).
#[derive(Debug, Clone, Default)]
pub(crate) struct Checksum {
    state: u64,
    len: u64,
    /// Bytes not yet mixed in (fewer than 8).
    tail: [u8; 8],
    tail_len: usize,
}

const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

impl Checksum {
    /// Adds `bytes` to the stream.
    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(bytes.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&bytes[..take]);
            self.tail_len += take;
            bytes = &bytes[take..];
            if self.tail_len < 8 {
                return;
            }
            self.mix(u64::from_le_bytes(self.tail));
            self.tail_len = 0;
        }
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            self.mix(u64::from_le_bytes(a));
        }
        let rest = words.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    #[inline]
    fn mix(&mut self, w: u64) {
        self.state = (self.state ^ w).wrapping_mul(MUL).rotate_left(29);
    }

    /// The checksum of everything added.
    pub(crate) fn finish(&self) -> u64 {
        let mut last = [0u8; 8];
        last[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        let mut s = self.clone();
        s.mix(u64::from_le_bytes(last));
        s.mix(self.len);
        s.state ^ (s.state >> 32)
    }

    /// The checksum of `bytes`.
    pub(crate) fn of(bytes: &[u8]) -> u64 {
        let mut c = Checksum::default();
        c.update(bytes);
        c.finish()
    }
}

/// Reads a word that a worker set aside in `chunk` back from its file and lowercases it.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, and [`Error::Changed`] when it is not the file
/// the plan saw, unchanged, or when the word's bytes differ from those the worker read.
pub(crate) fn read_back(chunk: &Chunk, word: &LongWord) -> Result<String> {
    let path = &chunk.path;
    let changed = |change| Error::Changed {
        path: path.clone(),
        change,
    };
    let mut file = CheckedFile::open(path, chunk.planned)?;
    let len = usize::try_from(word.end - word.start).map_err(|_| {
        Error::io(
            path,
            IoAction::Read,
            &io::Error::from(io::ErrorKind::OutOfMemory),
        )
    })?;
    file.seek(SeekFrom::Start(word.start))
        .map_err(|e| Error::io(path, IoAction::Read, &e))?;
    // Zero-filled memory comes from the system untouched: only what is read in is resident.
    let mut bytes = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match file.read(&mut bytes[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, IoAction::Read, &e)),
        }
    }
    file.check()?;
    if got < len {
        return Err(changed(Change::EndedEarly {
            at: word.start + got as u64,
            expected: word.end,
        }));
    }
    if Checksum::of(&bytes) != word.checksum {
        return Err(changed(Change::Rewritten));
    }
    let text = String::from_utf8(bytes).map_err(|_| changed(Change::Rewritten))?;
    Ok(unicode::into_lower(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_does_not_depend_on_the_pieces() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = Checksum::of(&data);
        for piece in [1, 3, 7, 8, 9, 64, 999] {
            let mut c = Checksum::default();
            for p in data.chunks(piece) {
                c.update(p);
            }
            assert_eq!(c.finish(), whole, "pieces of {piece}");
        }
        let mut other = data.clone();
        other[500] ^= 1;
        assert_ne!(Checksum::of(&other), whole);
        assert_ne!(Checksum::of(&data[..999]), whole);
        assert_ne!(Checksum::of(b""), Checksum::of(b"\0"));
    }
}
