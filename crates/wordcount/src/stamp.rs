//! What a reader checks a file against: the inode, size and times the plan saw.
//!
//! A plan cuts a file into byte ranges from its size and its line ends, and those ranges mean
//! nothing once the file has changed: a range read after a truncation comes up short, one read
//! after an append misses the new end, one read from a file put in place by a rename belongs to
//! another file. Counts made of such pieces are the counts of no version of the file. So the
//! plan records a [`Stamp`] of every file it cuts, and whoever reads a piece compares the file
//! it opened with it before reading, compares the open file again after reading, and looks the
//! path up once more to see that it still names that file. Any difference is an
//! [`Error::Changed`](crate::Error::Changed), never counts.
//!
//! The times are compared to the nanosecond. The status-change time (`ctime`) is set by the
//! kernel on every write, truncation, rename onto the file or change of its attributes, and
//! cannot be set back by a program (unlike the modification time, which `touch` and `cp -p`
//! set). What cannot be seen is a change that keeps the size and falls within the same tick of
//! the file system's clock as the plan's look at the file.

use std::fmt;
use std::fs::{self, File, Metadata};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoAction, Result};

/// A file as seen by `stat`: which file it is (its inode number), its size, and its
/// modification and status-change times.
///
/// The device number is left out: it is this machine's name for a mount, and a node of a
/// cluster numbers the same shared file system its own way. An inode number that another
/// file on another file system happens to share comes with its own size and times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// The file's inode number.
    pub ino: u64,
    /// Its size in bytes, as `stat` gives it (for pseudo files, not the size of their content).
    pub size: u64,
    /// Last modification of its content, seconds and nanoseconds since the epoch.
    pub mtime: (i64, i64),
    /// Last change of its content or attributes, seconds and nanoseconds since the epoch.
    pub ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of a file's metadata.
    pub fn of(meta: &Metadata) -> Stamp {
        Stamp {
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// How the file stamped `now` differs from this one; `None` when it is the same file,
    /// unchanged.
    pub fn change_to(&self, now: &Stamp) -> Option<Change> {
        if self.ino != now.ino {
            Some(Change::Replaced)
        } else if self.size != now.size {
            Some(Change::Resized {
                from: self.size,
                to: now.size,
            })
        } else if (self.mtime, self.ctime) != (now.mtime, now.ctime) {
            Some(Change::Modified)
        } else {
            None
        }
    }
}

/// How a file differed from what was planned or first seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Change {
    /// The path names another file (one was renamed onto it, or it was deleted and made
    /// again), or none.
    Replaced,
    /// Its size changed: it was truncated, or it grew.
    Resized {
        /// The size planned (or seen when it was opened).
        from: u64,
        /// The size seen later.
        to: u64,
    },
    /// It ended before a byte the plan had seen.
    EndedEarly {
        /// Where it ended.
        at: u64,
        /// The end of the range that was being read.
        expected: u64,
    },
    /// It was written (or its attributes changed) without a change of size: its modification
    /// or status-change time moved.
    Modified,
    /// A word set aside by a worker read back differently.
    Rewritten,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Replaced => f.write_str("its path now names another file, or none"),
            Change::Resized { from, to } => write!(f, "its size went from {from} to {to} bytes"),
            Change::EndedEarly { at, expected } => {
                write!(f, "it ended at byte {at}, before byte {expected}")
            }
            Change::Modified => f.write_str("its modification or status-change time moved"),
            Change::Rewritten => f.write_str("a word read again had other bytes"),
        }
    }
}

/// A file opened to be read, with what it must keep matching: the plan's stamp for a planned
/// chunk, else (for a regular file) the stamp it had when it was opened.
#[derive(Debug)]
pub(crate) struct CheckedFile<'a> {
    file: File,
    path: &'a Path,
    /// What the file must match when it is checked again; `None` for a pipe or a device,
    /// whose times move as it is read and written.
    expected: Option<Stamp>,
    /// Whether `expected` is the plan's, so the path must still name the file too.
    planned: bool,
}

impl<'a> CheckedFile<'a> {
    /// Opens `path` and, for a planned input, checks that it is the file the plan saw,
    /// unchanged.
    pub(crate) fn open(path: &'a Path, planned: Option<Stamp>) -> Result<CheckedFile<'a>> {
        let file = File::open(path).map_err(|e| Error::io(path, IoAction::Open, &e))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io(path, IoAction::Check, &e))?;
        let opened = Stamp::of(&meta);
        let expected = match planned {
            Some(planned) => {
                if let Some(change) = planned.change_to(&opened) {
                    return Err(Error::Changed {
                        path: path.to_owned(),
                        change,
                    });
                }
                Some(planned)
            }
            None => meta.is_file().then_some(opened),
        };
        Ok(CheckedFile {
            file,
            path,
            expected,
            planned: planned.is_some(),
        })
    }

    /// The path it was opened by.
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        self.path
    }

    /// The size the file had when planned, or when it was opened; `None` for a pipe or a
    /// device.
    pub(crate) fn expected_size(&self) -> Option<u64> {
        self.expected.map(|s| s.size)
    }

    /// Checks that the file is still as expected: the open file, and for a planned input the
    /// file its path names now (it may have been replaced meanwhile).
    pub(crate) fn check(&self) -> Result<()> {
        let Some(expected) = self.expected else {
            return Ok(());
        };
        let changed = |change| Error::Changed {
            path: self.path.to_owned(),
            change,
        };
        let check_err = |e: std::io::Error| Error::io(self.path, IoAction::Check, &e);
        if self.planned {
            // First whether the path still names the file: a file replaced by a rename has
            // its status-change time moved too (it lost a link), but "replaced" says more.
            match fs::metadata(self.path) {
                Ok(meta) if meta.ino() == expected.ino => {}
                Ok(_) => return Err(changed(Change::Replaced)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(changed(Change::Replaced));
                }
                Err(e) => return Err(check_err(e)),
            }
        }
        let now = Stamp::of(&self.file.metadata().map_err(check_err)?);
        match expected.change_to(&now) {
            Some(change) => Err(changed(change)),
            None => Ok(()),
        }
    }
}

impl Read for CheckedFile<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf)
    }
}

impl Seek for CheckedFile<'_> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.file.seek(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> Stamp {
        Stamp {
            ino: 2,
            size: 3,
            mtime: (4, 5),
            ctime: (6, 7),
        }
    }

    #[test]
    fn changes_are_told_apart() {
        let s = stamp();
        assert_eq!(s.change_to(&s), None);
        let other = Stamp { ino: 9, ..s };
        assert_eq!(s.change_to(&other), Some(Change::Replaced));
        let shorter = Stamp { size: 1, ..s };
        assert_eq!(
            s.change_to(&shorter),
            Some(Change::Resized { from: 3, to: 1 })
        );
        let touched = Stamp { ctime: (6, 8), ..s };
        assert_eq!(s.change_to(&touched), Some(Change::Modified));
        let back_dated = Stamp { mtime: (0, 0), ..s };
        assert_eq!(s.change_to(&back_dated), Some(Change::Modified));
    }

    #[test]
    fn a_file_renamed_over_the_path_is_another_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, "one\n").expect("write");
        let before = Stamp::of(&std::fs::metadata(&path).expect("stat"));
        assert_eq!(before.size, 4);
        let other = dir.path().join("g");
        std::fs::write(&other, "two\n").expect("write");
        std::fs::rename(&other, &path).expect("rename");
        let after = Stamp::of(&std::fs::metadata(&path).expect("stat"));
        assert_eq!(before.change_to(&after), Some(Change::Replaced));
    }
}
