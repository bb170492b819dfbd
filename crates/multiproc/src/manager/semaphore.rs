//! [`SemaphoreProxy`]: a semaphore kept in a manager.

use std::time::{Duration, Instant};

use super::ManagerError;
use super::link::{ObjRef, unexpected, wait_until};
use super::lock::{ProxyGuard, acquire, release};
use super::protocol::{Op, Reply, Wait};

/// A counting semaphore kept in a manager (Python's `Manager().Semaphore(n)` and
/// `BoundedSemaphore(n)`).
///
/// A bounded one refuses a release past its initial value
/// ([`ManagerError::TooManyReleases`]).
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

    /// Waits until the count is above zero, and takes one.
    pub fn acquire(&self) -> Result<ProxyGuard<'_>, ManagerError> {
        acquire(&self.obj, Wait::Forever)
    }

    /// Takes one if the count is above zero, else [`ManagerError::WouldBlock`].
    pub fn try_acquire(&self) -> Result<ProxyGuard<'_>, ManagerError> {
        acquire(&self.obj, Wait::Now)
    }

    /// Waits at most `timeout` to take one, else [`ManagerError::Timeout`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<ProxyGuard<'_>, ManagerError> {
        acquire(&self.obj, Wait::For(timeout))
    }

    /// Waits until `deadline` at most to take one, else [`ManagerError::Timeout`].
    pub fn acquire_deadline(&self, deadline: Instant) -> Result<ProxyGuard<'_>, ManagerError> {
        acquire(&self.obj, wait_until(deadline))
    }

    /// Adds one to the count (for a guard that was forgotten, or to signal).
    pub fn release(&self) -> Result<(), ManagerError> {
        release(&self.obj, self.obj.owner())
    }

    /// The count.
    pub fn get_value(&self) -> Result<u32, ManagerError> {
        match self.obj.call(Op::SemValue)? {
            Reply::Count(n) => Ok(n as u32),
            other => Err(unexpected(other)),
        }
    }
}

super::proxy_impls!(SemaphoreProxy);
