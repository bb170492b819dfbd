//! Words too long to send between processes: set aside by the workers, read back by the driver.
//!
//! A word of hundreds of megabytes (a file with no separators in it) would otherwise be held
//! by the worker that reads it, encoded into a message, received, decoded and merged: several
//! copies at once across the processes. Instead, a worker that meets a word longer than
//! [`SET_ASIDE_ABOVE`] bytes keeps only where it lies in its file and the SHA-256 of its bytes
//! (a [`LongWord`]), which is all it sends. The driver, which has to hold the word to print it,
//! reads it back from the file once however many times it was found, checks it against the
//! digest and the file's [`Stamp`](crate::Stamp), and lowercases it in place: one copy, in one
//! process.
//!
//! Only planned chunks of regular files set words aside (they can be read again, and their
//! stamp says whether they changed); inputs read once, such as pipes, are counted by the
//! driver itself and never cross a process boundary.

use std::io::{self, Read, Seek, SeekFrom};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    /// SHA-256 of its bytes as read ([`Checksum`]).
    pub(crate) digest: [u8; 32],
}

impl LongWord {
    /// What tells this word's bytes from another's: two words set aside with the same bytes
    /// are the same word, read back once.
    pub(crate) fn key(&self) -> (u64, [u8; 32]) {
        (self.end - self.start, self.digest)
    }
}

/// The SHA-256 of a word's bytes, fed in pieces of any size. A word is read back once
/// however many times it was set aside, so the digest must tell different words apart even
/// in a file made to collide: a cryptographic hash does (SHA-256 runs on the processor's SHA
/// instructions where it has them).
#[derive(Debug, Clone, Default)]
pub(crate) struct Checksum(Sha256);

impl Checksum {
    /// Adds `bytes` to the stream.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything added.
    pub(crate) fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }

    /// The digest of `bytes`.
    pub(crate) fn of(bytes: &[u8]) -> [u8; 32] {
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
    if Checksum::of(&bytes) != word.digest {
        return Err(changed(Change::Rewritten));
    }
    let text = String::from_utf8(bytes).map_err(|_| changed(Change::Rewritten))?;
    Ok(unicode::into_lower(text))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::counts::Counts;
    use crate::map::{count_chunk, read_chunk};
    use crate::plan::{PlanOptions, plan_with};

    /// Counts `path` in chunks of `chunk_size` bytes, setting aside the words longer than
    /// `limit` bytes and reading them back, as workers and the driver do.
    fn count_setting_aside(
        path: &std::path::Path,
        chunk_size: u64,
        limit: usize,
        lossy: bool,
    ) -> Result<Counts> {
        let mut total = Counts::new();
        for chunk in plan_with(&[path], &PlanOptions { chunk_size, lossy })? {
            let mut counts = Counts::new();
            for word in read_chunk(&chunk, &mut counts, Some(limit))? {
                assert!(word.end - word.start > limit as u64);
                counts.add_owned(read_back(&chunk, &word)?, 1);
            }
            total.merge_from(counts);
        }
        Ok(total)
    }

    fn text_with_long_words() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b" ".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"..".to_vec()),
            Just(b"\xff".to_vec()),
            Just(b"1".to_vec()),
            Just("ΣΑΣ ΟΔΟΣ Ⱥ".as_bytes().to_vec()),
            "[a-zA-Z]{1,40}".prop_map(String::into_bytes),
            "[a-zA-ZΣσςΑȺ]{1,40}".prop_map(String::into_bytes),
        ];
        proptest::collection::vec(piece, 0..60).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn words_set_aside_and_read_back_count_as_words_kept(
            bytes in text_with_long_words(),
            chunk_size in 1u64..200,
            limit in 0usize..24,
        ) {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("t.txt");
            std::fs::write(&path, &bytes).expect("write");
            for lossy in [false, true] {
                let whole = count_chunk(&Chunk { lossy, ..Chunk::whole(&path) });
                let aside = count_setting_aside(&path, chunk_size, limit, lossy);
                match (whole, aside) {
                    (Ok(w), Ok(a)) => prop_assert_eq!(w, a),
                    (Err(w), Err(a)) => prop_assert_eq!(w, a),
                    (w, a) => prop_assert!(false, "{w:?} but {a:?}"),
                }
            }
        }
    }

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
    }
}
