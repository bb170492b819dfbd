//! [`Lock`]: a mutual-exclusion lock shared between processes.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{AcquireResult, AcquireTimeoutError, ReleaseError, TryAcquireError};
use super::owner;
use super::raw_lock::{self, Taken};
use crate::shared::mapping::{self, Mapping};
use crate::sys::fd::deadline_after;

const MAGIC: u32 = mapping::magic(b"LOCK");
const STATE: usize = 4;
const LEN: usize = 8;

/// A lock that processes share (Python's `multiprocessing.Lock`).
///
/// It lives in shared memory: clone it, pass it to a child as (part of) its argument, or send
/// it through a queue or a connection, and every copy is the same lock. Acquiring returns a
/// [`LockGuard`] that releases the lock when dropped.
///
/// As in Python, the lock is not owned by a thread: once acquired it may be released by any
/// thread or process with [`Lock::release`] (after `std::mem::forget` of the guard).
///
/// Unlike Python's, a lock whose holder **died** is not held forever: the next acquirer takes it
/// and gets [`HolderDied`](super::HolderDied), which holds the guard.
///
/// ```rust,standalone_crate
/// fn worker(lock: multiproc::Lock) {
///     let _guard = lock.acquire().expect("holder died");
///     println!("Lock acquired");
/// }
///
/// fn main() {
///     multiproc::init();
///     let lock = multiproc::Lock::new();
///     let child = multiproc::spawn(worker, lock.clone());
///     child.join().unwrap();
///     assert!(!lock.locked());
/// }
/// ```
#[derive(Clone)]
pub struct Lock {
    map: Arc<Mapping>,
}

impl Lock {
    /// A new, unlocked lock.
    ///
    /// # Panics
    /// If the operating system refuses the shared memory (out of memory or descriptors); see
    /// [`Lock::try_new`].
    pub fn new() -> Lock {
        Lock::try_new().expect("cannot create the shared memory of a Lock")
    }

    /// A new, unlocked lock, or the operating system's refusal.
    pub fn try_new() -> std::io::Result<Lock> {
        let map = Mapping::anonymous("multiproc-lock", LEN)?;
        map.u32_at(0)
            .store(MAGIC, std::sync::atomic::Ordering::Release);
        Ok(Lock { map: Arc::new(map) })
    }

    #[inline]
    pub(super) fn word(&self) -> &std::sync::atomic::AtomicU32 {
        self.map.u32_at(STATE)
    }

    /// Blocks until the lock is acquired (Python's `acquire()`).
    ///
    /// It cannot wait forever on a dead holder: when the holder's process has ended, the
    /// lock is taken over and the guard comes back inside [`HolderDied`](super::HolderDied).
    #[inline]
    pub fn acquire(&self) -> AcquireResult<LockGuard<'_>> {
        let me = owner::process_word();
        raw_lock::acquire(self.word(), me, || LockGuard { lock: self, me })
    }

    /// Acquires the lock if it is free (Python's `acquire(False)`).
    #[inline]
    pub fn try_acquire(&self) -> Result<LockGuard<'_>, TryAcquireError<LockGuard<'_>>> {
        let me = owner::process_word();
        raw_lock::try_acquire(self.word(), me, || LockGuard { lock: self, me })
    }

    /// Waits at most `timeout` to acquire the lock (Python's `acquire(timeout=...)`).
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<LockGuard<'_>, AcquireTimeoutError<LockGuard<'_>>> {
        self.acquire_deadline(deadline_after(timeout))
    }

    /// Waits until `deadline` at most to acquire the lock.
    pub fn acquire_deadline(
        &self,
        deadline: Instant,
    ) -> Result<LockGuard<'_>, AcquireTimeoutError<LockGuard<'_>>> {
        let me = owner::process_word();
        raw_lock::acquire_deadline(self.word(), me, deadline, || LockGuard { lock: self, me })
    }

    /// Releases the lock, whoever acquired it (Python's `release()`). For a lock acquired in
    /// this or another process whose guard was forgotten with `std::mem::forget`.
    ///
    /// Releasing a lock that is not held is an error, as in Python.
    pub fn release(&self) -> Result<(), ReleaseError> {
        if raw_lock::unlock(self.word()) {
            Ok(())
        } else {
            Err(ReleaseError::NotHeld)
        }
    }

    /// Releases the lock if this process holds it: what dropping a guard does, for a caller
    /// that forgot its guard to keep a smaller one of its own.
    pub(crate) fn release_mine(&self) {
        raw_lock::unlock_mine(self.word(), owner::process_word());
    }

    /// Whether the lock is held, by any process.
    #[doc(alias = "is_locked")]
    pub fn locked(&self) -> bool {
        raw_lock::is_locked(self.word())
    }

    /// The process id of the holder, if the lock is held.
    pub fn holder(&self) -> Option<u32> {
        match raw_lock::holder(self.word()) {
            0 => None,
            w => Some(owner::id_of(w)),
        }
    }
}

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("holder", &self.holder())
            .finish()
    }
}

impl Serialize for Lock {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Lock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = mapping::checked(Mapping::deserialize(d)?, "Lock", MAGIC, LEN)?;
        Ok(Lock { map: Arc::new(map) })
    }
}

/// Holds a [`Lock`]; dropping it releases the lock.
///
/// A guard cannot outlive its lock:
///
/// ```compile_fail
/// let guard = {
///     let lock = multiproc::Lock::new();
///     lock.acquire().unwrap()
/// };
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    pub(super) lock: &'a Lock,
    pub(super) me: u32,
}

impl LockGuard<'_> {
    /// The lock this guard holds.
    pub fn lock(&self) -> &Lock {
        self.lock
    }

    /// Releases the lock for a wait on a condition; `reacquire` takes it back.
    pub(crate) fn release_for_wait(&self) {
        raw_lock::unlock_mine(self.lock.word(), self.me);
    }

    /// Takes the lock back after [`release_for_wait`](Self::release_for_wait). `Some(id)` if
    /// the holder meanwhile died with it.
    pub(crate) fn reacquire(&self) -> Option<u32> {
        match raw_lock::lock(self.lock.word(), self.me, None) {
            Some(Taken::HolderDied(id)) => Some(id),
            _ => None,
        }
    }
}

impl Drop for LockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // If another process released the lock (Python allows it) and someone else holds it
        // now, that holder keeps it.
        raw_lock::unlock_mine(self.lock.word(), self.me);
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    #[test]
    fn python_lock_scenario() {
        let lock = Lock::new();
        let g = lock.acquire().unwrap();
        assert!(lock.locked());
        assert!(matches!(
            lock.try_acquire(),
            Err(TryAcquireError::WouldBlock)
        ));
        assert_eq!(lock.holder(), Some(std::process::id()));
        drop(g);
        assert!(!lock.locked());
        assert_eq!(lock.release(), Err(ReleaseError::NotHeld));
    }

    #[test]
    fn forgotten_guard_is_released_by_release() {
        let lock = Lock::new();
        std::mem::forget(lock.acquire().unwrap());
        assert!(lock.locked());
        lock.release().unwrap();
        assert!(!lock.locked());
    }

    #[test]
    fn timeout_when_held() {
        let lock = Lock::new();
        let _g = lock.acquire().unwrap();
        let t0 = Instant::now();
        assert!(matches!(
            lock.acquire_timeout(Duration::from_millis(50)),
            Err(AcquireTimeoutError::Timeout)
        ));
        assert!(t0.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn encoded_copy_is_the_same_lock() {
        let lock = Lock::new();
        let e = codec::encode(&lock).unwrap();
        let copy: Lock = codec::decode(&e.bytes, e.fds).unwrap();
        let _g = copy.acquire().unwrap();
        assert!(lock.locked());
    }

    #[test]
    fn other_kinds_do_not_decode_as_lock() {
        let ev = crate::Event::new();
        let e = codec::encode(&ev).unwrap();
        let err = codec::decode::<Lock>(&e.bytes, e.fds).unwrap_err();
        assert!(err.to_string().contains("does not hold a Lock"), "{err}");
    }

    #[test]
    fn travels_through_a_connection() {
        let (a, b) = crate::Connection::pair(true).unwrap();
        let lock = Lock::new();
        a.send(&lock).unwrap();
        let got: Lock = b.recv().unwrap();
        let _g = lock.acquire().unwrap();
        assert!(got.locked());
    }
}
