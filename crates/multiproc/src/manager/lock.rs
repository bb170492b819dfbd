//! [`LockProxy`] and [`ProxyGuard`]: a lock kept in a manager.

use std::fmt;
use std::time::{Duration, Instant};

use super::ManagerError;
use super::link::{ObjRef, unexpected, wait_until};
use super::protocol::{Op, Owner, Reply, Wait};

/// Acquires the lock-like object `obj` (a lock, an rlock, a semaphore or a condition).
pub(crate) fn acquire(obj: &ObjRef, wait: Wait) -> Result<ProxyGuard<'_>, ManagerError> {
    let owner = obj.owner();
    match obj.call_wait(Op::Acquire { owner, wait }, wait)? {
        Reply::Bool(true) => Ok(ProxyGuard {
            obj,
            owner,
            held: true,
        }),
        Reply::Timeout if matches!(wait, Wait::Now) => Err(ManagerError::WouldBlock),
        Reply::Timeout => Err(ManagerError::Timeout),
        other => Err(unexpected(other)),
    }
}

/// Releases the lock-like object `obj` on behalf of `owner`.
pub(crate) fn release(obj: &ObjRef, owner: Owner) -> Result<(), ManagerError> {
    match obj.call(Op::Release { owner })? {
        Reply::Unit => Ok(()),
        other => Err(unexpected(other)),
    }
}

pub(crate) fn flag(obj: &ObjRef, op: Op) -> Result<bool, ManagerError> {
    match obj.call(op)? {
        Reply::Bool(b) => Ok(b),
        other => Err(unexpected(other)),
    }
}

/// Holds a lock, an rlock, a semaphore or a condition kept in a manager; dropping it releases
/// it (a call to the manager).
///
/// Dropping cannot report an error (the manager may be gone); [`release`](Self::release)
/// does.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ProxyGuard<'a> {
    pub(crate) obj: &'a ObjRef,
    pub(crate) owner: Owner,
    held: bool,
}

impl ProxyGuard<'_> {
    /// Releases now, reporting whether the manager did.
    pub fn release(mut self) -> Result<(), ManagerError> {
        self.held = false;
        release(self.obj, self.owner)
    }
}

impl Drop for ProxyGuard<'_> {
    fn drop(&mut self) {
        if self.held {
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
/// As with Python's, any process may release it ([`release`](Self::release)). Unlike Python's,
/// a lock whose holder's process dies is released by the manager instead of being held
/// forever. Between processes of one machine, [`multiproc::Lock`](crate::Lock) in shared
/// memory is far faster; this one reaches other machines.
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
    pub fn acquire(&self) -> Result<ProxyGuard<'_>, ManagerError> {
        acquire(&self.obj, Wait::Forever)
    }

    /// Acquires the lock if it is free, else [`ManagerError::WouldBlock`].
    pub fn try_acquire(&self) -> Result<ProxyGuard<'_>, ManagerError> {
        acquire(&self.obj, Wait::Now)
    }

    /// Waits at most `timeout` for the lock, else [`ManagerError::Timeout`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<ProxyGuard<'_>, ManagerError> {
        acquire(&self.obj, Wait::For(timeout))
    }

    /// Waits until `deadline` at most for the lock, else [`ManagerError::Timeout`].
    pub fn acquire_deadline(&self, deadline: Instant) -> Result<ProxyGuard<'_>, ManagerError> {
        acquire(&self.obj, wait_until(deadline))
    }

    /// Releases the lock, whoever holds it (for a guard that was forgotten); an error if it is
    /// not held.
    pub fn release(&self) -> Result<(), ManagerError> {
        release(&self.obj, self.obj.owner())
    }

    /// Whether the lock is held.
    pub fn locked(&self) -> Result<bool, ManagerError> {
        flag(&self.obj, Op::Locked)
    }
}

super::proxy_impls!(LockProxy);
