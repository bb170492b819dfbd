//! [`SharedMemory`]: named segments that unrelated processes attach to (Python's
//! `multiprocessing.shared_memory.SharedMemory`), and [`ShmOptions`], the options (`track`) of
//! creating and attaching them.

use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::list::{ListItem, ShareableList};
use super::manager::SharedMemoryManager;
use super::mapping::Mapping;
use super::tracker::{self, NAME_MAX, Registration, SHM_DIR, Segment};
use crate::codec::Fd;
use crate::sys::mman;

/// What went wrong with a shared memory segment or a [`ShareableList`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShmError {
    /// A segment of that name exists already (Python's `FileExistsError`).
    #[error("shared memory segment '{0}' already exists")]
    Exists(String),
    /// No segment has that name (Python's `FileNotFoundError`).
    #[error("shared memory segment '{0}' does not exist")]
    NotFound(String),
    /// A segment must have a positive size (Python's `ValueError`).
    #[error("shared memory size must be positive, not {0}")]
    BadSize(usize),
    /// The name cannot name a segment: empty, too long, or with a `/` or NUL inside.
    #[error("invalid shared memory name {0:?}")]
    BadName(String),
    /// The operating system refused.
    #[error("operation on shared memory segment '{name}' failed")]
    Io {
        /// The segment's name.
        name: String,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The segment could not be registered for removal (with this process's tracker, or with
    /// a [`SharedMemoryManager`]), so it was not created (or not attached): nothing is left
    /// behind. [`ShmOptions::track`] turns tracking off.
    #[error("cannot track shared memory segment '{name}' for removal")]
    Track {
        /// The segment's name.
        name: String,
        /// Why: the tracker process could not be started, its table is full, …
        #[source]
        source: io::Error,
    },
    /// The [`SharedMemoryManager`] was shut down (or its owner ended): it creates no more
    /// segments.
    #[error("the shared memory manager has shut down")]
    ManagerShutDown,
    /// A [`ShareableList`] index past its end (Python's `IndexError`).
    #[error("index {index} out of range for a shareable list of {len} items")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The list's length.
        len: usize,
    },
    /// A `str` or `bytes` item larger than the room at its position of a [`ShareableList`]
    /// (Python's `ValueError`), or than any position can have (about 10 MB).
    #[error("an item of {size} bytes does not fit the {room} bytes at position {index}")]
    ItemTooLarge {
        /// The position.
        index: usize,
        /// The item's size, encoded.
        size: usize,
        /// The room at that position.
        room: usize,
    },
    /// The segment does not hold a [`ShareableList`], or holds an item this library cannot
    /// read (written by something else than a `ShareableList` of Python or of this crate).
    #[error("shared memory segment '{name}' does not hold a shareable list: {why}")]
    NotAList {
        /// The segment's name.
        name: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Strips one leading `/` (Python accepts and reports names without it) and checks the rest.
fn check_name(name: &str) -> Result<&str, ShmError> {
    let n = name.strip_prefix('/').unwrap_or(name);
    if n.is_empty() || n.len() > NAME_MAX || n.contains(['/', '\0']) || n == "." || n == ".." {
        return Err(ShmError::BadName(name.to_owned()));
    }
    Ok(n)
}

fn path_of(name: &str) -> std::path::PathBuf {
    let mut p = String::from_utf8_lossy(SHM_DIR).into_owned();
    p.push_str(name);
    p.into()
}

fn random_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("psm_{:08x}", h.finish() as u32)
}

/// Who removes a new segment if nobody unlinks it.
#[derive(Clone, Copy)]
pub(super) enum Keeper<'a> {
    /// Nobody: it stays until someone unlinks it (`track(false)`).
    Nobody,
    /// This process's tracker, when this process ends.
    Process,
    /// A manager, at its shutdown (or its owner's end).
    Manager(&'a SharedMemoryManager),
}

/// Options for creating or attaching a [`SharedMemory`] segment (or a [`ShareableList`]):
/// whether the segment is *tracked*, that is removed when this process ends if nobody has
/// unlinked it by then (Python 3.13's `track` argument).
///
/// By default a segment is tracked by the process that creates it, and not by the processes
/// that attach to it. `track(false)` on a creator leaves the segment in place until someone
/// unlinks it, for example for a program that runs later; `track(true)` on an attacher makes
/// this process responsible for it as well: it is removed when the first of the two ends.
///
/// ```
/// use multiproc::SharedMemory;
/// # fn main() -> Result<(), multiproc::ShmError> {
/// let kept = SharedMemory::options().track(false).create(64)?;
/// assert!(!kept.tracked());
/// // ... another program attaches later, then someone unlinks it:
/// kept.unlink()?;
/// # Ok(()) }
/// ```
#[must_use = "options do nothing until a segment is created or attached"]
#[derive(Clone, Copy, Debug, Default)]
pub struct ShmOptions {
    track: Option<bool>,
}

impl ShmOptions {
    /// Whether the segment is removed when this process ends, if nobody has unlinked it by
    /// then (default: `true` for a creator, `false` for an attacher).
    pub fn track(mut self, track: bool) -> Self {
        self.track = Some(track);
        self
    }

    fn keeper(self, default: bool) -> Keeper<'static> {
        if self.track.unwrap_or(default) {
            Keeper::Process
        } else {
            Keeper::Nobody
        }
    }

    /// Creates a segment of `size` bytes under a fresh random name (see
    /// [`SharedMemory::create`]).
    pub fn create(self, size: usize) -> Result<SharedMemory, ShmError> {
        SharedMemory::create_in(None, size, self.keeper(true))
    }

    /// Creates a segment named `name` of `size` bytes (see [`SharedMemory::create_named`]).
    pub fn create_named(self, name: &str, size: usize) -> Result<SharedMemory, ShmError> {
        SharedMemory::create_in(Some(name), size, self.keeper(true))
    }

    /// Attaches to the existing segment `name` (see [`SharedMemory::attach`]).
    pub fn attach(self, name: &str) -> Result<SharedMemory, ShmError> {
        let shm = SharedMemory::attach_untracked(name)?;
        match self.keeper(false) {
            Keeper::Process => shm.tracked_by_process(),
            _ => Ok(shm),
        }
    }

    /// Creates a [`ShareableList`] holding `items`, under a fresh random name (see
    /// [`ShareableList::new`]).
    pub fn create_list<I>(self, items: I) -> Result<ShareableList, ShmError>
    where
        I: IntoIterator,
        I::Item: Into<ListItem>,
    {
        ShareableList::create_in(None, items, self.keeper(true))
    }

    /// Creates a [`ShareableList`] holding `items` in a segment named `name` (see
    /// [`ShareableList::create_named`]).
    pub fn create_named_list<I>(self, name: &str, items: I) -> Result<ShareableList, ShmError>
    where
        I: IntoIterator,
        I::Item: Into<ListItem>,
    {
        ShareableList::create_in(Some(name), items, self.keeper(true))
    }
}

/// A named block of shared memory that any process can attach to by name (Python's
/// `shared_memory.SharedMemory`). On Linux it is a file in `/dev/shm`, so a Python process can
/// attach to it too.
///
/// Segments are created with [`create`](SharedMemory::create) or
/// [`create_named`](SharedMemory::create_named), attached with
/// [`attach`](SharedMemory::attach), unmapped by dropping (or [`close`](SharedMemory::close)),
/// and removed with [`unlink`](SharedMemory::unlink). [`SharedMemory::options`] sets whether
/// a segment is tracked.
///
/// **No residue.** A segment that its creator does not unlink is removed when the creator ends,
/// even if it is killed with SIGKILL, however many segments it made: a small tracker process,
/// started with the first segment a process creates, watches for its end (as Python's
/// resource tracker does, which however acts only when the whole program has ended). Attached
/// mappings stay valid after the name is gone. A segment that must outlive its creator is
/// created with [`track(false)`](ShmOptions::track), or by a [`SharedMemoryManager`], which
/// removes it at its shutdown.
///
/// **Sent to another process** (as an argument, through a queue or a connection), a segment
/// travels by descriptor: the receiver maps the very memory that the sender has, even if its
/// name was unlinked meanwhile, or taken by a newer segment. Python sends the name instead,
/// and the receiver attaches by name: it gets `FileNotFoundError` for an unlinked segment, and
/// the newer segment where the name was reused. The receiver is not the creator: it tracks
/// nothing, and its [`name`](SharedMemory::name) may no longer be attachable.
///
/// Another process may write the memory at any time, so there is no `&[u8]` view: copy in and
/// out with [`read`](SharedMemory::read) and [`write`](SharedMemory::write), or use
/// [`as_ptr`](SharedMemory::as_ptr) with your own synchronization.
///
/// ```
/// use multiproc::SharedMemory;
/// # fn main() -> Result<(), multiproc::ShmError> {
/// let shm = SharedMemory::create(16)?;
/// shm.write(0, b"hello");
/// let other = SharedMemory::attach(shm.name())?;
/// let mut buf = [0u8; 5];
/// other.read(0, &mut buf);
/// assert_eq!(&buf, b"hello");
/// shm.unlink()?;
/// assert!(SharedMemory::attach(shm.name()).is_err());
/// # Ok(()) }
/// ```
pub struct SharedMemory {
    map: Mapping,
    name: String,
    dev: u64,
    ino: u64,
    /// Where this handle registered the segment for removal, if it did.
    reg: Option<Registration>,
}

impl SharedMemory {
    /// Options: whether the segment is tracked.
    pub fn options() -> ShmOptions {
        ShmOptions::default()
    }

    /// Creates a segment of `size` bytes under a fresh random name (`psm_` and 8 hex digits,
    /// as Python names them). It is zero-filled, and tracked (see [`ShmOptions::track`]).
    pub fn create(size: usize) -> Result<SharedMemory, ShmError> {
        SharedMemory::create_in(None, size, Keeper::Process)
    }

    /// Creates a segment named `name` of `size` bytes, zero-filled and tracked (Python's
    /// `SharedMemory(name, create=True, size=size)`). Fails with [`ShmError::Exists`] if the
    /// name is taken.
    pub fn create_named(name: &str, size: usize) -> Result<SharedMemory, ShmError> {
        SharedMemory::create_in(Some(name), size, Keeper::Process)
    }

    /// Creates a segment (under a random name if `name` is `None`) that `keeper` removes if
    /// nobody unlinks it.
    pub(super) fn create_in(
        name: Option<&str>,
        size: usize,
        keeper: Keeper<'_>,
    ) -> Result<SharedMemory, ShmError> {
        match name {
            Some(name) => SharedMemory::create_once(name, size, keeper),
            None => loop {
                match SharedMemory::create_once(&random_name(), size, keeper) {
                    Err(ShmError::Exists(_)) => continue,
                    other => return other,
                }
            },
        }
    }

    fn create_once(name: &str, size: usize, keeper: Keeper<'_>) -> Result<SharedMemory, ShmError> {
        let name = check_name(name)?;
        if size == 0 {
            return Err(ShmError::BadSize(size));
        }
        let io_err = |source| ShmError::Io {
            name: name.to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path_of(name))
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => ShmError::Exists(name.to_owned()),
                _ => io_err(e),
            })?;
        let fd = OwnedFd::from(file);
        let remove = || {
            let _ = std::fs::remove_file(path_of(name));
        };
        let (_, dev, ino) = mman::file_id(fd.as_fd()).map_err(|e| {
            remove();
            io_err(e)
        })?;
        let seg = Segment { name, dev, ino };
        // Registered before it is sized and mapped: the window in which a death of this
        // process leaves it behind is as short as it can be.
        let registered = match keeper {
            Keeper::Nobody => Ok(None),
            Keeper::Process => tracker::track(seg)
                .map(Some)
                .map_err(|source| ShmError::Track {
                    name: name.to_owned(),
                    source,
                }),
            Keeper::Manager(m) => m.register(seg).map(Some),
        };
        let reg = registered.inspect_err(|_| remove())?;
        let made = mman::ftruncate(fd.as_fd(), size).and_then(|()| Mapping::from_file(fd, size));
        match made {
            Ok(map) => Ok(SharedMemory {
                map,
                name: name.to_owned(),
                dev,
                ino,
                reg,
            }),
            Err(e) => {
                remove();
                tracker::untrack(reg.as_ref(), seg);
                Err(io_err(e))
            }
        }
    }

    /// Attaches to the existing segment `name` (Python's `SharedMemory(name)`), untracked
    /// (see [`ShmOptions::track`]). Fails with [`ShmError::NotFound`] if there is none, and
    /// [`ShmError::BadSize`] if it is empty.
    pub fn attach(name: &str) -> Result<SharedMemory, ShmError> {
        SharedMemory::attach_untracked(name)
    }

    fn attach_untracked(name: &str) -> Result<SharedMemory, ShmError> {
        let name = check_name(name)?;
        let io_err = |source| ShmError::Io {
            name: name.to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path_of(name))
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => ShmError::NotFound(name.to_owned()),
                _ => io_err(e),
            })?;
        let fd = OwnedFd::from(file);
        SharedMemory::map(fd, name.to_owned())
    }

    /// This handle, registered with this process's tracker.
    fn tracked_by_process(mut self) -> Result<SharedMemory, ShmError> {
        let reg = tracker::track(self.segment()).map_err(|source| ShmError::Track {
            name: self.name.clone(),
            source,
        })?;
        self.reg = Some(reg);
        Ok(self)
    }

    fn map(fd: OwnedFd, name: String) -> Result<SharedMemory, ShmError> {
        let (size, dev, ino) = mman::file_id(fd.as_fd()).map_err(|source| ShmError::Io {
            name: name.clone(),
            source,
        })?;
        if size == 0 {
            return Err(ShmError::BadSize(0));
        }
        let map = Mapping::from_file(fd, size).map_err(|source| ShmError::Io {
            name: name.clone(),
            source,
        })?;
        Ok(SharedMemory {
            map,
            name,
            dev,
            ino,
            reg: None,
        })
    }

    fn segment(&self) -> Segment<'_> {
        Segment {
            name: &self.name,
            dev: self.dev,
            ino: self.ino,
        }
    }

    /// Another handle on the same segment (a second mapping of it), for example to pass to a
    /// child process while keeping this one. It is untracked: dropping it changes nothing for
    /// the original, but unlinking through it does (there is nothing left to remove).
    pub fn try_clone(&self) -> Result<SharedMemory, ShmError> {
        let fd = self
            .map
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| ShmError::Io {
                name: self.name.clone(),
                source,
            })?;
        SharedMemory::map(fd, self.name.clone())
    }

    /// The segment's name, without a leading `/` (Python's `name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The segment's size in bytes (Python's `size`).
    pub fn size(&self) -> usize {
        self.map.len()
    }

    /// Whether this handle registered the segment for removal: with this process's tracker
    /// (see [`ShmOptions::track`]), or with a [`SharedMemoryManager`].
    pub fn tracked(&self) -> bool {
        self.reg.is_some()
    }

    /// Copies `buf.len()` bytes from offset `offset` of the segment into `buf`.
    ///
    /// # Panics
    /// If the range is not inside the segment.
    pub fn read(&self, offset: usize, buf: &mut [u8]) {
        self.map.read_slice(offset, buf)
    }

    /// Copies `data` into the segment at offset `offset`.
    ///
    /// # Panics
    /// If the range is not inside the segment.
    pub fn write(&self, offset: usize, data: &[u8]) {
        self.map.write_slice(offset, data)
    }

    /// The start of the mapping (Python's `buf`), valid for [`size`](SharedMemory::size)
    /// bytes while `self` lives. Other processes may write it at any time; synchronizing
    /// access is the caller's business.
    #[doc(alias = "buf")]
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.as_ptr()
    }

    /// Unmaps the segment in this process (Python's `close()`); the same as dropping it. The
    /// segment itself stays until it is unlinked (or its tracker removes it).
    pub fn close(self) {}

    /// Removes the segment's name (Python's `unlink()`): no process can attach to it any more,
    /// and its memory goes once every process has unmapped it. Any process may unlink; this
    /// process's tracker (or the manager this handle registered it with) forgets it.
    pub fn unlink(&self) -> Result<(), ShmError> {
        match std::fs::remove_file(path_of(&self.name)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ShmError::NotFound(self.name.clone()));
            }
            Err(source) => {
                return Err(ShmError::Io {
                    name: self.name.clone(),
                    source,
                });
            }
        }
        tracker::untrack(self.reg.as_ref(), self.segment());
        Ok(())
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("name", &self.name)
            .field("size", &self.size())
            .field("tracked", &self.tracked())
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Wire {
    name: String,
    fd: Fd,
}

/// A segment passed to another process arrives attached, by descriptor: even an unlinked
/// segment travels (see the type's documentation). The receiver is not its creator and tracks
/// nothing.
impl Serialize for SharedMemory {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let fd = self
            .map
            .as_fd()
            .try_clone_to_owned()
            .map_err(S::Error::custom)?;
        Wire {
            name: self.name.clone(),
            fd: fd.into(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedMemory {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        SharedMemory::map(w.fd.into(), w.name).map_err(|e| crate::codec::de_error(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_errors() {
        let shm = SharedMemory::create(100).unwrap();
        assert!(shm.name().starts_with("psm_"));
        assert!(shm.size() >= 100);
        assert!(matches!(
            SharedMemory::create_named(shm.name(), 10),
            Err(ShmError::Exists(_))
        ));
        assert!(matches!(
            SharedMemory::create_named("multiproc-zero", 0),
            Err(ShmError::BadSize(0))
        ));
        assert!(matches!(
            SharedMemory::create_named("a/b", 1),
            Err(ShmError::BadName(_))
        ));
        shm.unlink().unwrap();
        assert!(matches!(shm.unlink(), Err(ShmError::NotFound(_))));
        assert!(matches!(
            SharedMemory::attach(shm.name()),
            Err(ShmError::NotFound(_))
        ));
    }

    #[test]
    fn leading_slash_is_accepted() {
        let name = format!("/{}", random_name());
        let a = SharedMemory::create_named(&name, 8).unwrap();
        assert_eq!(a.name(), &name[1..]);
        let b = SharedMemory::attach(&name).unwrap();
        b.write(0, &[1, 2]);
        let mut out = [0; 2];
        a.read(0, &mut out);
        assert_eq!(out, [1, 2]);
        a.unlink().unwrap();
    }

    #[test]
    fn travels_by_descriptor_even_unlinked() {
        let a = SharedMemory::create(8).unwrap();
        a.unlink().unwrap();
        let e = crate::codec::encode(&a).unwrap();
        let b: SharedMemory = crate::codec::decode(&e.bytes, e.fds).unwrap();
        b.write(7, &[9]);
        let mut out = [0];
        a.read(7, &mut out);
        assert_eq!(out, [9]);
    }
}
