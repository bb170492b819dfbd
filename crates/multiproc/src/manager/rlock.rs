//! [`RLockProxy`]: a reentrant lock kept in a manager.

use std::time::{Duration, Instant};

use super::ManagerError;
use super::link::{ObjRef, wait_until};
use super::lock::{ProxyGuard, acquire, flag, release};
use super::protocol::{Op, Wait};

/// A reentrant lock kept in a manager (Python's `Manager().RLock()`): the thread that holds it
/// may acquire it again, and must release it as many times.
///
/// Its owner is a thread of a process; only that thread can release it. A lock whose owner's
/// process dies is released by the manager.
///
/// ```rust,standalone_crate
/// multiproc::init();
/// let manager = multiproc::Manager::start().unwrap();
/// let lock = manager.rlock().unwrap();
/// let outer = lock.acquire().unwrap();
/// let inner = lock.acquire().unwrap();
/// drop(inner);
/// assert!(lock.locked().unwrap());
/// drop(outer);
/// assert!(!lock.locked().unwrap());
/// ```
pub struct RLockProxy {
    obj: ObjRef,
}

impl RLockProxy {
    pub(crate) fn from_ref(obj: ObjRef) -> Self {
        RLockProxy { obj }
    }

    /// Waits until the lock is acquired (at once if this thread holds it).
    pub fn acquire(&self) -> Result<ProxyGuard<'_>, ManagerError> {
        acquire(&self.obj, Wait::Forever)
    }

    /// Acquires the lock if it is free or this thread's, else [`ManagerError::WouldBlock`].
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

    /// Releases one level of this thread's hold (for a guard that was forgotten); an error if
    /// this thread does not hold it.
    pub fn release(&self) -> Result<(), ManagerError> {
        release(&self.obj, self.obj.owner())
    }

    /// Whether the lock is held, by anyone.
    pub fn locked(&self) -> Result<bool, ManagerError> {
        flag(&self.obj, Op::Locked)
    }
}

super::proxy_impls!(RLockProxy);
