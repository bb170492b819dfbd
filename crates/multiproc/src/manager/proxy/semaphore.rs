//! [`SemaphoreProxy`]: a semaphore kept in a manager.

use std::time::{Duration, Instant};

use super::lock::{ProxyGuard, acquire, release};
use crate::manager::ManagerError;
use crate::manager::client::{ObjRef, wait_until};
use crate::manager::protocol::{Op, Wait};
use crate::manager::server::lock::LockOp;

/// A counting semaphore kept in a manager (Python's `Manager().Semaphore(n)` and
/// `BoundedSemaphore(n)`).
///
/// A bounded one refuses a release past its initial value
/// ([`ManagerError::TooManyReleases`]). As in Python, a semaphore has no holder: a count taken
/// by a process that ends is not given back.
///
/// ```rust,standalone_crate
/// multiproc::init();
/// let manager = multiproc::Manager::start().unwrap();
/// let s = manager.semaphore(2).unwrap();
/// let a = s.acquire().unwrap();
/// let b = s.acquire().unwrap();
/// assert!(s.try_acquire().is_err());
/// drop((a, b));
/// assert_eq!(s.get_value().unwrap(), 2);
/// ```
pub struct SemaphoreProxy {
    obj: ObjRef,
}

impl SemaphoreProxy {
    pub(crate) fn from_ref(obj: ObjRef) -> Self {
        SemaphoreProxy { obj }
    }

    fn take(&self, wait: Wait) -> Result<ProxyGuard<'_>, ManagerError> {
        acquire(&self.obj, wait).map(|(guard, _)| guard)
    }

    /// Waits until the count is above zero, and takes one.
    pub fn acquire(&self) -> Result<ProxyGuard<'_>, ManagerError> {
        self.take(Wait::Forever)
    }

    /// Takes one if the count is above zero, else [`ManagerError::WouldBlock`].
    pub fn try_acquire(&self) -> Result<ProxyGuard<'_>, ManagerError> {
        self.take(Wait::Now)
    }

    /// Waits at most `timeout` to take one, else [`ManagerError::Timeout`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<ProxyGuard<'_>, ManagerError> {
        self.take(Wait::For(timeout))
    }

    /// Waits until `deadline` at most to take one, else [`ManagerError::Timeout`].
    pub fn acquire_deadline(&self, deadline: Instant) -> Result<ProxyGuard<'_>, ManagerError> {
        self.take(wait_until(deadline))
    }

    /// Adds one to the count (for a guard that was forgotten, or to signal).
    pub fn release(&self) -> Result<(), ManagerError> {
        release(&self.obj, self.obj.owner())
    }

    /// The count.
    pub fn get_value(&self) -> Result<u32, ManagerError> {
        let n = self.obj.count(Op::Lock(LockOp::Value))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

super::proxy_impls!(SemaphoreProxy);
