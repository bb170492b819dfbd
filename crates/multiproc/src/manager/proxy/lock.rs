//! [`LockProxy`] and [`ProxyGuard`]: a lock kept in a manager, and the guard that every
//! manager lock, reentrant lock, semaphore and condition hands out.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::manager::client::{ObjRef, unexpected, wait_until};
use crate::manager::protocol::{Op, Owner, Reply, Wait};
use crate::manager::server::lock::LockOp;
use crate::manager::{LockError, ManagerError};
use crate::sync::HolderDied;

/// Acquires the lock-like object `obj` (a lock, an rlock, a semaphore or a condition): the
/// guard, and the process id of a holder whose process ended leaving it, if it was taken over.
///
/// The guard is made only once the acquire is confirmed, so that an acquire that fails on the
/// way back is released by the server alone.
pub(crate) fn acquire(
    obj: &ObjRef,
    wait: Wait,
) -> Result<(ProxyGuard<'_>, Option<u32>), ManagerError> {
    let owner = obj.owner();
    let left_by = obj.call(Op::Lock(LockOp::Acquire { owner, wait }), |r| match r {
        Reply::Acquired(left_by) => Ok(left_by),
        Reply::Timeout if wait == Wait::Now => Err(ManagerError::WouldBlock),
        Reply::Timeout => Err(ManagerError::Timeout),
        other => Err(unexpected(other)),
    })?;
    Ok((ProxyGuard::new(obj, owner), left_by))
}

/// [`acquire`] as a lock reports it: a holder that ended is news ([`LockError::HolderDied`]).
pub(crate) fn acquire_lock(
    obj: &ObjRef,
    wait: Wait,
) -> Result<ProxyGuard<'_>, LockError<ProxyGuard<'_>>> {
    match acquire(obj, wait)? {
        (guard, None) => Ok(guard),
        (guard, Some(pid)) => Err(LockError::HolderDied(HolderDied::new(guard, pid))),
    }
}

/// Releases the lock-like object `obj` on behalf of `owner`.
pub(crate) fn release(obj: &ObjRef, owner: Owner) -> Result<(), ManagerError> {
    obj.unit(Op::Lock(LockOp::Release { owner }))
}

/// Holds a lock, an rlock, a semaphore or a condition kept in a manager; dropping it releases
/// it (a call to the manager).
///
/// Dropping cannot report an error (the manager may be gone); [`release`](Self::release)
/// does. To leave a [`LockProxy`] held for another process to release (Python's hand-over),
/// `std::mem::forget` the guard.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ProxyGuard<'a> {
    pub(crate) obj: &'a ObjRef,
    pub(crate) owner: Owner,
    held: AtomicBool,
}

impl<'a> ProxyGuard<'a> {
    pub(crate) fn new(obj: &'a ObjRef, owner: Owner) -> Self {
        ProxyGuard {
            obj,
            owner,
            held: AtomicBool::new(true),
        }
    }

    /// The manager no longer holds the lock for this guard (a condition wait that failed):
    /// dropping it releases nothing.
    pub(crate) fn disown(&self) {
        self.held.store(false, Ordering::Relaxed);
    }

    /// Releases now, reporting whether the manager did.
    pub fn release(self) -> Result<(), ManagerError> {
        if !self.held.swap(false, Ordering::Relaxed) {
            return Err(ManagerError::NotHeld);
        }
        release(self.obj, self.owner)
    }
}

impl Drop for ProxyGuard<'_> {
    fn drop(&mut self) {
        if self.held.load(Ordering::Relaxed) {
            if let Err(e) = release(self.obj, self.owner) {
                log::warn!(target: "multiproc", "releasing a manager lock failed: {e}");
            }
        }
    }
}

impl fmt::Debug for ProxyGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyGuard")
            .field("object", &self.obj.id())
            .finish()
    }
}

/// A lock kept in a manager (Python's `Manager().Lock()`).
///
/// As with Python's, the lock is not owned by a thread: once acquired it may be released by
/// any thread or process ([`release`](Self::release), after `std::mem::forget` of the guard),
/// and a process that **ends in order** while holding it (it dropped its last proxy to the
/// manager) hands it over: it stays held until someone releases it.
///
/// Unlike Python's, a lock whose holder's process **died** (was killed or crashed) does not
/// make its next acquirer wait forever: that acquirer takes it over and gets
/// [`LockError::HolderDied`], which holds the guard. Until then, another process may still
/// release it. See [Locks whose holder ended](crate::manager#locks-whose-holder-ended).
///
/// Between processes of one machine, [`multiproc::Lock`](crate::Lock) in shared memory is far
/// faster; this one reaches other machines.
///
/// ```rust,standalone_crate
/// multiproc::init();
/// let manager = multiproc::Manager::start().unwrap();
/// let lock = manager.lock().unwrap();
/// let guard = lock.acquire().unwrap();
/// assert!(lock.locked().unwrap());
/// assert!(lock.try_acquire().is_err());
/// drop(guard);
/// assert!(!lock.locked().unwrap());
/// ```
pub struct LockProxy {
    obj: ObjRef,
}

impl LockProxy {
    pub(crate) fn from_ref(obj: ObjRef) -> Self {
        LockProxy { obj }
    }

    /// Waits until the lock is acquired.
    pub fn acquire(&self) -> Result<ProxyGuard<'_>, LockError<ProxyGuard<'_>>> {
        acquire_lock(&self.obj, Wait::Forever)
    }

    /// Acquires the lock if it is free, else `LockError::Manager(ManagerError::WouldBlock)`.
    pub fn try_acquire(&self) -> Result<ProxyGuard<'_>, LockError<ProxyGuard<'_>>> {
        acquire_lock(&self.obj, Wait::Now)
    }

    /// Waits at most `timeout` for the lock, else `LockError::Manager(ManagerError::Timeout)`.
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ProxyGuard<'_>, LockError<ProxyGuard<'_>>> {
        acquire_lock(&self.obj, Wait::For(timeout))
    }

    /// Waits until `deadline` at most for the lock.
    pub fn acquire_deadline(
        &self,
        deadline: Instant,
    ) -> Result<ProxyGuard<'_>, LockError<ProxyGuard<'_>>> {
        acquire_lock(&self.obj, wait_until(deadline))
    }

    /// Releases the lock, whoever holds it (for a guard that was forgotten, here or in another
    /// process); [`ManagerError::NotHeld`] if it is not held.
    pub fn release(&self) -> Result<(), ManagerError> {
        release(&self.obj, self.obj.owner())
    }

    /// Whether the lock is held.
    pub fn locked(&self) -> Result<bool, ManagerError> {
        self.obj.flag(Op::Lock(LockOp::Locked))
    }
}

super::proxy_impls!(LockProxy);
