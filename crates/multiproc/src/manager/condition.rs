//! [`ConditionProxy`]: a condition variable kept in a manager.

use std::fmt;
use std::ops::Deref;
use std::time::{Duration, Instant};

use super::ManagerError;
use super::link::{ObjRef, unexpected, wait_until};
use super::lock::{ProxyGuard, acquire, flag};
use super::protocol::{Op, Reply, Wait};

/// A condition variable kept in a manager, with its own reentrant lock (Python's
/// `Manager().Condition()`).
///
/// [`acquire`](Self::acquire) returns a [`ConditionProxyGuard`], which waits and notifies.
///
/// ```rust,standalone_crate
/// multiproc::init();
/// let manager = multiproc::Manager::start().unwrap();
/// let cond = manager.condition().unwrap();
/// let guard = cond.acquire().unwrap();
/// // Nobody notifies: the wait times out (and takes the lock back).
/// assert!(!guard.wait_timeout(std::time::Duration::from_millis(10)).unwrap());
/// guard.notify_all().unwrap();
/// ```
pub struct ConditionProxy {
    obj: ObjRef,
}

impl ConditionProxy {
    pub(crate) fn from_ref(obj: ObjRef) -> Self {
        ConditionProxy { obj }
    }

    fn guard(g: ProxyGuard<'_>) -> ConditionProxyGuard<'_> {
        ConditionProxyGuard { guard: g }
    }

    /// Waits until the condition's lock is acquired.
    pub fn acquire(&self) -> Result<ConditionProxyGuard<'_>, ManagerError> {
        acquire(&self.obj, Wait::Forever).map(Self::guard)
    }

    /// Acquires the lock if it is free (or this thread's), else
    /// [`ManagerError::WouldBlock`].
    pub fn try_acquire(&self) -> Result<ConditionProxyGuard<'_>, ManagerError> {
        acquire(&self.obj, Wait::Now).map(Self::guard)
    }

    /// Waits at most `timeout` for the lock, else [`ManagerError::Timeout`].
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ConditionProxyGuard<'_>, ManagerError> {
        acquire(&self.obj, Wait::For(timeout)).map(Self::guard)
    }

    /// Waits until `deadline` at most for the lock, else [`ManagerError::Timeout`].
    pub fn acquire_deadline(
        &self,
        deadline: Instant,
    ) -> Result<ConditionProxyGuard<'_>, ManagerError> {
        acquire(&self.obj, wait_until(deadline)).map(Self::guard)
    }

    /// Whether the condition's lock is held, by anyone.
    pub fn locked(&self) -> Result<bool, ManagerError> {
        flag(&self.obj, Op::Locked)
    }
}

super::proxy_impls!(ConditionProxy);

/// Holds a [`ConditionProxy`]'s lock: wait on the condition or notify its waiters. Dropping it
/// releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionProxyGuard<'a> {
    guard: ProxyGuard<'a>,
}

impl ConditionProxyGuard<'_> {
    fn wait_inner(&self, wait: Wait) -> Result<bool, ManagerError> {
        let op = Op::CondWait {
            owner: self.guard.owner,
            wait,
        };
        match self.guard.obj.call_wait(op, wait)? {
            Reply::Bool(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    /// Releases the lock, waits to be notified, and takes the lock back.
    pub fn wait(&self) -> Result<(), ManagerError> {
        self.wait_inner(Wait::Forever).map(drop)
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`; whether it was notified. The lock
    /// is held again either way.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, ManagerError> {
        self.wait_inner(Wait::For(timeout))
    }

    /// Like [`wait`](Self::wait), giving up at `deadline`; whether it was notified.
    pub fn wait_deadline(&self, deadline: Instant) -> Result<bool, ManagerError> {
        self.wait_inner(wait_until(deadline))
    }

    /// Waits until `predicate()` holds, checking it first and after each notification
    /// (Python's `wait_for`).
    pub fn wait_for(&self, mut predicate: impl FnMut() -> bool) -> Result<(), ManagerError> {
        while !predicate() {
            self.wait()?;
        }
        Ok(())
    }

    /// Like [`wait_for`](Self::wait_for), giving up at `deadline`; the predicate's last value.
    pub fn wait_for_deadline(
        &self,
        deadline: Instant,
        mut predicate: impl FnMut() -> bool,
    ) -> Result<bool, ManagerError> {
        loop {
            if predicate() {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            self.wait_deadline(deadline)?;
        }
    }

    /// Wakes up to `n` waiters.
    pub fn notify(&self, n: u32) -> Result<(), ManagerError> {
        match self.guard.obj.call(Op::Notify(n))? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) -> Result<(), ManagerError> {
        match self.guard.obj.call(Op::NotifyAll)? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Releases the lock now, reporting whether the manager did.
    pub fn release(self) -> Result<(), ManagerError> {
        self.guard.release()
    }
}

impl<'a> Deref for ConditionProxyGuard<'a> {
    type Target = ProxyGuard<'a>;

    fn deref(&self) -> &ProxyGuard<'a> {
        &self.guard
    }
}

impl fmt::Debug for ConditionProxyGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionProxyGuard")
            .field("object", &self.guard.obj.id())
            .finish()
    }
}
