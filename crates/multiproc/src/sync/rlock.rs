//! [`RLock`]: a recursive lock shared between processes, owned by one thread.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{AcquireResult, AcquireTimeoutError, ReleaseError, TryAcquireError};
use super::owner;
use super::raw_lock::{self, Taken};
use crate::shared::mapping::{self, Mapping};
use crate::sys::fd::deadline_after;

const MAGIC: u32 = mapping::magic(b"RLCK");
const STATE: usize = 4;
/// How many times the owner holds it; written only by the owner.
const COUNT: usize = 8;
const LEN: usize = 12;

/// A reentrant lock that processes share (Python's `multiprocessing.RLock`).
///
/// The thread that holds it may acquire it again; it is free once every acquisition has been
/// released. Only the owning thread may release it: a release by anyone else is an error. Its
/// guards therefore stay on their thread (they are not `Send`).
///
/// If the owning thread exits, or its process dies, while holding the lock, the next acquirer
/// takes it over and gets [`HolderDied`](super::HolderDied) instead of waiting forever.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let lock = multiproc::RLock::try_new()?;
/// let a = lock.acquire().unwrap();
/// let b = lock.acquire().unwrap(); // the same thread: no deadlock
/// assert_eq!(lock.count(), 2);
/// drop(b);
/// drop(a);
/// assert!(!lock.locked());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RLock {
    map: Arc<Mapping>,
}

impl RLock {
    /// A new, unlocked recursive lock.
    ///
    /// # Panics
    /// If the operating system refuses the shared memory; see [`RLock::try_new`].
    pub fn new() -> RLock {
        RLock::try_new().expect("cannot create the shared memory of an RLock")
    }

    /// A new, unlocked recursive lock, or the operating system's refusal.
    pub fn try_new() -> std::io::Result<RLock> {
        let map = Mapping::anonymous("multiproc-rlock", LEN)?;
        map.u32_at(0).store(MAGIC, Ordering::Release);
        Ok(RLock { map: Arc::new(map) })
    }

    fn word(&self) -> &AtomicU32 {
        self.map.u32_at(STATE)
    }

    fn count_word(&self) -> &AtomicU32 {
        self.map.u32_at(COUNT)
    }

    fn guard(&self) -> RLockGuard<'_> {
        RLockGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// If this thread holds the lock, counts one more acquisition.
    fn reenter(&self, me: u32) -> bool {
        if raw_lock::holder(self.word()) != me {
            return false;
        }
        let c = self.count_word().load(Ordering::Relaxed);
        let c = c.checked_add(1).expect("RLock acquired too many times");
        self.count_word().store(c, Ordering::Relaxed);
        true
    }

    /// The guard of a first acquisition: the count starts at one.
    fn first_guard(&self) -> RLockGuard<'_> {
        self.count_word().store(1, Ordering::Relaxed);
        self.guard()
    }

    /// Blocks until this thread holds the lock (Python's `acquire()`). If the thread already
    /// holds it, it counts one more acquisition and returns at once.
    pub fn acquire(&self) -> AcquireResult<RLockGuard<'_>> {
        let me = owner::thread_word();
        if self.reenter(me) {
            return Ok(self.guard());
        }
        raw_lock::acquire(self.word(), me, || self.first_guard())
    }

    /// Acquires the lock if it is free or already held by this thread.
    pub fn try_acquire(&self) -> Result<RLockGuard<'_>, TryAcquireError<RLockGuard<'_>>> {
        let me = owner::thread_word();
        if self.reenter(me) {
            return Ok(self.guard());
        }
        raw_lock::try_acquire(self.word(), me, || self.first_guard())
    }

    /// Waits at most `timeout` to acquire the lock.
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<RLockGuard<'_>, AcquireTimeoutError<RLockGuard<'_>>> {
        self.acquire_deadline(deadline_after(timeout))
    }

    /// Waits until `deadline` at most to acquire the lock.
    pub fn acquire_deadline(
        &self,
        deadline: Instant,
    ) -> Result<RLockGuard<'_>, AcquireTimeoutError<RLockGuard<'_>>> {
        let me = owner::thread_word();
        if self.reenter(me) {
            return Ok(self.guard());
        }
        raw_lock::acquire_deadline(self.word(), me, deadline, || self.first_guard())
    }

    /// Releases one acquisition (Python's `release()`), for a guard that was forgotten with
    /// `std::mem::forget`. Only the owning thread may release.
    pub fn release(&self) -> Result<(), ReleaseError> {
        let me = owner::thread_word();
        if raw_lock::holder(self.word()) != me {
            return Err(ReleaseError::NotOwner);
        }
        let c = self.count_word().load(Ordering::Relaxed);
        if c > 1 {
            self.count_word().store(c - 1, Ordering::Relaxed);
        } else {
            self.count_word().store(0, Ordering::Relaxed);
            raw_lock::unlock_mine(self.word(), me);
        }
        Ok(())
    }

    /// Whether any thread holds the lock.
    pub fn locked(&self) -> bool {
        raw_lock::is_locked(self.word())
    }

    /// Whether the calling thread holds the lock (Python's `_is_mine()`).
    #[doc(alias = "_is_mine")]
    pub fn is_mine(&self) -> bool {
        raw_lock::holder(self.word()) == owner::thread_word()
    }

    /// How many acquisitions the calling thread holds (0 if it does not hold the lock).
    #[doc(alias = "_count")]
    pub fn count(&self) -> u32 {
        if self.is_mine() {
            self.count_word().load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// Releases every acquisition of the calling thread at once, for a wait on a condition.
    /// Returns the count to restore.
    pub(crate) fn release_all(&self) -> u32 {
        let me = owner::thread_word();
        let c = self.count_word().load(Ordering::Relaxed);
        self.count_word().store(0, Ordering::Relaxed);
        raw_lock::unlock_mine(self.word(), me);
        c
    }

    /// Takes the lock back with `count` acquisitions after [`release_all`](Self::release_all).
    /// `Some(id)` if the holder meanwhile died with it.
    pub(crate) fn restore(&self, count: u32) -> Option<u32> {
        let me = owner::thread_word();
        let t = raw_lock::lock(self.word(), me, None);
        self.count_word().store(count.max(1), Ordering::Relaxed);
        match t {
            Some(Taken::HolderDied(id)) => Some(id),
            _ => None,
        }
    }
}

impl Default for RLock {
    fn default() -> Self {
        RLock::new()
    }
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let holder = raw_lock::holder(self.word());
        f.debug_struct("RLock")
            .field("holder", &(holder != 0).then(|| owner::id_of(holder)))
            .finish()
    }
}

impl Serialize for RLock {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RLock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = mapping::checked(Mapping::deserialize(d)?, "RLock", MAGIC, LEN)?;
        Ok(RLock { map: Arc::new(map) })
    }
}

/// One acquisition of an [`RLock`]; dropping it releases that acquisition. It stays on the
/// thread that acquired it.
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// let lock = multiproc::RLock::new();
/// send(lock.acquire().unwrap());
/// ```
#[must_use = "the acquisition is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
    _not_send: PhantomData<*const ()>,
}

impl RLockGuard<'_> {
    /// The lock this guard holds.
    pub fn lock(&self) -> &RLock {
        self.lock
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_acquires_need_three_releases() {
        let l = RLock::new();
        for _ in 0..3 {
            std::mem::forget(l.acquire().unwrap());
        }
        assert_eq!(l.count(), 3);
        l.release().unwrap();
        l.release().unwrap();
        assert!(l.locked());
        l.release().unwrap();
        assert!(!l.locked());
        assert_eq!(l.release(), Err(ReleaseError::NotOwner));
    }

    #[test]
    fn other_thread_cannot_release_or_enter() {
        let l = RLock::new();
        let _g = l.acquire().unwrap();
        let l2 = l.clone();
        std::thread::spawn(move || {
            assert_eq!(l2.release(), Err(ReleaseError::NotOwner));
            assert!(matches!(l2.try_acquire(), Err(TryAcquireError::WouldBlock)));
            assert!(!l2.is_mine());
        })
        .join()
        .unwrap();
        assert!(l.is_mine());
    }

    #[test]
    fn exited_owner_thread_is_reported() {
        let l = RLock::new();
        let l2 = l.clone();
        std::thread::spawn(move || std::mem::forget(l2.acquire().unwrap()))
            .join()
            .unwrap();
        let d = l
            .acquire_timeout(Duration::from_secs(5))
            .err()
            .and_then(AcquireTimeoutError::into_holder_died)
            .expect("holder died");
        let g = d.into_inner();
        assert_eq!(l.count(), 1);
        drop(g);
        assert!(!l.locked());
    }
}
