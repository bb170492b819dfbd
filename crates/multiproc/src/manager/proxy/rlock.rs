//! [`RLockProxy`]: a reentrant lock kept in a manager.

use std::time::{Duration, Instant};

use super::lock::{ProxyGuard, acquire_lock, release};
use crate::manager::client::{ObjRef, wait_until};
use crate::manager::protocol::{Op, Wait};
use crate::manager::server::lock::LockOp;
use crate::manager::{LockError, ManagerError};

/// A reentrant lock kept in a manager (Python's `Manager().RLock()`): the thread that holds it
/// may acquire it again, and must release it as many times.
///
/// Its owner is a thread of a process, and only that thread can release it. So once the
/// owner's process has ended, in any way, nobody can: the next acquirer takes it over and gets
/// [`LockError::HolderDied`] with the guard, instead of waiting forever as in Python.
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
    pub fn acquire(&self) -> Result<ProxyGuard<'_>, LockError<ProxyGuard<'_>>> {
        acquire_lock(&self.obj, Wait::Forever)
    }

    /// Acquires the lock if it is free or this thread's, else
    /// `LockError::Manager(ManagerError::WouldBlock)`.
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

    /// Releases one level of this thread's hold (for a guard that was forgotten); an error if
    /// this thread does not hold it.
    pub fn release(&self) -> Result<(), ManagerError> {
        release(&self.obj, self.obj.owner())
    }

    /// Whether the lock is held, by anyone.
    pub fn locked(&self) -> Result<bool, ManagerError> {
        self.obj.flag(Op::Lock(LockOp::Locked))
    }
}

super::proxy_impls!(RLockProxy);
