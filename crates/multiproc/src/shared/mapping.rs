//! [`Mapping`]: a `MAP_SHARED` mapping of a memfd or a named segment, and the only code that
//! turns its addresses into references.
//!
//! Every synchronization primitive and shared value is a small header in one of these; queues
//! and the shared-memory tracker use *growable* ones, whose file grows under a mapping made
//! once at the largest size. Other processes map the same file and write to it at any time, so
//! this module hands out only what tolerates that: atomics (`&AtomicU32`, `&AtomicU64`), and
//! volatile copies of plain data. A `&mut [T]` or `&[u8]` into the memory exists only where
//! the caller excludes writers, through the `unsafe fn`s [`Mapping::slice_mut`] and
//! [`Mapping::bytes`] whose callers promise it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};

use bytemuck::Pod;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec;
use crate::sys::mman;

/// A shared mapping of a whole file, and the file's descriptor (to pass it on).
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    fd: OwnedFd,
}

// SAFETY: a Mapping is an address range and a descriptor. Nothing in it is tied to a thread; all
// access to the memory goes through atomics, volatile copies, or `unsafe` calls whose callers
// hold the lock that serializes them, from whatever thread.
unsafe impl Send for Mapping {}
// SAFETY: as above: `&Mapping` only gives atomics and volatile copies.
unsafe impl Sync for Mapping {}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping")
            .field("len", &self.len)
            .field("fd", &self.fd)
            .finish()
    }
}

impl Mapping {
    /// A zero-filled anonymous mapping of at least `len` bytes (a whole number of pages), backed
    /// by a size-sealed memfd. `name` shows in `/proc/<pid>/maps`.
    pub(crate) fn anonymous(name: &str, len: usize) -> io::Result<Mapping> {
        let page = mman::page_size();
        let len = len.max(1).div_ceil(page) * page;
        let fd = mman::memfd_sealed(name, len)?;
        let ptr = mman::map_shared(fd.as_fd(), len)?;
        Ok(Mapping { ptr, len, fd })
    }

    /// Maps a memfd received from another process. It must be size-sealed (so nobody can shrink
    /// it under us) and at least `min_len` bytes long.
    pub(crate) fn from_sealed(fd: OwnedFd, min_len: usize) -> io::Result<Mapping> {
        if !mman::shrink_sealed(fd.as_fd()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "descriptor is not a sealed multiproc memfd",
            ));
        }
        let (len, _, _) = mman::file_id(fd.as_fd())?;
        if len < min_len.max(1) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("shared memory of {len} bytes is smaller than the {min_len} expected"),
            ));
        }
        let ptr = mman::map_shared(fd.as_fd(), len)?;
        Ok(Mapping { ptr, len, fd })
    }

    /// A zero-filled mapping of `map_len` bytes over a memfd that holds `file_len` bytes now and
    /// may grow up to `map_len` ([`set_file_len`](Mapping::set_file_len)), but never shrink.
    /// Only the bytes inside the file may be touched: past its end, an access faults (SIGBUS).
    pub(crate) fn growable(name: &str, file_len: usize, map_len: usize) -> io::Result<Mapping> {
        let fd = mman::memfd_growable(name, file_len)?;
        Mapping::attach_growable(fd, map_len)
    }

    /// Maps `map_len` bytes of a growable memfd received from another process (see
    /// [`growable`](Mapping::growable)). It must be sealed against shrinking.
    pub(crate) fn attach_growable(fd: OwnedFd, map_len: usize) -> io::Result<Mapping> {
        if !mman::shrink_sealed(fd.as_fd()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "descriptor is not a growable multiproc memfd",
            ));
        }
        let ptr = mman::map_shared(fd.as_fd(), map_len)?;
        Ok(Mapping {
            ptr,
            len: map_len,
            fd,
        })
    }

    /// The size of the file now (at most [`len`](Mapping::len) for a growable mapping).
    pub(crate) fn file_len(&self) -> io::Result<usize> {
        mman::file_id(self.fd.as_fd()).map(|(len, _, _)| len)
    }

    /// Grows the file of a growable mapping to `len` bytes, which must not pass the mapping.
    pub(crate) fn set_file_len(&self, len: usize) -> io::Result<()> {
        if len > self.len {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("shared memory cannot grow past {} bytes", self.len),
            ));
        }
        mman::ftruncate(self.fd.as_fd(), len)
    }

    /// Gives the memory of `[offset, offset + len)` back to the system (page-aligned; it reads
    /// as zeros afterwards). Best effort: memory that cannot be given back stays as it was.
    pub(crate) fn discard(&self, offset: usize, len: usize) {
        let _ = mman::punch_hole(self.fd.as_fd(), offset, len);
    }

    /// Maps the whole of a named segment's file (`len` bytes, its size).
    pub(crate) fn from_file(fd: OwnedFd, len: usize) -> io::Result<Mapping> {
        let ptr = mman::map_shared(fd.as_fd(), len)?;
        Ok(Mapping { ptr, len, fd })
    }

    /// The mapping's length in bytes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The start of the mapping.
    #[inline]
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    #[inline]
    fn check<T>(&self, offset: usize, count: usize) -> *mut T {
        let size = std::mem::size_of::<T>()
            .checked_mul(count)
            .and_then(|b| b.checked_add(offset));
        assert!(
            size.is_some_and(|end| end <= self.len),
            "shared memory access out of bounds"
        );
        assert!(
            offset.is_multiple_of(std::mem::align_of::<T>()),
            "misaligned shared memory access"
        );
        // SAFETY: `offset` is within the mapping (checked above), so the result stays in the
        // same allocation.
        unsafe { self.ptr.as_ptr().add(offset).cast() }
    }

    /// The 32-bit atomic at `offset` (aligned, in bounds; panics otherwise).
    #[inline]
    pub(crate) fn u32_at(&self, offset: usize) -> &AtomicU32 {
        let p = self.check::<AtomicU32>(offset, 1);
        // SAFETY: `p` is in bounds and aligned (checked), and the mapping lives as long as
        // `&self`. Every access to these words, in every process, is atomic.
        unsafe { AtomicU32::from_ptr(p.cast()) }
    }

    /// The 64-bit atomic at `offset` (aligned, in bounds; panics otherwise).
    #[inline]
    pub(crate) fn u64_at(&self, offset: usize) -> &AtomicU64 {
        let p = self.check::<AtomicU64>(offset, 1);
        // SAFETY: as for `u32_at`.
        unsafe { AtomicU64::from_ptr(p.cast()) }
    }

    /// A volatile copy of the `T` at `offset`. Another process may write it meanwhile; the
    /// copy may then mix old and new bytes, which is still a valid `T` (`Pod`).
    pub(crate) fn read<T: Pod>(&self, offset: usize) -> T {
        let p = self.check::<T>(offset, 1);
        // SAFETY: in bounds and aligned (checked); any bit pattern is a valid `T` (Pod).
        unsafe { p.read_volatile() }
    }

    /// A volatile store of `value` at `offset`.
    pub(crate) fn write<T: Pod>(&self, offset: usize, value: T) {
        let p = self.check::<T>(offset, 1);
        // SAFETY: in bounds and aligned (checked); the memory is writable (PROT_WRITE) and
        // holds plain data that no Rust reference points at outside a lock.
        unsafe { p.write_volatile(value) }
    }

    /// Volatile copies of `out.len()` values starting at `offset`.
    pub(crate) fn read_slice<T: Pod>(&self, offset: usize, out: &mut [T]) {
        let p = self.check::<T>(offset, out.len());
        for (i, o) in out.iter_mut().enumerate() {
            // SAFETY: element `i < out.len()` is in bounds (checked for the whole run).
            *o = unsafe { p.add(i).read_volatile() };
        }
    }

    /// Volatile stores of `values` starting at `offset`.
    pub(crate) fn write_slice<T: Pod>(&self, offset: usize, values: &[T]) {
        let p = self.check::<T>(offset, values.len());
        for (i, v) in values.iter().enumerate() {
            // SAFETY: element `i < values.len()` is in bounds (checked for the whole run).
            unsafe { p.add(i).write_volatile(*v) };
        }
    }

    /// The bytes `[offset, offset + len)`, borrowed in place.
    ///
    /// # Safety
    /// The range must lie inside the file, and nothing (in this process or another) may write
    /// to it while the slice lives.
    pub(crate) unsafe fn bytes(&self, offset: usize, len: usize) -> &[u8] {
        let p = self.check::<u8>(offset, len);
        // SAFETY: in bounds (checked); inside the file and not written meanwhile, as the caller
        // promises.
        unsafe { std::slice::from_raw_parts(p, len) }
    }

    /// Copies `src` to `offset` (a plain copy, as fast as `memcpy`).
    ///
    /// # Safety
    /// The range must lie inside the file, and nothing else may read or write it during the
    /// call.
    pub(crate) unsafe fn copy_in(&self, offset: usize, src: &[u8]) {
        let p = self.check::<u8>(offset, src.len());
        // SAFETY: in bounds (checked); inside the file and exclusively ours, as the caller
        // promises; `src` is caller memory, so the two cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), p, src.len()) }
    }

    /// The `count` values of type `T` at `offset`, as a mutable slice.
    ///
    /// # Safety
    /// The caller must hold the lock that every process takes before touching these bytes
    /// (so no other access, in this process or another, overlaps the slice's life), and must
    /// not create another reference to the same bytes while this one lives.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice_mut<T: Pod>(&self, offset: usize, count: usize) -> &mut [T] {
        let p = self.check::<T>(offset, count);
        // SAFETY: in bounds and aligned (checked), valid for any bit pattern (Pod); exclusive
        // for the slice's life by the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(p, count) }
    }
}

impl AsFd for Mapping {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are this mapping's, made by `map_shared`; references into it
        // borrow `self`, so none outlive this call.
        unsafe { mman::unmap(self.ptr, self.len) }
    }
}

/// Serializes a memfd-backed mapping: its descriptor travels out of band.
impl Serialize for Mapping {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        codec::serialize_fd(self.fd.as_fd(), s)
    }
}

/// A received memfd, mapped (checked as [`Mapping::from_sealed`] does, with no minimum size:
/// the primitive that owns it checks its own layout).
impl<'de> Deserialize<'de> for Mapping {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let fd = codec::deserialize_fd(d)?;
        Mapping::from_sealed(fd, 1)
            .map_err(|e| crate::codec::de_error(format!("cannot map shared memory: {e}")))
    }
}

/// The magic number that opens every primitive's memory, naming its kind.
pub(crate) const fn magic(tag: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*tag)
}

/// A mapping laid out for one primitive: it was created for it, or received and checked to hold
/// the primitive's magic number at offset 0 and to be at least `min_len` bytes long.
pub(crate) fn checked<E: serde::de::Error>(
    map: Mapping,
    kind: &str,
    magic: u32,
    min_len: usize,
) -> Result<Mapping, E> {
    if map.len() < min_len.max(4) {
        return Err(crate::codec::de_error(format!(
            "shared memory of {} bytes is too small for a {kind}",
            map.len()
        )));
    }
    let found = map.u32_at(0).load(std::sync::atomic::Ordering::Acquire);
    if found != magic {
        return Err(crate::codec::de_error(format!(
            "shared memory does not hold a {kind}"
        )));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn anonymous_is_zeroed_and_page_sized() {
        let m = Mapping::anonymous("t", 10).unwrap();
        assert_eq!(m.len(), mman::page_size());
        assert_eq!(m.u32_at(4).load(Ordering::Relaxed), 0);
        m.write::<u64>(8, 7);
        assert_eq!(m.read::<u64>(8), 7);
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn out_of_bounds_panics() {
        let m = Mapping::anonymous("t", 10).unwrap();
        let _ = m.u32_at(m.len());
    }

    #[test]
    fn roundtrip_through_codec_shares_memory() {
        let m = Mapping::anonymous("t", 10).unwrap();
        m.u32_at(0).store(5, Ordering::Relaxed);
        let e = codec::encode(&m).unwrap();
        let m2: Mapping = codec::decode(&e.bytes, e.fds).unwrap();
        assert_ne!(m.as_ptr(), m2.as_ptr());
        m2.u32_at(0).fetch_add(1, Ordering::Relaxed);
        assert_eq!(m.u32_at(0).load(Ordering::Relaxed), 6);
    }

    #[test]
    fn unsealed_descriptors_are_refused() {
        let f = tempfile::tempfile().unwrap();
        f.set_len(4096).unwrap();
        assert!(Mapping::from_sealed(f.into(), 1).is_err());
    }
}
