//! Shared memory: memfds, their seals and sizes, and `MAP_SHARED` mappings.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// The seals that fix a memfd's size for good: nobody can shrink it under a mapping (which
/// would turn accesses into SIGBUS), grow it, or lift the seals.
const SIZE_SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;

/// The memory page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let r = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if r > 0 { r as usize } else { 4096 }
}

/// Creates an anonymous, zero-filled memfd of `len` bytes (close-on-exec), and seals its size.
/// `name` only shows in `/proc/<pid>/fd` and `/proc/<pid>/maps`.
pub(crate) fn memfd_sealed(name: &str, len: usize) -> io::Result<OwnedFd> {
    let fd = memfd(name, len)?;
    // SAFETY: F_ADD_SEALS takes an int of seal bits.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, SIZE_SEALS) })?;
    Ok(fd)
}

/// Creates an anonymous, zero-filled memfd of `len` bytes (close-on-exec) that may grow but
/// never shrink: a mapping longer than the file stays valid wherever the file has reached.
pub(crate) fn memfd_growable(name: &str, len: usize) -> io::Result<OwnedFd> {
    let fd = memfd(name, len)?;
    // SAFETY: F_ADD_SEALS takes an int of seal bits.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_SHRINK) })?;
    Ok(fd)
}

fn memfd(name: &str, len: usize) -> io::Result<OwnedFd> {
    let cname = CString::new(name.replace('\0', "")).expect("NULs removed");
    // SAFETY: `cname` is a valid NUL-terminated string for the call.
    let fd = cvt(unsafe {
        libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
    })?;
    // SAFETY: memfd_create just returned this descriptor; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    ftruncate(fd.as_fd(), len)?;
    Ok(fd)
}

/// Whether `fd` is a memfd sealed against shrinking (so no mapping of it can lose its pages).
pub(crate) fn shrink_sealed(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: F_GET_SEALS only reads the descriptor's seals.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & libc::F_SEAL_SHRINK != 0
}

/// Gives the memory of bytes `[off, off + len)` of the file behind `fd` back to the system;
/// they read as zeros afterwards, and the file keeps its size.
pub(crate) fn punch_hole(fd: BorrowedFd<'_>, off: usize, len: usize) -> io::Result<()> {
    let off =
        libc::off_t::try_from(off).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let len =
        libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: fallocate only changes the file's backing store.
    cvt(unsafe {
        libc::fallocate(
            fd.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            off,
            len,
        )
    })
    .map(drop)
}

/// Sets the size of the file behind `fd`.
pub(crate) fn ftruncate(fd: BorrowedFd<'_>, len: usize) -> io::Result<()> {
    let len =
        libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: ftruncate takes a descriptor and a size.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len) }).map(drop)
}

/// The size, device and inode of the file behind `fd`.
pub(crate) fn file_id(fd: BorrowedFd<'_>) -> io::Result<(usize, u64, u64)> {
    // SAFETY: an all-zero stat is a valid buffer for fstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid stat buffer; the descriptor is borrowed and open.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok((st.st_size.max(0) as usize, st.st_dev, st.st_ino))
}

/// Maps `len` bytes of `fd` from offset 0, readable and writable, shared with every other
/// mapping of the same file. The mapping may be larger than the file (a file that grows later
/// fills it); no swap is reserved for it.
pub(crate) fn map_shared(fd: BorrowedFd<'_>, len: usize) -> io::Result<NonNull<u8>> {
    if len == 0 {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: a fresh mapping chosen by the kernel (null hint) overlaps nothing of ours.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_NORESERVE,
            fd.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned null"))
}

/// Unmaps a mapping made by [`map_shared`].
///
/// # Safety
/// `ptr` and `len` must be exactly those of one live mapping returned by [`map_shared`], and no
/// reference into it may be used afterwards.
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller passes a live mapping of `len` bytes that nothing uses any more.
    unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memfd_is_sealed_and_sized() {
        let fd = memfd_sealed("multiproc-test", 8192).unwrap();
        assert!(shrink_sealed(fd.as_fd()));
        assert_eq!(file_id(fd.as_fd()).unwrap().0, 8192);
        assert!(
            ftruncate(fd.as_fd(), 4096).is_err(),
            "shrinking must be refused"
        );
        let p = map_shared(fd.as_fd(), 8192).unwrap();
        // SAFETY: the mapping is live and 8192 bytes long; it is unmapped right after.
        unsafe {
            assert_eq!(*p.as_ptr().add(8191), 0);
            unmap(p, 8192);
        }
    }

    #[test]
    fn growable_memfd_grows_never_shrinks_and_gives_memory_back() {
        let fd = memfd_growable("multiproc-test", 4096).unwrap();
        assert!(shrink_sealed(fd.as_fd()));
        ftruncate(fd.as_fd(), 3 * 4096).unwrap();
        assert_eq!(file_id(fd.as_fd()).unwrap().0, 3 * 4096);
        assert!(ftruncate(fd.as_fd(), 4096).is_err());
        punch_hole(fd.as_fd(), 4096, 4096).unwrap();
        assert_eq!(file_id(fd.as_fd()).unwrap().0, 3 * 4096);
    }

    #[test]
    fn plain_files_are_not_sealed() {
        let f = tempfile::tempfile().unwrap();
        assert!(!shrink_sealed(f.as_fd()));
    }
}
