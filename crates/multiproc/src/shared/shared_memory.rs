//! [`SharedMemory`]: named segments that unrelated processes attach to (Python's
//! `multiprocessing.shared_memory.SharedMemory`).

use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Mutex;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::mapping::Mapping;
use crate::codec::Fd;
use crate::sys::mman;
use crate::sys::shm_tracker::{NAME_MAX, SHM_DIR, Tracker};

/// What went wrong with a shared memory segment.
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
}

/// This process's tracker, and the pid that started it (a forked child starts its own).
static TRACKER: Mutex<Option<(u32, Tracker)>> = Mutex::new(None);

fn with_tracker(f: impl FnOnce(&Tracker) -> io::Result<()>) -> io::Result<()> {
    let mut t = TRACKER.lock().unwrap_or_else(|e| e.into_inner());
    let me = std::process::id();
    if t.as_ref().is_none_or(|(pid, _)| *pid != me) {
        *t = Some((me, Tracker::start()?));
    }
    let (_, tracker) = t.as_ref().expect("just started");
    f(tracker)
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

/// A named block of shared memory that any process can attach to by name (Python's
/// `shared_memory.SharedMemory`). On Linux it is a file in `/dev/shm`, so a Python process can
/// attach to it too.
///
/// Segments are created with [`create`](SharedMemory::create) or
/// [`create_named`](SharedMemory::create_named), attached with
/// [`attach`](SharedMemory::attach), unmapped by dropping (or [`close`](SharedMemory::close)),
/// and removed with [`unlink`](SharedMemory::unlink).
///
/// **No residue.** A segment that its creator does not unlink is removed when the creator ends,
/// even if it is killed with SIGKILL: a small tracker process, started with the first segment a
/// process creates, watches for its end (as Python's resource tracker does, which however only
/// acts when the whole program has ended). Attached mappings stay valid after the name is gone.
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
    tracked: bool,
}

impl SharedMemory {
    /// Creates a segment of `size` bytes under a fresh random name (`psm_` and 8 hex digits,
    /// as Python names them). It is zero-filled.
    pub fn create(size: usize) -> Result<SharedMemory, ShmError> {
        loop {
            match SharedMemory::create_named(&random_name(), size) {
                Err(ShmError::Exists(_)) => continue,
                other => return other,
            }
        }
    }

    /// Creates a segment named `name` of `size` bytes, zero-filled (Python's
    /// `SharedMemory(name, create=True, size=size)`). Fails with [`ShmError::Exists`] if the
    /// name is taken.
    pub fn create_named(name: &str, size: usize) -> Result<SharedMemory, ShmError> {
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
        let (_, dev, ino) = mman::file_id(fd.as_fd()).map_err(io_err)?;
        let tracked = match with_tracker(|t| t.register(name.as_bytes(), dev, ino)) {
            Ok(()) => true,
            Err(e) => {
                log::warn!(target: "multiproc", "shared memory segment '{name}' is not tracked and may outlive this process: {e}");
                false
            }
        };
        let made = mman::ftruncate(fd.as_fd(), size).and_then(|()| Mapping::from_file(fd, size));
        match made {
            Ok(map) => Ok(SharedMemory {
                map,
                name: name.to_owned(),
                dev,
                ino,
                tracked,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(path_of(name));
                if tracked {
                    let _ = with_tracker(|t| t.unregister(name.as_bytes(), dev, ino));
                }
                Err(io_err(e))
            }
        }
    }

    /// Attaches to the existing segment `name` (Python's `SharedMemory(name)`). Fails with
    /// [`ShmError::NotFound`] if there is none, and [`ShmError::BadSize`] if it is empty.
    pub fn attach(name: &str) -> Result<SharedMemory, ShmError> {
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
            tracked: false,
        })
    }

    /// Another handle on the same segment (a second mapping of it), for example to pass to a
    /// child process while keeping this one. It is not the creator: dropping or unlinking
    /// through it does not change what the tracker does for the original.
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
    /// segment itself stays until it is unlinked.
    pub fn close(self) {}

    /// Removes the segment's name (Python's `unlink()`): no process can attach to it any more,
    /// and its memory goes once every process has unmapped it. Any process may unlink.
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
        if self.tracked {
            let _ = with_tracker(|t| t.unregister(self.name.as_bytes(), self.dev, self.ino));
        }
        Ok(())
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("name", &self.name)
            .field("size", &self.size())
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Wire {
    name: String,
    fd: Fd,
}

/// A segment passed to another process arrives attached (by descriptor, so even an unlinked
/// segment travels); the receiver is not its creator.
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
