//! Shared memory for queues: a memfd mapped once at its largest size so that it can grow in
//! place, futex waits and wakes on words inside it, and a lock that is recovered when its
//! holder dies.
//!
//! The mapping reserves address space for the largest size the file may reach; the file
//! itself grows with `ftruncate` as the queue needs room. Every process maps the same length,
//! so an offset that lies inside the file is valid in all of them, whoever grew the file.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A shared, growable memory region backed by a memfd.
#[derive(Debug)]
pub(crate) struct Region {
    fd: OwnedFd,
    base: NonNull<u8>,
    map_len: usize,
}

// SAFETY: the region is plain shared memory; every access from safe code goes through atomics
// or through the `unsafe` accessors, whose callers promise exclusive access to what they touch.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Region {
    /// A new region named `name` (shown in `/proc/<pid>/maps`) whose file holds `file_len`
    /// bytes, mapped with room to grow to `map_len` bytes.
    pub(crate) fn create(name: &CStr, file_len: usize, map_len: usize) -> io::Result<Region> {
        // SAFETY: `name` is a valid C string; memfd_create returns a new descriptor or -1.
        let raw = cvt(unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) })?;
        // SAFETY: `raw` was just created and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        set_len(fd.as_fd(), file_len as u64)?;
        Region::map(fd, map_len)
    }

    /// Maps a region created by another process, given its descriptor and mapping length.
    pub(crate) fn attach(fd: OwnedFd, map_len: usize) -> io::Result<Region> {
        Region::map(fd, map_len)
    }

    fn map(fd: OwnedFd, map_len: usize) -> io::Result<Region> {
        // SAFETY: a fresh shared mapping of a file we hold; the kernel picks the address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base =
            NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(Region { fd, base, map_len })
    }

    /// The memfd.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The length of the mapping (the most the file may grow to).
    pub(crate) fn map_len(&self) -> usize {
        self.map_len
    }

    /// The file's current size.
    pub(crate) fn file_len(&self) -> io::Result<u64> {
        Ok(std::fs::File::from(self.fd.try_clone()?).metadata()?.len())
    }

    /// Sets the file's size to `len` (callers only ever grow it, under the queue's
    /// allocation lock).
    pub(crate) fn set_file_len(&self, len: u64) -> io::Result<()> {
        if len > self.map_len as u64 {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("queue full: it cannot grow past {} bytes", self.map_len),
            ));
        }
        set_len(self.fd(), len)
    }

    /// Gives the memory of `[off, off + len)` back to the system; it reads as zeros later.
    pub(crate) fn release(&self, off: usize, len: usize) {
        // SAFETY: fallocate only changes the file's backing store; the range is page-aligned
        // by the caller and callers only release memory nobody is using.
        unsafe {
            libc::fallocate(
                self.fd.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                off as libc::off_t,
                len as libc::off_t,
            );
        }
    }

    fn check(&self, off: usize, len: usize, align: usize) {
        assert!(
            off % align == 0 && off.checked_add(len).is_some_and(|end| end <= self.map_len),
            "offset {off} (+{len}) outside a region of {} bytes",
            self.map_len
        );
    }

    /// The 32-bit atomic at `off` (4-byte aligned, inside the file).
    pub(crate) fn u32_at(&self, off: usize) -> &AtomicU32 {
        self.check(off, 4, 4);
        // SAFETY: the offset is inside the mapping and aligned (checked above); the memory lives
        // as long as `self`, and all processes only access it atomically.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(off).cast()) }
    }

    /// The 64-bit atomic at `off` (8-byte aligned, inside the file).
    pub(crate) fn u64_at(&self, off: usize) -> &AtomicU64 {
        self.check(off, 8, 8);
        // SAFETY: as for `u32_at`.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(off).cast()) }
    }

    /// The bytes `[off, off + len)`.
    ///
    /// # Safety
    /// The range must lie inside the file (not only the mapping), and nothing may write to it
    /// while the slice lives (the queue's protocol hands each record to one reader at a time,
    /// after its writer has published it).
    pub(crate) unsafe fn bytes(&self, off: usize, len: usize) -> &[u8] {
        self.check(off, len, 1);
        // SAFETY: inside the mapping (checked); inside the file and not written meanwhile, as
        // the caller promises.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(off), len) }
    }

    /// Copies `src` to `off`.
    ///
    /// # Safety
    /// The range must lie inside the file, and nothing else may read or write it during the
    /// call (the queue's producer lock reserves it for the caller).
    pub(crate) unsafe fn write(&self, off: usize, src: &[u8]) {
        self.check(off, src.len(), 1);
        // SAFETY: inside the mapping (checked); inside the file and exclusively ours, as the
        // caller promises; `src` is caller memory, so the two cannot overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.base.as_ptr().add(off), src.len())
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `base` and `map_len` describe the mapping made in `map`, and every reference
        // into it borrows `self`, so none outlives this.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.map_len);
        }
    }
}

fn set_len(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    // SAFETY: ftruncate only changes the size of the file behind the descriptor.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) }).map(drop)
}

/// Sleeps while `word` holds `expected`, until woken or `deadline`. Returns `false` if the
/// deadline passed.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> bool {
    let ts = match deadline {
        None => None,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            Some(libc::timespec {
                tv_sec: left.as_secs().min(i32::MAX as u64) as libc::time_t,
                tv_nsec: left.subsec_nanos() as _,
            })
        }
    };
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned 32-bit atomic (in shared memory, hence no
    // FUTEX_PRIVATE_FLAG); `tsp` is null or points at a live timespec.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            tsp,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    !(r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT))
}

/// Wakes up to `n` sleepers on `word`.
pub(crate) fn futex_wake(word: &AtomicU32, n: i32) {
    // SAFETY: `word` is a live, aligned 32-bit atomic; FUTEX_WAKE only reads its address.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Whether thread `tid` still runs (a zombie, or no such thread, counts as dead).
pub(crate) fn thread_alive(tid: u32) -> bool {
    match std::fs::read(format!("/proc/{tid}/stat")) {
        Ok(stat) => {
            // The state follows the command name, which is in parentheses and may hold spaces.
            let after = stat
                .iter()
                .rposition(|b| *b == b')')
                .map_or(&stat[..], |i| &stat[i + 1..]);
            let state = after.iter().find(|b| !b.is_ascii_whitespace());
            !matches!(state, Some(b'Z' | b'X' | b'x'))
        }
        Err(e) => e.kind() != io::ErrorKind::NotFound,
    }
}

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

thread_local! {
    static TID: std::cell::Cell<(u64, u32)> = const { std::cell::Cell::new((u64::MAX, 0)) };
}

/// The calling thread's id, cached (and refreshed after `fork`).
pub(crate) fn current_tid() -> u32 {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // SAFETY: registers a plain function that only touches an atomic, which is safe to run
        // in a forked child.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
    let generation = FORK_GENERATION.load(Ordering::Relaxed);
    TID.with(|c| {
        let (g, tid) = c.get();
        if g == generation {
            tid
        } else {
            let tid = super::proc::gettid() as u32;
            c.set((generation, tid));
            tid
        }
    })
}

/// The lock word's bit that says someone may sleep on it.
const WAITERS: u32 = 1 << 31;

/// Tries before sleeping on a held lock.
const LOCK_SPINS: u32 = 64;

/// How often a sleeper on a held lock checks that the holder is alive.
const OWNER_CHECK: Duration = Duration::from_millis(100);

/// Acquires the lock in `word` (0 when free, else the holder's thread id), waiting until
/// `deadline` at most. Returns `Some(true)` if the holder had died and the lock was taken over
/// from it (the caller must repair what it protects), `Some(false)` for a plain acquisition,
/// `None` if the deadline passed.
///
/// A dead holder is noticed by a sleeper within [`OWNER_CHECK`]. (A holder's id reused by a
/// new thread in that time would hide its death until that thread ends.)
pub(crate) fn lock(word: &AtomicU32, deadline: Option<Instant>) -> Option<bool> {
    let me = current_tid();
    if word
        .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        return Some(false);
    }
    for _ in 0..LOCK_SPINS {
        std::hint::spin_loop();
        if word.load(Ordering::Relaxed) == 0
            && word
                .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return Some(false);
        }
    }
    loop {
        let w = word.load(Ordering::Relaxed);
        if w == 0 {
            // Others may still sleep: keep the bit, so our unlock wakes one.
            if word
                .compare_exchange(0, me | WAITERS, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Some(false);
            }
            continue;
        }
        if w & WAITERS == 0
            && word
                .compare_exchange(w, w | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            continue;
        }
        let check = Instant::now() + OWNER_CHECK;
        let until = deadline.map_or(check, |d| d.min(check));
        if !futex_wait(word, w | WAITERS, Some(until)) {
            if !thread_alive(w & !WAITERS)
                && word
                    .compare_exchange(
                        w | WAITERS,
                        me | WAITERS,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            {
                return Some(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
        }
    }
}

/// Releases a lock taken with [`lock`].
pub(crate) fn unlock(word: &AtomicU32) {
    if word.swap(0, Ordering::Release) & WAITERS != 0 {
        futex_wake(word, 1);
    }
}
